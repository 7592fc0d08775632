"""The Cloud API send as the engine makes it from its event loop: the body ``CloudMessages`` builds, posted by
``CloudProvider.deliver_async`` against the fake Graph API, read as the synchronous provider reads it."""

import asyncio
import json

import pytest
import responses

from config.async_http import AsyncOutgoing
from config.provider_errors import ErrorKind
from conversations.whatsapp import content as contents
from conversations.whatsapp.base import SendError
from conversations.whatsapp.cloud import MESSAGE_BODIES, CloudProvider
from fakes.graph_api import running_graph_api
from tests.conftest import FIXTURES, META_API_FIXTURES, load_fixture
from tests.factories import CloudChannelFactory

TO = "5544998887777"
ERROR_FIXTURES = sorted(path.stem for path in (FIXTURES / "meta_api").glob("error_*.json"))
CONTENTS = [
    contents.text("Boleto: https://erp.example.com/b.pdf", reply_to="wamid.IN"),
    contents.text("Oi"),
    contents.media("document", url="https://erp.example.com/b.pdf", caption="Fatura", filename="fatura.pdf"),
    contents.media("audio", url="https://erp.example.com/a.ogg", caption="ignored on audio"),
    contents.location(-23.55, -46.63, name="Loja", address="Av. Paulista, 1000"),
    contents.template("fatura", "pt_BR", components=[{"type": "body", "parameters": [{"type": "text", "text": "9"}]}]),
    contents.buttons("Escolha", [("boleto", "2ª via"), ("pix", "PIX")], footer="Provedor"),
    {
        "kind": "list",
        "body": "Escolha",
        "button": "Opções",
        "footer": "",
        "sections": [{"title": "Faturas", "rows": [{"id": "a", "title": "Abril", "description": "R$ 99"}]}],
    },
]


@pytest.fixture
def graph():
    with running_graph_api(errors=META_API_FIXTURES) as server:
        yield server


def _deliver(channel, body: dict, *, timeout=(5, 30)):
    async def call():
        client = AsyncOutgoing(timeout=timeout)
        try:
            return await CloudProvider(channel).deliver_async(client, body)
        finally:
            await client.close()

    return asyncio.run(call())


def _body(content: dict) -> dict:
    return contents.send(MESSAGE_BODIES, to=TO, content=content)


@pytest.mark.django_db
@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: c["kind"])
def test_the_engine_posts_what_the_provider_would_post_for_every_kind_of_content(content):
    channel = CloudChannelFactory()
    url = f"https://graph.facebook.com/{channel.api_version}/{channel.phone_number_id}/messages"
    with responses.RequestsMock() as meta:
        stored = load_fixture("meta_api/send_text_success.json")
        meta.add(responses.POST, url, json=stored["body"], status=stored["http_status"])
        contents.send(CloudProvider(channel), to=TO, content=content)
        posted = json.loads(meta.calls[0].request.body)
    assert _body(content) == posted


@pytest.mark.django_db
def test_a_send_from_the_loop_reaches_meta_with_the_channels_token_and_reads_the_wamid(graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    sent = _deliver(channel, _body(contents.text("Sua fatura vence amanhã")))
    [request] = graph.requests
    assert request.path == f"/{channel.api_version}/{channel.phone_number_id}/messages"
    assert request.authorization == f"Bearer {channel.access_token}"
    assert request.body["text"] == {"body": "Sua fatura vence amanhã", "preview_url": False}
    assert (sent.provider_id, sent.wa_id, sent.status) == (request.wamid, TO, "accepted")


@pytest.mark.django_db
@pytest.mark.parametrize("fixture", ERROR_FIXTURES)
def test_every_meta_error_reads_as_the_synchronous_provider_reads_it(graph, fixture):
    channel = CloudChannelFactory(api_base_url=graph.url)
    graph.fail_next(2, fixture, retry_after="17")
    with pytest.raises(SendError) as from_loop:
        _deliver(channel, _body(contents.text("Oi")))
    with pytest.raises(SendError) as from_thread:
        CloudProvider(channel).send_text(to=TO, text="Oi")
    error = load_fixture(f"meta_api/{fixture}.json")["body"]["error"]
    assert from_loop.value.code == from_thread.value.code == str(error["code"])
    assert from_loop.value.kind == from_thread.value.kind
    assert from_loop.value.retry_after == from_thread.value.retry_after == 17.0
    assert from_loop.value.message == from_thread.value.message
    assert from_loop.value.details == from_thread.value.details


@pytest.mark.django_db
def test_no_answer_is_retryable_and_a_bad_url_is_not():
    refused = CloudChannelFactory(api_base_url="http://127.0.0.1:9")
    with pytest.raises(SendError) as excinfo:
        _deliver(refused, _body(contents.text("Oi")), timeout=(0.5, 0.5))
    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.RETRYABLE, "connection_error")

    bad = CloudChannelFactory(api_base_url="ftp://graph.example")
    with pytest.raises(SendError) as excinfo:
        _deliver(bad, _body(contents.text("Oi")))
    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "request_error")


@pytest.mark.django_db
def test_a_slow_meta_is_a_retryable_timeout():
    with running_graph_api(errors=META_API_FIXTURES, delay=1.0) as slow:
        channel = CloudChannelFactory(api_base_url=slow.url)
        with pytest.raises(SendError) as excinfo:
            _deliver(channel, _body(contents.text("Oi")), timeout=(1, 0.2))
    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.RETRYABLE, "timeout")
