"""Turns and their order: two customers at once never cross, a burst within the grouping window is one turn,
and one customer's messages recorded out of order (webhooks processed late, provider times reversed) are still
read in the order they were written."""

import copy
import datetime as dt
import json
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from conversations import conversation, tasks
from conversations.bot import texts
from conversations.chatwoot import delivery
from conversations.models import Contact, Message, Session, WebhookEvent
from conversations.services import inbound, webhook_events
from conversations.whatsapp import cloud_webhook
from tests.conftest import load_fixture
from tests.conversations.bot.conftest import JOAO, MARIA, Customer
from tests.conversations.flow.steps import PAST_WINDOW, bot_said, on_chatwoot, to_person, turn

pytestmark = pytest.mark.django_db

T = texts.DEFAULTS


def _confirm(name: str) -> str:
    return T["confirm_account"].format(name=name)


def _session_messages_are_the_contacts_own(session: Session) -> None:
    assert not Message.objects.filter(session=session).exclude(contact_id=session.contact_id).exists()


@pytest.mark.parametrize("kind", ["cloud", "evolution"])
def test_two_customers_at_once_each_get_their_own_answers(erp_company, kind, request, clock):
    channel = request.getfixturevalue(kind)
    maria, joao = Customer(channel, MARIA), Customer(channel, JOAO)
    first_maria, first_joao = maria.text("oi"), joao.text("oi")
    clock.later(PAST_WINDOW)
    assert conversation.converse(first_joao.contact_id).to == "bot"  # João's turn runs first
    assert conversation.converse(first_maria.contact_id).to == "bot"
    maria_id, joao_id = first_maria.contact_id, first_joao.contact_id
    assert bot_said(maria_id)[-1].startswith(_confirm("Maria da Silva"))
    assert bot_said(joao_id)[-1].startswith(_confirm("João Pereira"))

    yes_joao, yes_maria = joao.choose("yes", "Sim", 1), maria.choose("yes", "Sim", 1)
    clock.later(PAST_WINDOW)
    assert conversation.converse(yes_maria.contact_id).to == "bot"
    assert conversation.converse(yes_joao.contact_id).to == "bot"
    bill, unlock = maria.choose("menu:bill", T["menu_bill"], 1), joao.choose("menu:unlock", T["menu_unlock"], 2)
    clock.later(PAST_WINDOW)
    assert conversation.converse(unlock.contact_id).to == "bot"
    assert conversation.converse(bill.contact_id).to == "bot"

    maria_said, joao_said = bot_said(maria_id), bot_said(joao_id)
    assert T["bill_intro"] in maria_said and T["bill_intro"] not in joao_said
    assert any(said.startswith("Pronto! O contrato 5002") for said in joao_said)
    assert not any("5002" in said for said in maria_said)
    assert maria.session.customer.customer_code == "1001" and joao.session.customer.customer_code == "1002"
    for session in (maria.session, joao.session):
        _session_messages_are_the_contacts_own(session)
        assert session.state == "menu"
    assert maria.session.protocol != joao.session.protocol


def test_a_burst_within_the_window_is_one_turn_and_a_message_after_it_another(erp_company, evolution, clock):
    maria = Customer(evolution, MARIA)
    first = maria.text("oi")
    clock.later(2)
    maria.text("tudo bem?")
    clock.later(2)
    maria.text("quero a segunda via")
    clock.later(2)  # the first message's window is over, the last one's is not: the burst may go on
    early = conversation.converse(first.contact_id)
    assert early.taken == 0 and 0 < early.wait <= erp_company.message_grouping_seconds
    assert bot_said(first.contact_id) == []

    clock.later(early.wait)
    burst = conversation.converse(first.contact_id)
    assert (burst.taken, burst.to) == (3, "bot")
    greeting = T["greeting"].format(company=erp_company.name)
    said = bot_said(first.contact_id)
    assert said[0] == greeting and said[1].startswith(_confirm("Maria da Silva"))
    assert len(said) == 2  # one answer to the three
    assert conversation.converse(first.contact_id) == conversation.Turn()  # nothing left for another turn

    after = turn(clock, maria.text("sim"))
    assert (after.taken, after.to) == (1, "bot")
    # The burst's "segunda via" was remembered: served as soon as the account was confirmed.
    assert bot_said(first.contact_id)[2] == T["bill_intro"]
    assert greeting not in bot_said(first.contact_id)[2:]


