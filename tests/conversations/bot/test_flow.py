"""The bot against the fake IXC, on a Cloud channel and on an Evolution one: ``flow.answer`` as the
conversation consumer calls it, with messages recorded by the inbound pipeline."""

import datetime as dt
import zoneinfo

import pytest
import time_machine

from companies.erp.formats import is_valid_pix_code
from conversations.bot import flow, texts
from conversations.bot.flow import Outcome
from conversations.models import BotText, CustomerLink, Message, Session
from fakes.erp.data import FakeContract, FakeCustomer
from tests.conversations.bot.conftest import JOAO, MARIA, OFICINA, STRANGER, bot_messages

T = texts.DEFAULTS
MENU_TITLES = [T["menu_bill"], T["menu_unlock"], T["menu_person"], T["menu_end"]]
MENU_IDS = ["menu:bill", "menu:unlock", "menu:person", "menu:end"]
NOBODYS_CPF = "123.456.789-09"  # valid check digits, no customer in the demo ERP


def _yes_no(cloud: bool, body: str) -> dict:
    if cloud:
        return {
            "kind": "buttons",
            "body": body,
            "buttons": [{"id": "yes", "title": "Sim"}, {"id": "no", "title": "Não"}],
            "footer": "",
        }
    return {"kind": "text", "text": f"{body}\n\n1 - Sim\n2 - Não", "reply_to": ""}


def _menu(cloud: bool, body: str) -> dict:
    if cloud:
        rows = [{"id": i, "title": t, "description": ""} for i, t in zip(MENU_IDS, MENU_TITLES, strict=True)]
        return {
            "kind": "list",
            "body": body,
            "button": "Ver opções",
            "sections": [{"title": "Ver opções", "rows": rows}],
            "footer": "",
        }
    numbered = "\n".join(f"{n} - {t}" for n, t in enumerate(MENU_TITLES, start=1))
    return {"kind": "text", "text": f"{body}\n\n{numbered}", "reply_to": ""}


def _text(body: str) -> dict:
    return {"kind": "text", "text": body, "reply_to": ""}


def _contents(messages: list[Message]) -> list[dict]:
    return [m.data["content"] for m in messages]


def _greeting(company) -> dict:
    return _text(f"Olá! 👋 Sou o assistente virtual da {company.name}.")


def _to_menu(customer, replies, name: str = "Maria da Silva") -> None:
    """From "oi" to the menu, the account confirmed."""
    customer.says("oi")
    assert _contents(replies.new())[-1] == _yes_no(customer.cloud, f"Você está falando da conta de {name}?")
    assert customer.answer(customer.choose("yes", "Sim", 1)) == Outcome()
    assert _contents(replies.new()) == [_menu(customer.cloud, T["menu"])]


def _choose(customer, option: str) -> Outcome:
    position = MENU_IDS.index(option)
    return customer.answer(customer.choose(option, MENU_TITLES[position], position + 1))


# ---------------------------------------------------------------------- the second copy


@pytest.mark.django_db
def test_a_known_customer_from_oi_to_the_pix_code(customer_on, erp_company, company_client):
    maria, replies = customer_on(MARIA)
    assert maria.says("oi", "tudo bem?") == Outcome()
    assert _contents(replies.new()) == [
        _greeting(erp_company),
        _yes_no(maria.cloud, "Você está falando da conta de Maria da Silva?"),
    ]
    assert maria.session.state == "confirm_account"
    assert "52998224725" not in str(maria.session.data)  # the candidate is kept without her CPF

    assert maria.answer(maria.choose("yes", "Sim", 1)) == Outcome()
    assert _contents(replies.new()) == [_menu(maria.cloud, "Como posso ajudar?")]
    link = maria.session.customer
    assert (link.customer_code, link.name, link.document) == ("1001", "Maria da Silva", "52998224725")
    assert link.confirmed

    assert _choose(maria, "menu:bill") == Outcome()
    sent = replies.new()
    assert _contents(sent[:1]) == [_text(T["bill_intro"])]
    assert _contents(sent[-1:]) == [_menu(maria.cloud, "Posso ajudar em algo mais?")]
    bill = sent[1:-1]
    assert all(
        (m.author, m.purpose, m.session_id, m.reference, m.status)
        == ("bot", "reply", maria.session.pk, f"session:{maria.session.pk}", "queued")
        for m in sent
    )
    assert all(m.channel == maria.channel for m in sent)  # the channel she wrote to
    pix = bill[3].data["content"]["text"]
    assert is_valid_pix_code(pix)

    # Exactly what the billing notice sends the same customer.
    response = company_client.post("/api/v1/notifications/billing", {"customer": 1001}, format="json")
    assert response.status_code == 202, response.json()
    [recipient] = response.json()["recipients"]
    notice = [Message.objects.get(pk=m["id"]) for m in recipient["messages"]]
    assert _contents(bill) == _contents(notice)
    assert [c["kind"] for c in _contents(bill)] == ["text", "text", "text", "text", "media"]
    assert _contents(bill)[0] == _text("Olá Maria da Silva, segue a sua fatura em aberto.")

    assert _choose(maria, "menu:end") == Outcome(closed=True)
    assert _contents(replies.new()) == [_text(T["goodbye"])]
    session = Session.objects.get(pk=maria.last_session.pk)
    assert session.closed_at is not None and session.close_reason == "finished" and session.state == "finished"


