"""Chatwoot away, and what agents must hear: a handoff waits out a Chatwoot that is down and arrives whole and in
order; a session closed here resolves its conversation; an agent's message WhatsApp did not deliver is noted."""

import copy

import pytest

from companies import events
from conversations import tasks
from conversations.bot import texts
from conversations.chatwoot import bridge, delivery, webhook
from conversations.models import ChatwootDelivery, Message, Session
from conversations.services import inbound, sessions
from conversations.whatsapp import cloud_webhook
from tests.conftest import load_fixture
from tests.conversations.bot.conftest import JOAO, MARIA, Customer
from tests.conversations.flow.steps import bot_said, on_chatwoot, to_person, turn

pytestmark = pytest.mark.django_db


def _in_chatwoot(chatwoot, session: Session) -> list[tuple[str, str, bool]]:
    """The conversation as an agent reads it: (content, message_type, private), oldest first."""
    session.refresh_from_db()
    return [
        (m["content"], m["message_type"], m["private"]) for m in chatwoot.messages(session.chatwoot_conversation_id)
    ]


def _handoff_as_owed(session: Session) -> list[tuple[str, str, bool]]:
    """What the handoff owes Chatwoot: the bot's transcript (the customer's lines incoming, the bot's outgoing),
    then the agent's private note."""
    session.refresh_from_db()
    lines = [
        (line["text"], "incoming" if line["author"] == Message.Author.CUSTOMER else "outgoing", False)
        for line in session.transcript
    ]
    return [*lines, (bridge.handoff_note(session, reason=session.data["handoff_reason"]), "outgoing", True)]


def _delayed(session: Session) -> str:
    return texts.text(session.company, "handoff_delayed", protocol=session.protocol)


@pytest.mark.parametrize("refuse", [False, True], ids=["503", "refused"])
def test_chatwoot_down_at_handoff_the_customer_hears_once_and_everything_arrives_in_order_later(
    erp_company, evolution, chatwoot, clock, refuse
):
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    chatwoot.down(True, refuse=refuse)
    to_person(clock, maria)
    session = maria.session
    assert session.handoff == Session.Handoff.AGENT

    first = delivery.deliver(session.pk)
    assert first == delivery.Run(0, delivery.backoff(1).total_seconds())
    assert bot_said(session.contact_id).count(_delayed(session)) == 1

    clock.later(first.wait + 1)  # its retry comes, Chatwoot still away
    assert delivery.deliver(session.pk).delivered == 0
    # The customer writes meanwhile: taken at once (an agent holds the session) and queued behind the handoff.
    assert turn(clock, maria.text("alô?")).to == "agent"
    assert turn(clock, maria.text("tem alguém aí?")).to == "agent"
    clock.later(60)
    assert tasks.sweep_conversations() == {"contacts": 0, "sessions": 1}
    assert chatwoot.conversations == []
    assert bot_said(session.contact_id).count(_delayed(session)) == 1  # told once, however often it failed
    assert set(ChatwootDelivery.objects.values_list("state", flat=True)) == {ChatwootDelivery.State.PENDING}

    chatwoot.down(False)
    clock.later(delivery.BACKOFF_CAP.total_seconds())  # past any retry time
    assert tasks.sweep_conversations() == {"contacts": 0, "sessions": 1}

    expected = [*_handoff_as_owed(session), ("alô?", "incoming", False), ("tem alguém aí?", "incoming", False)]
    assert _in_chatwoot(chatwoot, session) == expected
    assert len(chatwoot.conversations) == 1
    assert set(ChatwootDelivery.objects.values_list("state", flat=True)) == {ChatwootDelivery.State.DELIVERED}
    # Run again, by its task or the sweeper: nothing is posted twice.
    assert delivery.deliver(session.pk) == delivery.Run(0)
    clock.later(60)
    assert tasks.sweep_conversations() == {"contacts": 0, "sessions": 0}
    assert _in_chatwoot(chatwoot, session) == expected
    assert bot_said(session.contact_id).count(_delayed(session)) == 1


def test_chatwoot_failing_in_the_middle_of_a_handoff_holds_the_rest_back_and_posts_each_row_once(
    erp_company, evolution, chatwoot, clock
):
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    to_person(clock, maria)
    session = maria.session
    owed = _handoff_as_owed(session)
    posted_before_failing = 2  # two transcript lines go, then Chatwoot fails on the third
    calls = []

    def fail_third_message(request):
        if request.method == "POST" and request.path.endswith("/messages"):
            calls.append(request.path)
            if len(calls) == posted_before_failing + 1:
                chatwoot.down(True)
        return None

    chatwoot.intercept = fail_third_message
    run = delivery.deliver(session.pk)
    assert run.delivered == 1 + posted_before_failing  # the conversation and two lines
    assert _in_chatwoot(chatwoot, session) == owed[:posted_before_failing]
    assert bot_said(session.contact_id).count(_delayed(session)) == 0  # the conversation was opened: no excuse

    assert turn(clock, maria.text("oi?")).to == "agent"
    chatwoot.intercept = None
    chatwoot.down(False)
    clock.later(run.wait + 1)
    assert delivery.deliver(session.pk).delivered == len(owed) - posted_before_failing + 1
    assert _in_chatwoot(chatwoot, session) == [*owed, ("oi?", "incoming", False)]


