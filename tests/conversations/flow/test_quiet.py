"""When the bot says nothing: paused (until the sweeper lifts the pause), an agent holding the session, and a
while after the business answered from the WhatsApp Business app (a coexistence echo)."""

import copy
import datetime as dt
import time

import pytest

from conversations import tasks
from conversations.bot import texts
from conversations.models import ChatwootDelivery, Message
from conversations.services import inbound, sessions
from conversations.whatsapp import cloud_webhook
from tests.conftest import load_fixture
from tests.conversations.bot.conftest import MARIA, Customer
from tests.conversations.flow.steps import bot_said, on_chatwoot, to_person, turn

pytestmark = pytest.mark.django_db

MENU = texts.DEFAULTS["menu"]


def test_a_paused_bot_says_nothing_until_the_sweeper_lifts_the_pause(erp_company, evolution, clock):
    maria = Customer(evolution, MARIA)
    turn(clock, maria.text("oi"))
    session = maria.session
    sessions.pause_bot(session, until=session.last_activity_at + dt.timedelta(minutes=10))
    said = bot_said(session.contact_id)

    assert turn(clock, maria.text("sim")).to == "quiet"
    assert bot_said(session.contact_id) == said
    session.refresh_from_db()
    assert session.transcript[-1]["text"] == "sim"  # kept for an agent, unanswered
    clock.later(60)
    tasks.sweep_conversations()
    session.refresh_from_db()
    assert session.bot_paused_until is not None  # not over yet

    clock.later(10 * 60)
    tasks.sweep_conversations()
    session.refresh_from_db()
    assert session.bot_paused_until is None
    assert turn(clock, maria.text("sim")).to == "bot"
    answer = bot_said(session.contact_id)[len(said) :]
    assert len(answer) == 1 and answer[0].startswith(MENU)  # the menu, its options numbered on Evolution


def test_the_bot_says_nothing_while_an_agent_holds_the_session(erp_company, evolution, chatwoot, clock):
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    to_person(clock, maria)
    said = bot_said(maria.session.contact_id)

    for words in ("oi", "1", "segunda via"):  # what the bot would answer, were it its turn
        message = maria.text(words)
        assert turn(clock, message).to == "agent"
    assert bot_said(maria.session.contact_id) == said
    relayed = ChatwootDelivery.objects.filter(kind=ChatwootDelivery.Kind.MESSAGE, message__isnull=False)
    assert [row.message.text for row in relayed.order_by("pk")] == ["oi", "1", "segunda via"]


def _echo(channel, to: str, at: float) -> dict:
    payload = copy.deepcopy(load_fixture("meta/smb_message_echoes.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = channel.phone_number_id
    value["message_echoes"][0].update(to=to, id="wamid.echo.quiet", timestamp=str(int(at)))
    return payload


def test_the_bot_stays_quiet_for_a_while_after_the_business_answered_from_the_app(erp_company, cloud, clock):
    maria = Customer(cloud, MARIA)
    turn(clock, maria.text("oi"))
    contact_id = maria.session.contact_id
    said = bot_said(contact_id)
    recorded = inbound.record_events(
        company=erp_company, kind="cloud", events=cloud_webhook.parse(_echo(cloud, MARIA, time.time()))
    )
    assert recorded["business_message"] == 1
    assert Message.objects.filter(author=Message.Author.BUSINESS, contact_id=contact_id).exists()

    assert turn(clock, maria.choose("yes", "Sim", 1)).to == "quiet"
    clock.later(erp_company.bot_quiet_after_business_minutes * 60 - 2 * 5 - 1)
    assert turn(clock, maria.text("alô")).to == "quiet"
    assert bot_said(contact_id) == said

    clock.later(2)  # the business's quiet time is over
    assert turn(clock, maria.choose("yes", "Sim", 1)).to == "bot"
    assert bot_said(contact_id)[len(said) :] == [MENU]