@pytest.mark.django_db
def test_the_transcript_has_every_line_of_both_sides_in_order(customer_on):
    maria, _ = customer_on(MARIA)
    maria.says("oi", "tudo bem?")
    maria.answer(maria.choose("yes", "Sim", 1))
    lines = [(line["author"], line["text"]) for line in maria.session.transcript]
    said_yes = "Sim" if maria.cloud else "1"
    confirm = "Você está falando da conta de Maria da Silva?"
    greeting = _greeting(maria.session.company)["text"]
    assert lines[:3] == [("customer", "oi"), ("customer", "tudo bem?"), ("bot", greeting)]
    assert lines[3][0] == "bot" and lines[3][1].startswith(confirm) and "Sim" in lines[3][1] and "Não" in lines[3][1]
    assert lines[4] == ("customer", said_yes)
    assert lines[5][0] == "bot" and all(title in lines[5][1] for title in MENU_TITLES)
    assert len(lines) == 6


@pytest.mark.django_db
def test_a_customer_without_open_invoices_is_told_so(customer_on, erp):
    erp.data.pay("90001")
    maria, replies = customer_on(MARIA)
    _to_menu(maria, replies)
    _choose(maria, "menu:bill")
    assert _contents(replies.new()) == [_text(T["no_open_invoice"]), _menu(maria.cloud, T["menu_again"])]


# ---------------------------------------------------------------------- who is it


@pytest.mark.django_db
def test_no_then_a_wrong_cpf_then_a_right_one(customer_on):
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    replies.new()
    maria.answer(maria.choose("no", "Não", 2))
    assert _contents(replies.new()) == [_text(T["ask_document"])]
    maria.says("529.982.247-24")
    assert _contents(replies.new()) == [_text(T["invalid_document"]), _text(T["ask_document"])]
    assert maria.says("quero a segunda via") == Outcome()  # words, no document: asked again
    assert _contents(replies.new()) == [_text(T["invalid_document"]), _text(T["ask_document"])]
    maria.says("111.444.777-35")
    assert _contents(replies.new()) == [
        _text("Encontrei o cadastro de João Pereira."),
        _menu(maria.cloud, T["menu"]),
    ]
    link = maria.session.customer
    assert (link.customer_code, link.name, link.document) == ("1002", "João Pereira", "11144477735")
    assert link.confirmed
    # Maria's account was never confirmed on this phone: no link was made for it.
    assert list(CustomerLink.objects.values_list("customer_code", flat=True)) == ["1002"]


@pytest.mark.django_db
def test_two_customers_on_one_phone_are_asked_about_in_turn(customer_on, erp):
    erp.data.customers.append(FakeCustomer("1009", "Paulo da Silva", "39053344705", whatsapp="(44) 99999-0001"))
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    assert _contents(replies.new())[-1] == _yes_no(maria.cloud, "Você está falando da conta de Maria da Silva?")
    maria.answer(maria.choose("no", "Não", 2))
    assert _contents(replies.new()) == [_yes_no(maria.cloud, "Você está falando da conta de Paulo da Silva?")]
    maria.answer(maria.choose("yes", "Sim", 1))
    assert _contents(replies.new()) == [_menu(maria.cloud, T["menu"])]
    link = maria.session.customer
    assert (link.customer_code, link.name, link.document, link.confirmed) == (
        "1009",
        "Paulo da Silva",
        "39053344705",
        True,
    )


