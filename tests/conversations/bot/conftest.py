"""A company on the fake IXC (a real HTTP server on loopback) and customers writing to its bot.

Inbound messages are made the way the pipeline makes them: a stored real webhook payload (Meta's or
Evolution's) with its sender, id, time and words changed, parsed by the provider's parser and recorded by
``services.inbound``.
"""

import copy
import itertools
import time

import pytest
from django.utils import timezone

from conversations.bot import flow
from conversations.models import Message, Session
from conversations.services import inbound, outbound, sessions
from conversations.whatsapp import cloud_webhook, evolution_webhook
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory, EvolutionChannelFactory

MARIA = "5544999990001"  # customer 1001: one open invoice (90001), contract 5001 active
JOAO = "5544997770000"  # customer 1002: two open invoices, contract 5002 blocked
OFICINA = "5544995554433"  # customer 1007: contract 5007 blocked, trust unlock not allowed
STRANGER = "5544988112233"  # nobody in the ERP
MARIA_CPF, JOAO_CPF = "52998224725", "11144477735"

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    # What the bot queues, and in which order, is the subject here; the engine has its own tests.
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)


@pytest.fixture
def erp():
    with running_erp("ixc", today=timezone.localdate()) as server:
        yield server


@pytest.fixture
def erp_company(company, erp):
    company.erp_system = "ixc"
    company.erp_base_url = erp.url
    company.erp_username = DEMO_CREDENTIALS.username
    company.erp_token = DEMO_CREDENTIALS.token
    company.save()
    return company


@pytest.fixture(params=["cloud", "evolution"])
def channel(request, erp_company):
    """Each flow test runs on both kinds of channel."""
    if request.param == "cloud":
        return CloudChannelFactory(company=erp_company)
    return EvolutionChannelFactory(company=erp_company, connection_state="open")


@pytest.fixture
def cloud(erp_company):
    return CloudChannelFactory(company=erp_company)


@pytest.fixture
def evolution(erp_company):
    return EvolutionChannelFactory(company=erp_company, connection_state="open")


def _cloud_payload(channel, phone: str, fixture: str, change) -> dict:
    payload = copy.deepcopy(load_fixture(f"meta/{fixture}.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = channel.phone_number_id
    value["contacts"] = [{"profile": {"name": "Cliente"}, "wa_id": phone}]
    message = value["messages"][0]
    message.update({"from": phone, "id": f"wamid.bot.{next(_ids)}", "timestamp": str(int(time.time()))})
    message.pop("context", None)
    change(message)
    return payload


def _evolution_payload(channel, phone: str, fixture: str, change) -> dict:
    payload = copy.deepcopy(load_fixture(f"evolution/{fixture}.json"))
    payload["instance"] = channel.instance_name
    data = payload["data"]
    data["key"].update({"remoteJid": f"{phone}@s.whatsapp.net", "id": f"3EB0BOT{next(_ids):012d}"})
    data["messageTimestamp"] = int(time.time())
    change(data)
    return payload


class Customer:
    """A WhatsApp user writing to the company's channel; ``answer`` hands a burst to the bot as the consumer does."""

    def __init__(self, channel, phone: str) -> None:
        self.channel, self.phone = channel, phone
        self.cloud = channel.kind == "cloud"

    def _record(self, payload: dict) -> Message:
        kind, parse = ("cloud", cloud_webhook.parse) if self.cloud else ("evolution", evolution_webhook.parse)
        events = parse(payload)
        outcomes = inbound.record_events(company=self.channel.company, kind=kind, events=events)
        assert outcomes["message"] == 1, outcomes
        return Message.objects.get(company=self.channel.company, provider_id=events[0].provider_id)

    def text(self, body: str) -> Message:
        if self.cloud:
            return self._record(
                _cloud_payload(self.channel, self.phone, "message_text", lambda m: m["text"].update(body=body))
            )

        def change(data):
            data["message"] = {"conversation": body}

        return self._record(_evolution_payload(self.channel, self.phone, "messages_upsert_text", change))

    def tap(self, reply_id: str, title: str) -> Message:
        """A Cloud reply button (or list row, for ids of the menu and contracts) tapped."""
        assert self.cloud
        kind = "list_reply" if reply_id.startswith(("menu:", "contract:")) else "button_reply"

        def change(message):
            message["interactive"] = {"type": kind, kind: {"id": reply_id, "title": title}}

        return self._record(_cloud_payload(self.channel, self.phone, "message_interactive_button_reply", change))

    def choose(self, reply_id: str, title: str, number: int) -> Message:
        """The natural answer on the channel: a tap on Cloud, the option's number typed on Evolution."""
        return self.tap(reply_id, title) if self.cloud else self.text(str(number))

    def image(self) -> Message:
        if self.cloud:
            return self._record(_cloud_payload(self.channel, self.phone, "message_image", lambda m: None))
        return self._record(_evolution_payload(self.channel, self.phone, "messages_upsert_image", lambda d: None))

    def location(self) -> Message:
        if self.cloud:
            return self._record(_cloud_payload(self.channel, self.phone, "message_location", lambda m: None))
        return self._record(_evolution_payload(self.channel, self.phone, "messages_upsert_location", lambda d: None))

    @property
    def session(self) -> Session:
        return Session.objects.select_related("company", "contact", "customer").get(
            contact__phone=self.phone, contact__company=self.channel.company, closed_at__isnull=True
        )

    def answer(self, *messages: Message) -> flow.Outcome:
        """What the conversation consumer does with a burst: the open session, the messages joined to it, the bot."""
        contact = messages[0].contact
        session, _ = sessions.open_session(contact)
        sessions.attach(session, list(messages))
        self.last_session = session
        return flow.answer(session, list(messages))

    def says(self, *texts: str) -> flow.Outcome:
        return self.answer(*(self.text(t) for t in texts))


def bot_messages(session: Session) -> list[Message]:
    return list(Message.objects.filter(session=session, author=Message.Author.BOT).order_by("pk"))


class Replies:
    """The bot's replies in a session, read turn by turn."""

    def __init__(self, customer: Customer) -> None:
        self.customer, self.seen, self.session_id = customer, 0, None

    def new(self) -> list[Message]:
        session = self.customer.last_session
        if session.pk != self.session_id:  # the customer ended the last one: a new session, its own replies
            self.session_id, self.seen = session.pk, 0
        sent = bot_messages(session)
        fresh, self.seen = sent[self.seen :], len(sent)
        return fresh

    def texts(self) -> list[str]:
        return [m.text for m in self.new()]


@pytest.fixture
def customer_on(channel):
    def make(phone: str) -> tuple[Customer, Replies]:
        customer = Customer(channel, phone)
        return customer, Replies(customer)

    return make
