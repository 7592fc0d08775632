"""Steps of a conversation on the fakes, with the clock moved by hand (tasks run eagerly, so a turn that is
too early is not rescheduled: the test moves time past the grouping window and runs the turn itself)."""

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from conversations import conversation
from conversations.models import Message
from fakes.chatwoot import FakeChatwoot, running_chatwoot
from tests.conversations.bot.conftest import Customer

# Past every grouping window the tests use (the company's default is 3 s).
PAST_WINDOW = 5


class Clock:
    """The test's time, standing still until moved."""

    def __init__(self, traveller: Any) -> None:
        self.traveller = traveller

    def later(self, seconds: float) -> None:
        self.traveller.shift(dt.timedelta(seconds=seconds))


@pytest.fixture(name="clock")
def moved_clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture(name="chatwoot")
def fake_chatwoot():
    """A fake Chatwoot that posts no webhooks: the test hands them to ``webhook.handle`` when it wants."""
    with running_chatwoot(token="cw-token") as server:
        yield server


def on_chatwoot(company, chatwoot: FakeChatwoot, *, token: str = "cw-token"):
    company.chatwoot_base_url, company.chatwoot_account_id = chatwoot.url, chatwoot.account_id
    company.chatwoot_inbox_id, company.chatwoot_api_token = chatwoot.inbox_id, token
    company.save()
    return company


def turn(clock: Clock, customer_message: Message) -> conversation.Turn:
    """The contact's turn once its grouping window has passed."""
    clock.later(PAST_WINDOW)
    return conversation.converse(customer_message.contact_id)


def bot_said(contact_id: int) -> list[str]:
    """What the bot sent the contact, in order: each message's text (a question's body)."""
    sent = Message.objects.filter(contact_id=contact_id, author=Message.Author.BOT).order_by("pk")
    return [_words(m) for m in sent]


def _words(message: Message) -> str:
    content = (message.data or {}).get("content") or {}
    return content.get("text") or content.get("body") or message.text


def to_person(clock: Clock, customer: Customer) -> conversation.Turn:
    """From "oi" to a person: the account confirmed, then the menu's "talk to a person"."""
    assert turn(clock, customer.text("oi")).to == "bot"
    assert turn(clock, customer.choose("yes", "Sim", 1)).to == "bot"
    handed = turn(clock, customer.choose("menu:person", "Falar com um atendente", 3))
    assert handed.to == "agent", handed
    return handed