@pytest.mark.django_db
def test_a_confirmed_link_is_asked_about_before_the_erp_and_without_it(customer_on, erp):
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    maria.answer(maria.choose("no", "Não", 2))
    maria.says("111.444.777-35")  # she talks for João
    maria.answer(maria.choose("menu:end", T["menu_end"], 4))
    replies.new()
    erp.fail = "down"  # the next session must not need the ERP to know who this is
    maria.says("oi de novo")
    assert _contents(replies.new()) == [
        _greeting(maria.session.company),
        _yes_no(maria.cloud, "Você está falando da conta de João Pereira?"),
    ]


@pytest.mark.django_db
def test_an_unknown_phone_is_asked_the_document_and_one_nobody_has_is_not_found(customer_on):
    stranger, replies = customer_on(STRANGER)
    stranger.says("boa tarde")
    assert _contents(replies.new()) == [_greeting(stranger.session.company), _text(T["ask_document"])]
    stranger.says(NOBODYS_CPF)
    assert _contents(replies.new()) == [_text(T["document_not_found"]), _text(T["ask_document"])]
    assert stranger.session.customer is None


@pytest.mark.django_db
def test_invalid_answers_are_asked_again_up_to_the_companys_limit_then_a_person(customer_on, erp_company):
    erp_company.max_invalid_answers = 3
    erp_company.save()
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    replies.new()
    question = _yes_no(maria.cloud, "Você está falando da conta de Maria da Silva?")
    for said in ("talvez", "hein?"):
        assert maria.says(said) == Outcome()
        assert _contents(replies.new()) == [_text(T["invalid_yes_no"]), question]
    assert maria.says("como assim") == Outcome(handoff=True, reason="too many invalid answers")
    protocol = maria.last_session.protocol
    assert _contents(replies.new()) == [
        _text(T["too_many_invalid"]),
        _text(f"Certo! Estou transferindo para um atendente. Seu protocolo é {protocol}."),
    ]
    assert Session.objects.get(pk=maria.last_session.pk).state == "handed_off"


@pytest.mark.django_db
def test_a_valid_answer_starts_the_count_again(customer_on, erp_company):
    erp_company.max_invalid_answers = 2
    erp_company.save()
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    maria.says("talvez")
    maria.answer(maria.choose("yes", "Sim", 1))
    assert maria.says("banana") == Outcome()  # one invalid menu answer: asked again, not handed off
    assert _contents(replies.new())[-2:] == [_text(T["invalid_option"]), _menu(maria.cloud, T["menu"])]


# ---------------------------------------------------------------------- trust unlock


@pytest.mark.django_db
def test_trust_unlock_granted(customer_on, erp):
    joao, replies = customer_on(JOAO)
    _to_menu(joao, replies, name="João Pereira")
    _choose(joao, "menu:unlock")
    until = erp.data.contract("5002").trust_unlocked_until
    assert _contents(replies.new()) == [
        _text(
            f"Pronto! O contrato 5002 foi desbloqueado em confiança até {until:%d/%m/%Y}. "
            "A conexão pode levar alguns minutos para voltar."
        ),
        _menu(joao.cloud, T["menu_again"]),
    ]
    assert erp.data.contract("5002").state == "active"


@pytest.mark.django_db
def test_trust_unlock_refused_says_the_erps_reason(customer_on, erp):
    erp.data.contract("5002").trust_unlocked_until = erp.data.today - dt.timedelta(days=1)  # used, still unpaid
    joao, replies = customer_on(JOAO)
    _to_menu(joao, replies, name="João Pereira")
    _choose(joao, "menu:unlock")
    [refused, menu] = _contents(replies.new())
    assert refused["text"].startswith("Não foi possível fazer o desbloqueio de confiança do contrato 5002: ")
    assert "O desbloqueio de confiança não está disponível para o contrato 5002" in refused["text"]  # IXC's words
    assert menu == _menu(joao.cloud, T["menu_again"])


