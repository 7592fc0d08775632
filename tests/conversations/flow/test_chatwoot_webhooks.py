"""What agents do in Chatwoot reaches the customer: the fake Chatwoot posts its webhooks (signed, when the
company has a signing secret) to the live server, and the engine sends what they queued to the provider's fake."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from conversations.bot import texts
from conversations.models import ChatwootDelivery, Contact, Message, Session, WebhookEvent
from templates_meta.models import Template, TemplatePurpose
from tests.conftest import load_fixture
from tests.conversations.bot.conftest import JOAO, MARIA
from tests.conversations.flow.test_bot_to_agent import to_a_person

pytestmark = pytest.mark.django_db(transaction=True)

T = texts.DEFAULTS


def _outside_the_window(world, phone=MARIA) -> None:
    Contact.objects.filter(company=world.company, phone=phone).update(
        last_inbound_at=timezone.now() - dt.timedelta(hours=25)
    )


def _template(world, name="aviso_retorno", body="Olá {{1}}, retomamos seu atendimento {{2}}.", **fields) -> Template:
    defaults = {
        "company": world.company,
        "waba_id": world.channel.waba_id,
        "name": name,
        "language": "pt_BR",
        "status": Template.Status.APPROVED,
        "components": [{"type": "BODY", "text": body, "example": {"body_text": [["Maria", "123"]]}}],
    }
    return Template.objects.create(**{**defaults, **fields})


def _notes(world, conversation_id) -> list[str]:
    return [m["content"] for m in world.chatwoot.messages(conversation_id) if m["private"]]


def _handed_off(world, phone=MARIA):
    session = to_a_person(world, world.customer(phone))
    world.sent()
    return session, session.chatwoot_conversation_id


# ---------------------------------------------------------------------- the 24 h window


def test_outside_the_window_an_agents_reply_is_not_sent(make_world):
    world = make_world("cloud")
    _session, conversation_id = _handed_off(world)
    _outside_the_window(world)
    world.chatwoot.agent_message(conversation_id, "Bom dia, Maria!")
    assert world.sent() == []
    assert not Message.objects.filter(author="agent").exists()


def test_outside_the_window_the_agent_is_told_why_in_a_private_note(make_world):
    world = make_world("cloud")
    _session, conversation_id = _handed_off(world)
    _outside_the_window(world)
    world.chatwoot.agent_message(conversation_id, "Bom dia, Maria!")
    world.settle()
    assert _notes(world, conversation_id)[-1] == T["agent_window_closed"]
    assert "/template" in T["agent_window_closed"]


def test_template_alone_lists_the_approved_templates(make_world):
    world = make_world("cloud")
    _template(world)
    _template(world, name="rascunho", status=Template.Status.DRAFT)
    _session, conversation_id = _handed_off(world)
    _outside_the_window(world)
    world.chatwoot.agent_message(conversation_id, "/template")
    world.settle()
    assert _notes(world, conversation_id)[-1] == texts.text(
        world.company, "agent_template_list", templates="aviso_retorno (pt_BR, 2 valores)"
    )
    assert world.sent() == []


def test_template_with_values_sends_it_outside_the_window(make_world):
    world = make_world("cloud")
    _template(world)
    session, conversation_id = _handed_off(world)
    _outside_the_window(world)
    world.chatwoot.agent_message(conversation_id, "/template aviso_retorno Maria | 202612040001")
    [sent] = world.sent()
    assert sent.kind == "template"
    template = sent.body["template"]
    assert (template["name"], template["language"]["code"]) == ("aviso_retorno", "pt_BR")
    [body] = template["components"]
    assert [p["text"] for p in body["parameters"]] == ["Maria", "202612040001"]
    message = Message.objects.get(author="agent")
    assert (message.session_id, message.status) == (session.pk, "sent")


def test_an_agents_reply_whatsapp_refuses_becomes_a_private_note(make_world):
    world = make_world("cloud")
    _session, conversation_id = _handed_off(world)
    world.provider.fail_recipient(MARIA, load_fixture("meta_api/error_131026_undeliverable.json"))
    world.chatwoot.agent_message(conversation_id, "Sua visita foi marcada")
    world.sent()
    assert Message.objects.get(author="agent").status == "failed"
    world.settle()
    assert "Sua visita foi marcada" in _notes(world, conversation_id)[-1]


# ---------------------------------------------------------------------- resolve


def test_resolve_closes_the_session_with_the_closing_message(make_world):
    world = make_world("evolution")
    session, conversation_id = _handed_off(world)
    world.chatwoot.resolve(conversation_id)
    assert world.texts() == [T["closed_by_agent"].format(protocol=session.protocol)]
    session.refresh_from_db()
    assert session.closed_at is not None and session.close_reason == "resolved"
    # Resolved in Chatwoot already: nothing is queued to resolve it again.
    assert not ChatwootDelivery.objects.filter(kind="resolve").exists()
    # The customer writing again starts a new session with the bot.
    world.customer(MARIA).text("oi de novo")
    assert world.texts()[0].startswith("Olá! 👋")
    assert Session.objects.filter(closed_at__isnull=True).get().pk != session.pk


def test_resolving_a_conversation_that_is_not_the_linked_one_changes_nothing(make_world):
    world = make_world("cloud")
    session, conversation_id = _handed_off(world)
    hook_url, world.chatwoot.webhook_url = world.chatwoot.webhook_url, ""  # opened while its webhooks were off
    other = world.chatwoot.agent_opens_conversation(world.contact().chatwoot_contact_id)
    world.chatwoot.webhook_url = hook_url
    world.chatwoot.resolve(other)
    world.settle()
    assert world.sent() == []
    session.refresh_from_db()
    assert session.closed_at is None and session.chatwoot_conversation_id == conversation_id
    assert WebhookEvent.objects.filter(body__contains='"conversation_status_changed"').count() == 1


# ---------------------------------------------------------------------- assignments


def test_the_customer_is_told_of_a_new_agent_and_a_new_team(make_world):
    world = make_world("cloud")
    session, conversation_id = _handed_off(world)
    world.chatwoot.assign(conversation_id, assignee=4)
    assert world.texts() == [T["assigned_agent"].format(agent="Bruno")]
    world.chatwoot.assign(conversation_id, team=2)
    assert world.texts() == [T["assigned_team"].format(team="financeiro")]
    world.chatwoot.assign(conversation_id, assignee=3, team=1)
    assert world.texts() == [T["assigned_team"].format(team="suporte") + "\n" + T["assigned_agent"].format(agent="Ana")]
    assert list(Message.objects.filter(direction="out", author="system").values_list("session_id", flat=True)) == [
        session.pk,
        session.pk,
        session.pk,
    ]


def test_nothing_is_told_of_assignments_when_the_company_says_so(make_world):
    world = make_world("cloud")
    world.company.chatwoot_tell_assignment = False
    world.company.save()
    _session, conversation_id = _handed_off(world)
    world.chatwoot.assign(conversation_id, assignee=4, team=2)
    world.chatwoot.assign(conversation_id, assignee=3)
    assert world.sent() == []


# ---------------------------------------------------------------------- a conversation an agent opens


@pytest.mark.parametrize("kind", ["cloud", "evolution"])
def test_a_conversation_an_agent_opens_is_linked_to_the_contacts_session_and_the_agent_speaks_first(make_world, kind):
    world = make_world(kind)
    joao = world.customer(JOAO)
    joao.text("oi")
    world.sent()
    in_the_bot = world.session(JOAO)
    assert in_the_bot.handoff == "bot" and in_the_bot.chatwoot_conversation_id is None
    known = world.chatwoot.add_contact(name="João Pereira", phone_number=f"+{JOAO}")
    conversation_id = world.chatwoot.agent_opens_conversation(known["id"], message="Oi João, aqui é a Ana")
    assert world.texts() == ["Oi João, aqui é a Ana"]
    session = world.session(JOAO)
    assert session.pk == in_the_bot.pk
    assert (session.chatwoot_conversation_id, session.handoff) == (conversation_id, "agent")
    assert world.contact(JOAO).chatwoot_contact_id == known["id"]
    assert len(world.chatwoot.contacts) == 1
    # His answer goes to the agent's conversation, not to the bot.
    joao.text("oi Ana")
    world.settle()
    assert world.chatwoot.messages(conversation_id)[-1]["content"] == "oi Ana"
    assert world.sent() == []


def test_an_agent_opening_a_conversation_outside_the_window_sends_the_reopen_template_first(make_world):
    world = make_world("cloud")
    template = _template(world, name="retomar_conversa")
    TemplatePurpose.objects.create(
        company=world.company,
        purpose=TemplatePurpose.Purpose.REOPEN_CONVERSATION,
        template=template,
        parameters=["{customer_name}", "{protocol}"],
    )
    session, _ = _handed_off(world)
    world.chatwoot.resolve(session.chatwoot_conversation_id)
    world.sent()
    _outside_the_window(world)
    conversation_id = world.chatwoot.agent_opens_conversation(
        world.contact().chatwoot_contact_id, message="Maria, sua visita técnica foi marcada"
    )
    [sent] = world.sent()
    new = world.session()
    assert new.pk != session.pk and (new.chatwoot_conversation_id, new.handoff) == (conversation_id, "agent")
    assert (sent.kind, sent.body["template"]["name"]) == ("template", "retomar_conversa")
    parameters = [p["text"] for p in sent.body["template"]["components"][0]["parameters"]]
    assert parameters == ["Cliente", new.protocol]
    # Meta takes free-form words again only once the customer answers the template: then the agent's do go.
    assert not Message.objects.filter(author="agent").exists()
    maria = world.customer(MARIA)
    maria.text("oi, pode falar")
    world.settle()
    assert world.chatwoot.messages(conversation_id)[-1]["content"] == "oi, pode falar"
    world.chatwoot.agent_message(conversation_id, "Maria, sua visita técnica foi marcada")
    assert world.texts() == ["Maria, sua visita técnica foi marcada"]


def test_a_resolved_conversation_an_agent_reopens_is_linked_to_a_new_session(make_world):
    world = make_world("evolution")
    session, conversation_id = _handed_off(world)
    world.chatwoot.resolve(conversation_id)
    world.sent()
    world.chatwoot.reopen(conversation_id)
    world.settle()
    reopened = world.session()
    assert reopened.pk != session.pk
    assert (reopened.chatwoot_conversation_id, reopened.handoff) == (conversation_id, "agent")
    world.chatwoot.agent_message(conversation_id, "Maria, voltei para confirmar")
    assert world.texts() == ["Maria, voltei para confirmar"]
    assert Message.objects.get(author="agent").session_id == reopened.pk


def test_an_agent_opening_a_conversation_outside_the_window_without_a_reopen_template_is_told(make_world):
    world = make_world("cloud")
    session, _ = _handed_off(world)
    world.chatwoot.resolve(session.chatwoot_conversation_id)
    world.sent()
    _outside_the_window(world)
    conversation_id = world.chatwoot.agent_opens_conversation(world.contact().chatwoot_contact_id)
    world.settle()
    assert world.sent() == []
    assert _notes(world, conversation_id) == [T["agent_no_reopen_template"]]
    assert world.session().chatwoot_conversation_id == conversation_id


# ---------------------------------------------------------------------- webhooks delivered twice


def test_a_reply_delivered_twice_is_sent_once(make_world):
    world = make_world("cloud")
    _session, conversation_id = _handed_off(world)
    world.chatwoot.agent_message(conversation_id, "Já verifiquei, Maria")
    world.chatwoot.redeliver()
    assert world.texts() == ["Já verifiquei, Maria"]
    assert Message.objects.filter(author="agent").count() == 1
    # Both deliveries were taken and handled: the second changed nothing.
    assert WebhookEvent.objects.filter(body__contains="Já verifiquei", state="processed").count() == 2


def test_a_resolve_delivered_twice_says_goodbye_once(make_world):
    world = make_world("cloud")
    session, conversation_id = _handed_off(world)
    world.chatwoot.resolve(conversation_id)
    resolved = next(w for w in world.chatwoot.webhooks if w.event == "conversation_status_changed")
    world.chatwoot.redeliver(resolved)
    world.chatwoot.redeliver(resolved)
    assert world.texts() == [T["closed_by_agent"].format(protocol=session.protocol)]
    assert WebhookEvent.objects.filter(body__contains='"conversation_status_changed"').count() == 3
    assert Session.objects.get(pk=session.pk).close_reason == "resolved"


def test_an_assignment_delivered_twice_is_told_once(make_world):
    world = make_world("cloud")
    _session, conversation_id = _handed_off(world)
    world.chatwoot.assign(conversation_id, assignee=4)
    world.chatwoot.redeliver()
    assert world.texts() == [T["assigned_agent"].format(agent="Bruno")]


def test_a_refused_reply_delivered_twice_is_noted_once(make_world):
    world = make_world("cloud")
    _session, conversation_id = _handed_off(world)
    _outside_the_window(world)
    world.chatwoot.agent_message(conversation_id, "Bom dia, Maria!")
    world.chatwoot.redeliver()
    world.settle()
    assert _notes(world, conversation_id).count(T["agent_window_closed"]) == 1
    assert world.sent() == []


# ---------------------------------------------------------------------- signatures


def test_signed_webhooks_are_accepted(make_world):
    world = make_world("cloud", signing_secret="whsec-flow-1")
    _session, conversation_id = _handed_off(world)
    world.chatwoot.agent_message(conversation_id, "Assinado e entregue")
    assert world.texts() == ["Assinado e entregue"]
    assert all("X-Chatwoot-Signature" in w.headers for w in world.chatwoot.webhooks)
    assert {d.status for d in world.chatwoot._poster.deliveries} == {200}


@pytest.mark.parametrize("fake_secret", ["another-secret", ""], ids=["wrong", "missing"])
def test_a_wrong_or_missing_signature_is_401_and_nothing_is_stored(make_world, client, fake_secret):
    world = make_world("cloud", signing_secret="whsec-flow-1")
    _session, conversation_id = _handed_off(world)
    stored = WebhookEvent.objects.count()
    world.chatwoot.signing_secret = fake_secret
    world.chatwoot.agent_message(conversation_id, "Isto não deve chegar")
    world.settle()
    assert world.chatwoot._poster.deliveries[-1].status == 401
    assert WebhookEvent.objects.count() == stored
    assert world.sent() == []
    assert not Message.objects.filter(author="agent").exists()
    # The same bytes and headers again, to read the answer: a JSON error that says why.
    hook = world.chatwoot.webhooks[-1]
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in hook.headers.items()}
    path = world.hook_url.split("://", 1)[1].split("/", 1)[1]
    response = client.post(f"/{path}", data=hook.body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert "whsec" not in json.dumps(response.json())
    assert WebhookEvent.objects.count() == stored