def test_a_session_closed_here_resolves_its_chatwoot_conversation_once(erp_company, evolution, chatwoot, clock):
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    to_person(clock, maria)
    session = maria.session
    delivery.deliver(session.pk)
    session.refresh_from_db()
    assert [c["status"] for c in chatwoot.conversations] == ["open"]

    assert sessions.close(session, reason=Session.CloseReason.CLOSED)
    closed = list(
        events.EventDelivery.objects.filter(topic="session_closed", handler__endswith="on_session_closed").values_list(
            "pk", "payload"
        )
    )
    assert events.deliver() >= 1
    # Its event handed over again (a deliverer that died after the handler ran): resolved once.
    bridge.on_session_closed([events.Event(pk, "session_closed", erp_company.pk, payload, 1) for pk, payload in closed])
    assert ChatwootDelivery.objects.filter(session=session, kind=ChatwootDelivery.Kind.RESOLVE).count() == 1

    assert delivery.deliver(session.pk) == delivery.Run(1)
    assert [c["status"] for c in chatwoot.conversations] == ["resolved"]


def test_a_session_closed_by_the_customer_or_inactivity_is_not_resolved_by_the_close_event(
    erp_company, evolution, chatwoot, clock
):
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    to_person(clock, maria)
    session = maria.session
    delivery.deliver(session.pk)
    sessions.close(session, reason=Session.CloseReason.FINISHED)
    events.deliver()
    assert not ChatwootDelivery.objects.filter(kind=ChatwootDelivery.Kind.RESOLVE).exists()


def _failed_status(channel, wamid: str) -> dict:
    payload = copy.deepcopy(load_fixture("meta/status_failed.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = channel.phone_number_id
    value["statuses"][0].update(id=wamid, recipient_id=JOAO)
    return payload


def test_an_agents_message_whatsapp_did_not_deliver_becomes_one_private_note_with_the_reason(
    erp_company, cloud, chatwoot, clock
):
    on_chatwoot(erp_company, chatwoot)
    joao = Customer(cloud, JOAO)
    to_person(clock, joao)
    session = joao.session
    delivery.deliver(session.pk)
    session.refresh_from_db()

    chatwoot.agent_message(session.chatwoot_conversation_id, "Seu técnico chega amanhã")
    hook = [w for w in chatwoot.webhooks if w.event == "message_created"][-1]
    assert webhook.handle(erp_company, hook.payload) == "sent 1"
    sent = Message.objects.get(author=Message.Author.AGENT)
    # The dispatcher sent it (the engine has its own tests): Meta knows it by its wamid.
    Message.objects.filter(pk=sent.pk).update(provider_id="wamid.agent.1", status=Message.Status.SENT)

    failed = _failed_status(cloud, "wamid.agent.1")
    for _ in range(2):  # Meta delivers the status twice
        inbound.record_events(company=erp_company, kind="cloud", events=cloud_webhook.parse(failed))
    announced = list(
        events.EventDelivery.objects.filter(handler__endswith="on_status_changed").values_list("pk", "payload")
    )
    events.deliver()
    bridge.on_status_changed(
        [events.Event(pk, "message_status_changed", erp_company.pk, payload, 1) for pk, payload in announced]
    )
    assert delivery.deliver(session.pk).delivered == 1

    sent.refresh_from_db()
    assert sent.status == Message.Status.FAILED
    notes = [m["content"] for m in chatwoot.messages(session.chatwoot_conversation_id) if m["private"]]
    error = failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]
    reason = f"{error['title']}: {error['error_data']['details']} (131049)"  # Meta's title and details, its code
    assert (sent.error_code, sent.error_reason) == ("131049", reason.removesuffix(" (131049)"))
    assert notes[-1] == texts.text(erp_company, "agent_message_failed", text="Seu técnico chega amanhã", reason=reason)
    assert len(notes) == 2  # the handoff's note, and this one once


def test_a_failed_bot_message_is_no_note_for_the_agent(erp_company, cloud, chatwoot, clock):
    on_chatwoot(erp_company, chatwoot)
    joao = Customer(cloud, JOAO)
    to_person(clock, joao)
    session = joao.session
    delivery.deliver(session.pk)
    bot = Message.objects.filter(author=Message.Author.BOT).latest("pk")
    Message.objects.filter(pk=bot.pk).update(provider_id="wamid.bot.failed", status=Message.Status.SENT)
    inbound.record_events(
        company=erp_company, kind="cloud", events=cloud_webhook.parse(_failed_status(cloud, "wamid.bot.failed"))
    )
    events.deliver()
    assert not ChatwootDelivery.objects.filter(state=ChatwootDelivery.State.PENDING).exists()


def test_a_session_closed_while_chatwoot_is_down_has_its_conversation_resolved_when_it_is_back(
    erp_company, evolution, chatwoot, clock
):
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    chatwoot.down(True)
    to_person(clock, maria)
    session = maria.session
    delivery.deliver(session.pk)
    assert sessions.close(session, reason=Session.CloseReason.CLOSED)  # closed through the API meanwhile
    events.deliver()

    chatwoot.down(False)
    clock.later(delivery.BACKOFF_CAP.total_seconds())
    assert tasks.sweep_conversations()["sessions"] == 1
    assert _in_chatwoot(chatwoot, session) == _handoff_as_owed(session)  # the agent still reads what happened
    assert [c["status"] for c in chatwoot.conversations] == ["resolved"]  # and finds nothing left open