@pytest.mark.django_db
def test_trust_unlock_not_allowed_for_the_contract_is_explained_without_asking_the_erp(customer_on, erp):
    oficina, replies = customer_on(OFICINA)
    _to_menu(oficina, replies, name="Oficina Nova Era")
    _choose(oficina, "menu:unlock")
    assert _contents(replies.new()) == [
        _text(texts.render(T["trust_unlock_not_allowed"], {"contract": "5007"})),
        _menu(oficina.cloud, T["menu_again"]),
    ]
    assert not any("desbloqueio_confianca" in r.path for r in erp.requests)


@pytest.mark.django_db
def test_trust_unlock_with_several_blocked_contracts_asks_which(customer_on, erp):
    erp.data.contracts.append(FakeContract("5009", "1002", "blocked", "Fibra 100 Mega"))
    joao, replies = customer_on(JOAO)
    _to_menu(joao, replies, name="João Pereira")
    _choose(joao, "menu:unlock")
    [question] = _contents(replies.new())
    if joao.cloud:
        assert question["kind"] == "list" and question["body"] == T["choose_contract"]
        rows = question["sections"][0]["rows"]
        assert [(r["id"], r["title"], r["description"]) for r in rows] == [
            ("contract:5002", "Contrato 5002", "Fibra 300 Mega"),
            ("contract:5009", "Contrato 5009", "Fibra 100 Mega"),
        ]
    else:
        assert question == _text(
            f"{T['choose_contract']}\n\n1 - Contrato 5002 (Fibra 300 Mega)\n2 - Contrato 5009 (Fibra 100 Mega)"
        )
    joao.answer(joao.tap("contract:5009", "Contrato 5009") if joao.cloud else joao.text("2"))
    [unlocked, _menu_again] = _contents(replies.new())
    assert unlocked["text"].startswith("Pronto! O contrato 5009 foi desbloqueado")
    assert erp.data.contract("5009").state == "active" and erp.data.contract("5002").state == "blocked"


@pytest.mark.django_db
def test_trust_unlock_of_a_contract_that_is_not_blocked(customer_on):
    maria, replies = customer_on(MARIA)
    _to_menu(maria, replies)
    _choose(maria, "menu:unlock")
    assert _contents(replies.new()) == [_text(T["trust_unlock_not_blocked"]), _menu(maria.cloud, T["menu_again"])]


# ---------------------------------------------------------------------- the ERP away


@pytest.mark.django_db
def test_erp_down_at_the_start_offers_a_person(customer_on, erp):
    erp.fail = "down"
    maria, replies = customer_on(MARIA)
    assert maria.says("oi") == Outcome()
    assert _contents(replies.new()) == [_greeting(maria.session.company), _yes_no(maria.cloud, T["erp_unavailable"])]
    assert maria.answer(maria.choose("yes", "Sim", 1)) == Outcome(handoff=True, reason="ERP unavailable")
    assert _contents(replies.new())[0]["text"].startswith("Certo! Estou transferindo para um atendente.")


@pytest.mark.django_db
def test_erp_down_in_the_menu_and_no_person_wanted_ends(customer_on, erp):
    maria, replies = customer_on(MARIA)
    _to_menu(maria, replies)
    erp.fail = "html"
    _choose(maria, "menu:bill")
    assert _contents(replies.new()) == [_yes_no(maria.cloud, T["erp_unavailable"])]
    assert maria.answer(maria.choose("no", "Não", 2)) == Outcome(closed=True)
    assert _contents(replies.new()) == [_text(T["goodbye"])]


@pytest.mark.django_db
def test_a_company_without_an_erp_goes_to_a_person(customer_on, erp_company):
    erp_company.erp_system = ""
    erp_company.save()
    stranger, replies = customer_on(STRANGER)
    assert stranger.says("oi") == Outcome(handoff=True, reason="no ERP set up")
    [greeting, handoff] = _contents(replies.new())
    assert greeting == _greeting(erp_company) and "protocolo" in handoff["text"]


# ---------------------------------------------------------------------- what the bot cannot read