def _meta_text(channel, phone: str, wamid: str, body: str, timestamp: int) -> dict:
    payload = copy.deepcopy(load_fixture("meta/message_text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = channel.phone_number_id
    value["contacts"] = [{"profile": {"name": "Maria"}, "wa_id": phone}]
    value["messages"][0].update({"from": phone, "id": wamid, "timestamp": str(timestamp)})
    value["messages"][0]["text"]["body"] = body
    return payload


def test_provider_times_out_of_order_are_read_in_the_order_written(erp_company, cloud, clock):
    written = int(time.time())
    later = _meta_text(cloud, MARIA, "wamid.order.2", "quero a segunda via", written + 2)
    earlier = _meta_text(cloud, MARIA, "wamid.order.1", "oi", written)
    for payload in (later, earlier):  # the later message's webhook came first
        outcomes = inbound.record_events(company=erp_company, kind="cloud", events=cloud_webhook.parse(payload))
        assert outcomes["message"] == 1
    contact = Contact.objects.get(company=erp_company, phone=MARIA)
    clock.later(PAST_WINDOW)
    assert conversation.converse(contact.pk).taken == 2
    session = Session.objects.get(contact=contact)
    assert [line["text"] for line in session.transcript if line["author"] == "customer"] == [
        "oi",
        "quero a segunda via",
    ]
    assert bot_said(contact.pk)[0] == T["greeting"].format(company=erp_company.name)  # "oi" greeted first


def _drain(events: list[WebhookEvent]) -> None:
    """A drainer recording the events it holds (``tasks._process_drained``, as the drain task does)."""
    for event in events:
        webhook_events.mark_done({event.pk: tasks._process_drained(event)})


def test_webhooks_recorded_out_of_order_are_relayed_to_the_agent_in_order(erp_company, cloud, chatwoot, clock):
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(cloud, MARIA)
    to_person(clock, maria)
    session = maria.session
    delivery.deliver(session.pk)
    start = int(time.time())
    bodies = ["primeira", "segunda", "terceira"]
    stored = [
        webhook_events.store_webhook(
            company=erp_company,
            source=WebhookEvent.Source.META,
            body=json.dumps(_meta_text(cloud, MARIA, f"wamid.late.{n}", body, start + n)),
            headers={},
        )
        for n, body in enumerate(bodies)
    ]
    assert webhook_events.claim_batch(10) == [e.pk for e in stored]  # two drainers hold them
    held = list(WebhookEvent.objects.filter(pk__in=[e.pk for e in stored]).select_related("company").order_by("pk"))

    _drain(held[1:])  # the second drainer, with the later two, finishes first
    waiting = conversation.converse(session.contact_id)
    assert (waiting.taken, waiting.wait) == (0, conversation.LANE_POLL_SECONDS)  # held for the first webhook
    _drain(held[:1])
    relayed = conversation.converse(session.contact_id)
    assert (relayed.taken, relayed.to, relayed.wait) == (3, "agent", None)

    delivery.deliver(session.pk)
    session.refresh_from_db()
    incoming = [
        m["content"]
        for m in chatwoot.messages(session.chatwoot_conversation_id)
        if m["message_type"] == "incoming" and m["content"] in bodies
    ]
    assert incoming == bodies


def _asks_for(request, phone: str) -> bool:
    """A phone search of the fake IXC for ``phone`` (it asks "contains" the number's last four digits)."""
    return isinstance(request.body, dict) and request.body.get("query") == phone[-4:]


@pytest.mark.django_db(transaction=True)  # each turn commits in a connection of its own, as on two workers
def test_two_new_customers_first_turns_run_side_by_side(erp_company, evolution, erp):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent turns need a database with row locks (PostgreSQL)")
    maria, joao = Customer(evolution, MARIA), Customer(evolution, JOAO)
    first = {maria.text("oi").contact_id: MARIA, joao.text("oi").contact_id: JOAO}
    Message.objects.update(created_at=timezone.now() - dt.timedelta(seconds=PAST_WINDOW))  # their windows are over
    erp.delay = 0.2  # each of a first turn's ERP calls takes a while
    ended: dict[str, float] = {}
    turns: dict[str, conversation.Turn] = {}

    def take(contact_id: int) -> None:
        try:
            turns[first[contact_id]] = conversation.converse(contact_id)
            ended[first[contact_id]] = time.monotonic()
        finally:
            connection.close()

    maria_id, joao_id = list(first)
    maria_turn = threading.Thread(target=take, args=[maria_id])
    maria_turn.start()
    deadline = time.monotonic() + 10
    while not erp.requests and time.monotonic() < deadline:  # Maria's turn is inside, waiting on the ERP
        time.sleep(0.01)
    joao_turn = threading.Thread(target=take, args=[joao_id])
    joao_turn.start()
    maria_turn.join(60)
    joao_turn.join(60)

    assert {name: turn.to for name, turn in turns.items()} == {MARIA: "bot", JOAO: "bot"}
    joaos_first_call = min(r.monotonic for r in erp.requests if _asks_for(r, JOAO))
    # João's turn asked the ERP while Maria's was still going: new customers are not served one at a time.
    assert joaos_first_call < ended[MARIA]
    assert bot_said(maria_id)[-1].startswith(_confirm("Maria da Silva"))
    assert bot_said(joao_id)[-1].startswith(_confirm("João Pereira"))
    assert Session.objects.get(contact_id=maria_id).protocol != Session.objects.get(contact_id=joao_id).protocol
