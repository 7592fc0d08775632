"""The whole conversation on real HTTP fakes: the fake IXC, the fake Chatwoot posting its webhooks to the live
server, and the WhatsApp provider's fake (Cloud API or Evolution) that the engine sends to.

Celery is eager: a customer's message recorded runs its turn at once (the grouping window is set to 0 so no
turn is too early), a handoff posts to Chatwoot at once, and a webhook the fake Chatwoot posts is handled
within its request by the live server. What the bot or an agent says is queued; ``World.sent`` runs the
engine and returns what reached the provider's fake since the last look.

In-process tests of one step at a time (``steps``) move the clock by hand (``clock``) and use a fake Chatwoot of
their own (``chatwoot``) that posts no webhooks.
"""

import time
from dataclasses import dataclass

import pytest
from django.db import connection

from conversations.models import Contact, Session
from conversations.sending import dispatcher as dispatching
from fakes.chatwoot import FakeChatwoot, running_chatwoot
from fakes.evolution import running_evolution
from fakes.graph_api import running_graph_api
from tests.conversations.bot.conftest import (  # noqa: F401
    MARIA,
    Customer,
    cloud,
    erp,
    erp_company,
    evolution,
    no_dispatch,
)
from tests.conversations.flow.steps import fake_chatwoot, moved_clock  # noqa: F401
from tests.factories import CloudChannelFactory, EvolutionChannelFactory

CHATWOOT_TOKEN = "cw-api-token"
HOOK_SECRET = "cw-path-secret-7f3a"


@dataclass(frozen=True)
class Sent:
    """One message as the provider's fake received it: its kind and what the customer reads."""

    kind: str  # text, buttons, list, image, document, template, ...
    text: str
    body: dict


def _cloud_sent(body: dict) -> Sent:
    kind = body["type"]
    if kind == "text":
        return Sent("text", body["text"]["body"], body)
    if kind == "interactive":
        interactive = body["interactive"]
        kind = "buttons" if interactive["type"] == "button" else interactive["type"]
        return Sent(kind, interactive["body"]["text"], body)
    if kind == "template":
        return Sent("template", body["template"]["name"], body)
    media = body.get(kind) or {}
    return Sent(kind, media.get("caption", ""), body)


def _evolution_sent(path: str, body: dict) -> Sent:
    action = path.strip("/").split("/")[1]
    if action == "sendText":
        return Sent("text", body["text"], body)
    if action == "sendMedia":
        return Sent(body["mediatype"], body.get("caption", ""), body)
    return Sent(action, "", body)


class World:
    """The company, its channel, the fakes and the engine, for one test."""

    def __init__(self, *, company, channel, provider, chatwoot: FakeChatwoot, hook_url: str) -> None:
        self.company, self.channel, self.provider, self.chatwoot = company, channel, provider, chatwoot
        self.hook_url = hook_url
        self.cloud = channel.kind == "cloud"
        self._seen = 0
        self._engine = dispatching.Dispatcher(in_flight=4)

    def customer(self, phone: str = MARIA) -> Customer:
        return Customer(self.channel, phone)

    def settle(self) -> None:
        """Wait until every webhook the fake Chatwoot made was posted and answered."""
        assert self.chatwoot.wait_webhooks(20), "the fake Chatwoot's webhooks were not taken in time"

    def sent(self) -> list[Sent]:
        """Run the engine until nothing is due; what reached the provider since the last call, in order."""
        self.settle()
        for _ in range(20):
            if not self._engine.run(budget_seconds=5, idle_wait=0.05):
                break
        accepted = [r for r in self.provider.sent if r.path.rsplit("/", 1)[-1] != "markMessageAsRead"]
        if self.cloud:
            accepted = [r for r in accepted if r.body.get("status") != "read"]
            found = [_cloud_sent(r.body) for r in accepted]
        else:
            found = [_evolution_sent(r.path, r.body) for r in accepted if r.path.startswith("/message/")]
        fresh, self._seen = found[self._seen :], len(found)
        return fresh

    def texts(self) -> list[str]:
        return [s.text for s in self.sent()]

    def session(self, phone: str = MARIA) -> Session:
        return Session.objects.select_related("contact", "customer").get(
            company=self.company, contact__phone=phone, closed_at__isnull=True
        )

    def contact(self, phone: str = MARIA) -> Contact:
        return Contact.objects.get(company=self.company, phone=phone)

    def chatwoot_lines(self, conversation_id: int) -> list[tuple[str, bool, str]]:
        """The conversation in Chatwoot: (message_type, private, content) in order."""
        return [(m["message_type"], m["private"], m["content"] or "") for m in self.chatwoot.messages(conversation_id)]

    def close(self) -> None:
        self._engine.close()


def wait_until(predicate, *, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def make_world(live_server, erp_company, settings, tmp_path):  # noqa: F811
    """``make_world("cloud" | "evolution", signing_secret=...)``: the company wired to the fakes."""
    if connection.vendor != "postgresql":
        pytest.skip("the live server's threads write the fake Chatwoot's webhooks: PostgreSQL only")
    settings.VAR_DIR = tmp_path  # pacing state of the test's own
    company = erp_company
    hook_url = f"{live_server.url}/webhooks/chatwoot/{company.contract}/{HOOK_SECRET}/"
    opened = []

    def make(kind: str = "cloud", *, signing_secret: str = "") -> World:
        chatwoot_cm = running_chatwoot(token=CHATWOOT_TOKEN, webhook_url=hook_url, signing_secret=signing_secret)
        chatwoot = chatwoot_cm.__enter__()
        opened.append(chatwoot_cm)
        company.chatwoot_base_url, company.chatwoot_account_id = chatwoot.url, chatwoot.account_id
        company.chatwoot_inbox_id, company.chatwoot_api_token = chatwoot.inbox_id, CHATWOOT_TOKEN
        company.chatwoot_webhook_secret, company.chatwoot_signing_secret = HOOK_SECRET, signing_secret
        company.message_grouping_seconds = 0  # every message is its own turn, taken as soon as it is recorded
        company.save()
        if kind == "cloud":
            provider_cm = running_graph_api()
            provider = provider_cm.__enter__()
            channel = CloudChannelFactory(company=company, api_base_url=provider.url)
        else:
            provider_cm = running_evolution(api_key="evo-flow-key")
            provider = provider_cm.__enter__()
            channel = EvolutionChannelFactory(
                company=company,
                api_base_url=provider.url,
                api_key="evo-flow-key",
                connection_state="open",
                send_delay_ms=10,
            )
        opened.append(provider_cm)
        world = World(company=company, channel=channel, provider=provider, chatwoot=chatwoot, hook_url=hook_url)
        opened.append(world)
        return world

    yield make
    for item in reversed(opened):
        if isinstance(item, World):
            item.settle()
            item.close()
        else:
            item.__exit__(None, None, None)