@pytest.mark.django_db
def test_media_and_location_get_a_polite_reply_and_the_question_again(customer_on):
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    replies.new()
    question = _yes_no(maria.cloud, "Você está falando da conta de Maria da Silva?")
    assert maria.answer(maria.image()) == Outcome()
    assert _contents(replies.new()) == [_text(T["media_not_understood"]), question]
    assert maria.answer(maria.location()) == Outcome()
    assert _contents(replies.new()) == [_text(T["location_not_understood"]), question]
    # A caption is about its file: not read as the answer.
    assert maria.session.state == "confirm_account"


@pytest.mark.django_db
def test_a_quarantined_attachment_gets_its_polite_reply(customer_on):
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    replies.new()
    image = maria.image()
    Message.objects.filter(pk=image.pk).update(media_status="quarantined", media_rejection="type_not_allowed")
    image.refresh_from_db()
    maria.answer(image)
    assert _contents(replies.new()) == [
        _text(T["quarantined_attachment"]),
        _yes_no(maria.cloud, "Você está falando da conta de Maria da Silva?"),
    ]


@pytest.mark.django_db
def test_a_quarantined_file_beside_an_answer_is_told_and_the_answer_taken(customer_on):
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    replies.new()
    image = maria.image()
    Message.objects.filter(pk=image.pk).update(media_status="quarantined")
    image.refresh_from_db()
    maria.answer(image, maria.text("sim"))
    assert _contents(replies.new()) == [_text(T["quarantined_attachment"]), _menu(maria.cloud, T["menu"])]


# ---------------------------------------------------------------------- bursts


@pytest.mark.django_db
def test_a_burst_gets_one_answer_and_its_request_is_served_once_the_customer_is_known(customer_on):
    maria, replies = customer_on(MARIA)
    maria.says("oi", "tudo bem?", "quero a segunda via")
    assert _contents(replies.new()) == [
        _greeting(maria.session.company),
        _yes_no(maria.cloud, "Você está falando da conta de Maria da Silva?"),
    ]
    maria.answer(maria.choose("yes", "Sim", 1))
    sent = _contents(replies.new())
    assert sent[0] == _text(T["bill_intro"])  # no menu first: she had asked
    assert sent[1] == _text("Olá Maria da Silva, segue a sua fatura em aberto.")
    assert sent[-1] == _menu(maria.cloud, T["menu_again"])


@pytest.mark.django_db
def test_words_spread_over_a_burst_are_read_together(customer_on):
    maria, replies = customer_on(MARIA)
    _to_menu(maria, replies)
    maria.says("quero o", "desbloqueio")
    assert _contents(replies.new()) == [_text(T["trust_unlock_not_blocked"]), _menu(maria.cloud, T["menu_again"])]


@pytest.mark.django_db
def test_asking_for_a_person_at_once(customer_on):
    maria, replies = customer_on(MARIA)
    assert maria.says("oi", "quero falar com um atendente") == Outcome(handoff=True, reason="asked for a person")
    protocol = maria.last_session.protocol
    assert _contents(replies.new()) == [
        _greeting(maria.session.company),
        _text(f"Certo! Estou transferindo para um atendente. Seu protocolo é {protocol}."),
    ]


@pytest.mark.django_db
def test_talk_to_a_person_from_the_menu_and_nothing_more_from_the_bot(customer_on):
    maria, replies = customer_on(MARIA)
    _to_menu(maria, replies)
    assert _choose(maria, "menu:person") == Outcome(handoff=True, reason="asked for a person")
    assert len(replies.new()) == 1
    # The agent has it now: whatever the caller hands the bot later, it says nothing.
    assert maria.says("alô?") == Outcome(handoff=True, reason="asked for a person")
    assert replies.new() == []
    assert maria.session.transcript[-1]["text"] == "alô?"


# ---------------------------------------------------------------------- business hours


