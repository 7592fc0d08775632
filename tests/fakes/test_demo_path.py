"""The path a newcomer walks with `make run`: the demo's channels on the fakes, over real HTTP both ways.

The demo data is loaded for fakes on 127.0.0.1; a customer's message comes in by a signed sample
webhook (``post_webhook``), the reply goes out through the API and the engine to the fake provider, and
the provider's statuses come back by webhooks to the live server until the message reads ``read``.
"""

import io
import time

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from companies.models import Channel, Company
from config import demo
from conversations.models import Contact, Message
from conversations.sending import dispatcher as dispatching
from conversations.services import outbound
from fakes.evolution import running_evolution
from fakes.graph_api import Webhook, running_graph_api

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(predicate, *, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def demo_world(live_server, settings, monkeypatch, tmp_path):
    if connection.vendor != "postgresql":
        # The live server's threads and the test share one in-memory SQLite connection, which refuses
        # a second writer ("database table is locked"); `make run` on SQLite uses a file and processes.
        pytest.skip("webhooks from the fakes are written by the live server's threads: PostgreSQL only")
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)  # the test runs the engine itself
    meta_hook = Webhook(
        url=f"{live_server.url}/webhooks/meta/?contract={demo.CONTRACT}",
        app_secret=demo.META_APP_SECRET,
        waba_id=demo.WABA_ID,
        display_number=demo.CLOUD_NUMBER,
    )
    with (
        running_graph_api(webhook=meta_hook) as graph,
        running_evolution(
            api_key=demo.EVOLUTION_API_KEY,
            webhook_url=f"{live_server.url}/webhooks/evolution/{demo.CONTRACT}/",
            number=demo.EVOLUTION_NUMBER,
            instance=demo.EVOLUTION_INSTANCE,
        ) as evolution,
    ):
        settings.FAKE_GRAPH_API_PORT, settings.FAKE_EVOLUTION_PORT = graph.port, evolution.port
        call_command("load_demo", stdout=io.StringIO())
        yield graph, evolution, live_server
        graph.callbacks.wait_idle()
        evolution.callbacks.wait_idle()


def _api() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=demo.API_KEY)
    return client


def _statuses(message: Message) -> list[str]:
    return list(message.status_changes.order_by("pk").values_list("status", flat=True))


def _send_and_wait_read(body: dict) -> Message:
    response = _api().post("/api/v1/messages", body, format="json")
    assert response.status_code == 202, response.content
    message = Message.objects.get(pk=response.json()["id"])
    engine = dispatching.Dispatcher(in_flight=2)
    try:
        assert _wait(lambda: engine.run(budget_seconds=5) or Message.objects.get(pk=message.pk).provider_id)
    finally:
        engine.close()
    return _wait(lambda: Message.objects.filter(pk=message.pk, status="read").first()) or message


def test_an_inbound_message_its_reply_and_the_replys_statuses_on_the_cloud_channel(demo_world):
    graph, _evolution, server = demo_world
    company = Company.objects.get(contract=demo.CONTRACT)
    cloud = company.channels.get(kind=Channel.Kind.CLOUD)

    call_command("post_webhook", "text", "--url", server.url, stdout=io.StringIO())
    inbound = _wait(lambda: Message.objects.filter(company=company, direction="in", channel=cloud).first())
    assert inbound is not None and inbound.text == "Oi! Quero a segunda via da minha fatura."
    assert inbound.contact.wa_id == demo.CUSTOMER_NUMBER and inbound.contact.name == "Maria Cliente"

    reply = _send_and_wait_read(
        {"to": demo.CUSTOMER_NUMBER, "channel": cloud.pk, "text": "Olá Maria! Segue sua fatura."}
    )
    assert reply.channel == cloud
    [sent] = graph.sent
    assert sent.body["text"]["body"] == "Olá Maria! Segue sua fatura."
    assert sent.authorization == f"Bearer {demo.CLOUD_ACCESS_TOKEN}"
    assert reply.status == "read" and reply.provider_id == sent.message_id
    assert _statuses(reply)[-3:] == ["sent", "delivered", "read"]
    assert reply.pricing["category"] == "service"


def test_a_sample_image_is_downloaded_from_the_fake_graph_api(demo_world):
    _graph, _evolution, server = demo_world
    call_command("post_webhook", "image", "--url", server.url, stdout=io.StringIO())
    image = _wait(lambda: Message.objects.filter(type="image", media_status="stored").first())
    assert image is not None, list(Message.objects.values("type", "media_status", "media_rejection"))
    with image.media_file.open("rb") as stored:
        assert image.media_mime == "image/png" and stored.read().startswith(b"\x89PNG")


def test_the_evolution_channel_connects_and_its_sends_come_back_read(demo_world):
    _graph, evolution, _server = demo_world
    company = Company.objects.get(contract=demo.CONTRACT)
    channel = _wait(lambda: company.channels.filter(kind=Channel.Kind.EVOLUTION, connection_state="open").first())
    assert channel is not None, "the fake's connection.update did not arrive"
    Contact.objects.filter(company=company).delete()
    notice = _send_and_wait_read({"to": "5544988887777", "text": "Sua fatura vence amanhã."})
    assert notice.channel == channel  # a notice goes out on the connected Evolution number
    [sent] = [r for r in evolution.sent if r.path.startswith("/message/")]
    assert sent.body == {"number": "5544988887777", "text": "Sua fatura vence amanhã."}
    assert notice.status == "read" and _statuses(notice)[-3:] == ["sent", "delivered", "read"]


@pytest.mark.parametrize("kind", ["text", "image", "location", "button"])
def test_every_sample_kind_arrives_on_both_channels(demo_world, kind):
    _graph, _evolution, server = demo_world
    for channel in ("cloud", "evolution"):
        call_command("post_webhook", kind, "--channel", channel, "--url", server.url, stdout=io.StringIO())
    expected = {"text": "text", "image": "image", "location": "location", "button": "interactive"}[kind]
    found = _wait(lambda: Message.objects.filter(direction="in").count() == 2)
    assert found, list(Message.objects.values("type", "channel__kind"))
    types = sorted(Message.objects.filter(direction="in").values_list("channel__kind", "type"))
    assert types == [("cloud", expected), ("evolution", expected)]


def test_a_sample_status_names_the_last_message_sent(demo_world):
    graph, _evolution, server = demo_world
    call_command("post_webhook", "text", "--url", server.url, stdout=io.StringIO())
    assert _wait(lambda: Message.objects.filter(direction="in").exists())
    graph.webhook = None  # the fake stays quiet: the command reports instead
    cloud = Channel.objects.get(kind=Channel.Kind.CLOUD)
    response = _api().post(
        "/api/v1/messages", {"to": demo.CUSTOMER_NUMBER, "channel": cloud.pk, "text": "Oi"}, format="json"
    )
    message = Message.objects.get(pk=response.json()["id"])
    engine = dispatching.Dispatcher(in_flight=1)
    try:
        engine.run(budget_seconds=5)
    finally:
        engine.close()
    message.refresh_from_db()
    assert message.status == "sent"
    call_command("post_webhook", "status", "--status", "delivered", "--url", server.url, stdout=io.StringIO())
    assert _wait(lambda: Message.objects.filter(pk=message.pk, status="delivered").exists())
