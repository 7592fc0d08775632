"""Reading answers: yes/no in every spelling, on buttons and in text; options by number, row id and words."""

import pytest

from conversations.bot import answers, menu
from conversations.bot.answers import Option
from conversations.bot.texts import Wording
from conversations.models import Message
from conversations.whatsapp import cloud_webhook, evolution_webhook
from tests.conftest import load_fixture

YES = ["sim", "Sim", "SIM", "s", "S", "1", " sim ", "Sim!", "sim.", "*Sim*", "Sim, sou eu", "ss", "SÍM", "1)"]
NO = ["não", "Não", "NÃO", "nao", "NAO", "n", "N", "2", "Não!", " não. ", "nao sou eu", "NÂO", "2 - Não"]
NEITHER = ["", "   ", "talvez", "oi", "sim e não", "3", "simples", "nãoo", "12", "não, sim", "👍"]


@pytest.mark.parametrize("said", YES)
def test_every_spelling_of_yes(said):
    assert answers.yes_no(said) is True


@pytest.mark.parametrize("said", NO)
def test_every_spelling_of_no(said):
    assert answers.yes_no(said) is False


@pytest.mark.parametrize("said", NEITHER)
def test_what_is_neither_yes_nor_no(said):
    assert answers.yes_no(said) is None


def _inbound(event) -> Message:
    """The row the inbound pipeline makes of a parsed message (not saved)."""
    return Message(type=event.type, text=event.text, data=event.data)


def _cloud_button(reply_id: str, title: str) -> Message:
    payload = load_fixture("meta/message_interactive_button_reply.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["button_reply"] = {
        "id": reply_id,
        "title": title,
    }
    [event] = cloud_webhook.parse(payload)
    return _inbound(event)


def test_a_cloud_reply_button_is_read_by_its_id_whatever_its_title():
    assert answers.yes_no(_cloud_button("yes", "Sim")) is True
    assert answers.yes_no(_cloud_button("no", "Não")) is False
    # A company that renamed its buttons ("Sou eu", "Outra pessoa"): the id still says which.
    assert answers.yes_no(_cloud_button("yes", "Sou eu")) is True
    assert answers.yes_no(_cloud_button("no", "Outra pessoa")) is False


def test_a_button_of_something_else_is_read_by_its_title():
    assert answers.yes_no(_cloud_button("cancel-button", "Cancel")) is None
    assert answers.yes_no(_cloud_button("confirm", "Sim")) is True


def test_a_templates_quick_reply_is_read_by_its_payload():
    [event] = cloud_webhook.parse(load_fixture("meta/message_button.json"))
    message = _inbound(event)
    message.data = dict(message.data, payload="no")
    assert answers.yes_no(message) is False


def test_evolution_typed_text_and_its_button_reply():
    [event] = evolution_webhook.parse(load_fixture("evolution/messages_upsert_text.json"))
    typed = _inbound(event)
    typed.text = "NÃO"
    assert answers.yes_no(typed) is False
    [event] = evolution_webhook.parse(load_fixture("evolution/messages_upsert_buttons_response.json"))
    button = _inbound(event)
    button.data = dict(button.data, id="yes")
    assert answers.yes_no(button) is True


# ---------------------------------------------------------------------- choices


@pytest.fixture
def options(db, company):
    return menu.options(Wording(company))


@pytest.mark.parametrize(
    ("said", "chosen"),
    [
        ("1", menu.BILL),
        (" 2 ", menu.UNLOCK),
        ("3.", menu.PERSON),
        ("opção 4", menu.END),
        ("Quero a segunda via", menu.BILL),
        ("me manda o PIX", menu.BILL),
        ("2ª via do boleto", menu.BILL),  # NFKD makes "ª" an "a": "2a via"
        ("DESBLOQUEIO DE CONFIANÇA", menu.UNLOCK),
        ("quero falar com um atendente", menu.PERSON),
        ("Segunda via / PIX", menu.BILL),
        ("encerrar", menu.END),
        ("5", None),
        ("0", None),
        ("bom dia", None),
        ("boleto ou desbloqueio", None),  # two options asked at once: neither is guessed
        ("", None),
    ],
)
def test_menu_choice_by_number_title_or_words(options, said, chosen):
    assert answers.choice(said, options) == chosen


def test_menu_choice_by_a_list_rows_id(options):
    payload = load_fixture("meta/message_interactive_list_reply.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["list_reply"] = {
        "id": "menu:unlock",
        "title": "Desbloqueio de confiança",
    }
    [event] = cloud_webhook.parse(payload)
    assert answers.choice(_inbound(event), options) == menu.UNLOCK


def test_a_row_id_that_is_not_offered_falls_back_to_the_words(options):
    message = Message(type="interactive", text="Falar com atendente", data={"id": "menu:gone"})
    assert answers.choice(message, options) == menu.PERSON


def test_choice_among_few_options_by_their_own_words():
    contracts = [Option(id="contract:5002", words=("5002",)), Option(id="contract:5009", words=("5009",))]
    assert answers.choice("5009", contracts) == "contract:5009"
    assert answers.choice("o contrato 5002", contracts) == "contract:5002"
    assert answers.choice("2", contracts) == "contract:5009"
    assert answers.choice("3", contracts) is None


def test_normalized_text():
    assert answers.normalized("  NÃO!!  ") == "nao"
    assert answers.normalized("Desbloqueio   de\nconfiança?") == "desbloqueio de confianca"