@pytest.mark.django_db
def test_outside_business_hours_the_customer_is_told_when_agents_are_back(customer_on, erp_company):
    erp_company.business_hours = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    erp_company.save()
    saturday_night = dt.datetime(2026, 11, 28, 20, 0, tzinfo=zoneinfo.ZoneInfo("America/Sao_Paulo"))
    with time_machine.travel(saturday_night, tick=True):
        maria, replies = customer_on(MARIA)
        maria.says("oi", "atendente")
        protocol = maria.last_session.protocol
        assert _contents(replies.new())[1:] == [
            _text(f"Certo! Estou transferindo para um atendente. Seu protocolo é {protocol}."),
            _text(
                "Nosso horário de atendimento já encerrou: nossos atendentes voltam segunda-feira, 30/11, às 08:00. "
                "Sua mensagem fica registrada e será respondida assim que possível."
            ),
        ]
    sunday = dt.datetime(2026, 11, 29, 10, 0, tzinfo=zoneinfo.ZoneInfo("America/Sao_Paulo"))
    with time_machine.travel(sunday, tick=True):
        joao, replies = customer_on(JOAO)
        joao.says("atendente")
        assert "nossos atendentes voltam amanhã às 08:00." in replies.new()[-1].text


@pytest.mark.django_db
def test_within_business_hours_nothing_is_said_about_them(customer_on, erp_company):
    erp_company.business_hours = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    erp_company.save()
    monday = dt.datetime(2026, 11, 30, 10, 0, tzinfo=zoneinfo.ZoneInfo("America/Sao_Paulo"))
    with time_machine.travel(monday, tick=True):
        maria, replies = customer_on(MARIA)
        maria.says("atendente")
        assert [m.text for m in replies.new()][-1].startswith("Certo! Estou transferindo")


# ---------------------------------------------------------------------- the company's own words


@pytest.mark.django_db
def test_the_companys_own_texts_are_used(customer_on, erp_company):
    BotText.objects.create(company=erp_company, key="greeting", text="Bem-vindo à {company}!")
    BotText.objects.create(company=erp_company, key="confirm_account", text="É {name} quem fala?")
    BotText.objects.create(company=erp_company, key="yes", text="Sou eu")
    maria, replies = customer_on(MARIA)
    maria.says("oi")
    greeting, question = _contents(replies.new())
    assert greeting == _text(f"Bem-vindo à {erp_company.name}!")
    if maria.cloud:
        assert question["body"] == "É Maria da Silva quem fala?"
        assert question["buttons"][0] == {"id": "yes", "title": "Sou eu"}
    else:
        assert question == _text("É Maria da Silva quem fala?\n\n1 - Sou eu\n2 - Não")


@pytest.mark.django_db
def test_a_company_with_its_bot_off_hands_every_session_to_a_person_silently(customer_on, erp_company):
    erp_company.bot_enabled = False
    erp_company.save()
    maria, replies = customer_on(MARIA)
    assert maria.says("oi") == Outcome(handoff=True, reason="bot disabled")
    assert replies.new() == []
    assert maria.session.transcript[0]["text"] == "oi"


# ---------------------------------------------------------------------- answering twice


@pytest.mark.django_db
def test_the_same_burst_answered_again_sends_nothing_twice(customer_on):
    maria, replies = customer_on(MARIA)
    _to_menu(maria, replies)
    burst = [maria.text("segunda via")]
    session = maria.session
    assert flow.answer(session, burst) == Outcome()
    sent = bot_messages(session)
    transcript = Session.objects.get(pk=session.pk).transcript
    # Handed the same burst again (a redelivered event): nothing is said or kept twice.
    assert flow.answer(Session.objects.get(pk=session.pk), burst) == Outcome()
    assert bot_messages(session) == sent
    assert Session.objects.get(pk=session.pk).transcript == transcript


@pytest.mark.django_db
def test_a_burst_answered_again_from_its_old_state_queues_the_same_messages_once(customer_on):
    # A worker that queued the replies but whose state was lost would answer the burst again from the
    # state before: the replies' keys are the same, so nothing goes twice.
    maria, replies = customer_on(MARIA)
    _to_menu(maria, replies)
    before = Session.objects.get(pk=maria.session.pk)
    burst = [maria.text("segunda via")]
    flow.answer(Session.objects.get(pk=before.pk), burst)
    sent = bot_messages(before)
    Session.objects.filter(pk=before.pk).update(state=before.state, data=before.data)
    flow.answer(Session.objects.get(pk=before.pk), burst)
    assert bot_messages(before) == sent
    keys = [m.idempotency_key for m in sent]
    assert len(set(keys)) == len(keys) and all(k.startswith(f"bot:{before.pk}:{burst[-1].pk}:") for k in keys[-7:])
