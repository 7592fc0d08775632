import base64
import json
import logging

import pytest
import requests
import responses

from config.provider_errors import ErrorKind
from conversations.whatsapp.base import (
    Button,
    ListRow,
    ListSection,
    Location,
    MediaRef,
    OutgoingMedia,
    SendError,
    Sent,
    TemplateCall,
    provider_for,
)
from conversations.whatsapp.evolution import EvolutionProvider
from tests.conftest import load_fixture
from tests.factories import EvolutionChannelFactory

TO = "5544998887777"
SENT = load_fixture("evolution/send_message.json")["data"]  # the send response equals send.message's data


@pytest.fixture
def channel(db):
    return EvolutionChannelFactory()


@pytest.fixture
def evo():
    with responses.RequestsMock() as rsps:  # a request nothing matches fails the test
        yield rsps


def url(channel, path: str) -> str:
    return f"https://evo.example.com/{path}/{channel.instance_name}"


def sent_json(evo, index: int = -1) -> dict:
    return json.loads(evo.calls[index].request.body)


def fail_with(evo, channel, status: int, body, path: str = "message/sendText", **kwargs) -> SendError:
    evo.add(responses.POST, url(channel, path), status=status, **({"json": body} if body is not None else {}), **kwargs)
    with pytest.raises(SendError) as excinfo:
        EvolutionProvider(channel).send_text(to=TO, text="Oi")
    return excinfo.value


def test_provider_for_an_evolution_channel_is_the_evolution_provider(channel):
    assert isinstance(provider_for(channel), EvolutionProvider)


def test_text_is_posted_with_the_apikey_and_returns_the_key_id(channel, evo):
    evo.add(responses.POST, url(channel, "message/sendText"), json=SENT, status=201)

    sent = EvolutionProvider(channel).send_text(to="+55 (44) 99888-7777", text="Olá Maria, segue sua fatura.")

    assert sent == Sent(provider_id="3EB0AAAA1111BBBB2222", wa_id=TO)
    assert sent_json(evo) == {"number": TO, "text": "Olá Maria, segue sua fatura."}
    assert evo.calls[0].request.headers["apikey"] == channel.api_key


def test_a_reply_quotes_the_original_message_and_a_jid_goes_untouched(channel, evo):
    evo.add(responses.POST, url(channel, "message/sendText"), json=SENT, status=201)

    EvolutionProvider(channel).send_text(to="128999376343081@lid", text="Oi", reply_to="3EB0C767D26A1D2F4B")

    assert sent_json(evo) == {
        "number": "128999376343081@lid",
        "text": "Oi",
        "quoted": {"key": {"id": "3EB0C767D26A1D2F4B"}},
    }


def test_the_instance_defaults_to_the_company_contract(db, evo):
    channel = EvolutionChannelFactory(instance_name="", api_base_url="http://127.0.0.1:9999/")
    evo.add(responses.POST, f"http://127.0.0.1:9999/message/sendText/{channel.company.contract}", json=SENT, status=201)

    assert EvolutionProvider(channel).send_text(to=TO, text="Oi").provider_id == "3EB0AAAA1111BBBB2222"


@pytest.mark.parametrize(
    ("media", "path", "expected"),
    [
        (OutgoingMedia(kind="image", url="https://x.example/a.jpg", caption="Fatura"), "message/sendMedia",
         {"number": TO, "mediatype": "image", "media": "https://x.example/a.jpg", "caption": "Fatura"}),
        (OutgoingMedia(kind="document", url="https://x.example/b.pdf", filename="boleto.pdf",
                       mime_type="application/pdf"), "message/sendMedia",
         {"number": TO, "mediatype": "document", "media": "https://x.example/b.pdf", "fileName": "boleto.pdf",
          "mimetype": "application/pdf"}),
        (OutgoingMedia(kind="audio", url="https://x.example/a.ogg"), "message/sendWhatsAppAudio",
         {"number": TO, "audio": "https://x.example/a.ogg"}),
        (OutgoingMedia(kind="sticker", url="https://x.example/s.webp"), "message/sendSticker",
         {"number": TO, "sticker": "https://x.example/s.webp"}),
    ],
)  # fmt: skip
def test_media_goes_to_the_endpoint_of_its_kind(channel, evo, media, path, expected):
    evo.add(responses.POST, url(channel, path), json=SENT, status=201)

    EvolutionProvider(channel).send_media(to=TO, media=media)

    assert sent_json(evo) == expected


def test_media_by_uploaded_id_is_refused_since_evolution_needs_a_url(channel, evo):
    with pytest.raises(SendError) as excinfo:
        EvolutionProvider(channel).send_media(to=TO, media=OutgoingMedia(kind="image", media_id="123"))
    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "media_url_required")


def test_location_is_sent_with_the_fields_evolution_requires(channel, evo):
    evo.add(responses.POST, url(channel, "message/sendLocation"), json=SENT, status=201)

    EvolutionProvider(channel).send_location(to=TO, location=Location(latitude=-23.42, longitude=-51.93, name="Loja"))

    assert sent_json(evo) == {"number": TO, "latitude": -23.42, "longitude": -51.93, "name": "Loja", "address": ""}


def test_buttons_become_a_numbered_text_menu(channel, evo):
    evo.add(responses.POST, url(channel, "message/sendText"), json=SENT, status=201)

    EvolutionProvider(channel).send_buttons(
        to=TO, body="Deseja a 2ª via?", buttons=(Button("yes", "Sim"), Button("no", "Não")), footer="Provedor X"
    )

    assert sent_json(evo)["text"] == "Deseja a 2ª via?\n\n1 - Sim\n2 - Não\n\nProvedor X"


def test_a_list_becomes_a_numbered_menu_across_its_sections(channel, evo):
    evo.add(responses.POST, url(channel, "message/sendText"), json=SENT, status=201)
    sections = (
        ListSection("Financeiro", (ListRow("boleto", "2ª via", "Boleto ou PIX"), ListRow("pix", "PIX"))),
        ListSection("Técnico", (ListRow("lenta", "Internet lenta"),)),
    )

    EvolutionProvider(channel).send_list(to=TO, body="Escolha:", button="Opções", sections=sections)

    assert sent_json(evo)["text"] == (
        "Escolha:\n\n*Financeiro*\n1 - 2ª via (Boleto ou PIX)\n2 - PIX\n\n*Técnico*\n3 - Internet lenta"
    )


def test_a_template_is_sent_as_its_rendered_text(channel, evo):
    evo.add(responses.POST, url(channel, "message/sendText"), json=SENT, status=201)
    template = TemplateCall(name="fatura_aberta", language="pt_BR", rendered_text="Olá Maria, sua fatura vence dia 10.")

    EvolutionProvider(channel).send_template(to=TO, template=template)

    assert sent_json(evo) == {"number": TO, "text": "Olá Maria, sua fatura vence dia 10."}


def test_a_template_without_rendered_text_is_a_template_error(channel, evo):
    with pytest.raises(SendError) as excinfo:
        EvolutionProvider(channel).send_template(to=TO, template=TemplateCall(name="fatura_aberta", language="pt_BR"))
    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.TEMPLATE, "no_rendered_text")


def test_mark_read_names_the_chat_and_the_message(channel, evo):
    evo.add(
        responses.POST, url(channel, "chat/markMessageAsRead"), json={"message": "Read messages", "read": "success"}
    )

    EvolutionProvider(channel).mark_read(message_id="3EB0C767D26A1D2F4B", remote=TO)

    assert sent_json(evo) == {
        "readMessages": [{"remoteJid": f"{TO}@s.whatsapp.net", "fromMe": False, "id": "3EB0C767D26A1D2F4B"}]
    }


def test_presence_shows_typing_for_the_delay(channel, evo):
    evo.add(responses.POST, url(channel, "chat/sendPresence"), json={"presence": "composing"}, status=201)

    EvolutionProvider(channel).send_presence(to=TO, delay_ms=1500)

    assert sent_json(evo) == {"number": TO, "presence": "composing", "delay": 1500}


# ------------------------------------------------------------------------------ errors


def test_a_number_not_on_whatsapp_is_an_invalid_recipient(channel, evo):
    body = {
        "status": 400,
        "error": "Bad Request",
        "response": {"message": [{"exists": False, "jid": f"{TO}@s.whatsapp.net", "number": TO}]},
    }
    error = fail_with(evo, channel, 400, body)
    assert (error.kind, error.code, error.details["number"]) == (
        ErrorKind.INVALID_RECIPIENT,
        "number_not_on_whatsapp",
        TO,
    )


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (401, {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}},
         ErrorKind.AUTH, "http_401"),
        (403, {"status": 403, "error": "Forbidden", "response": {"message": ["Forbidden"]}},
         ErrorKind.AUTH, "http_403"),
        (404, {"status": 404, "error": "Not Found", "response": {"message": ['The "x" instance does not exist']}},
         ErrorKind.PERMANENT, "instance_not_found"),
        (404, None, ErrorKind.PERMANENT, "http_404"),  # "Cannot POST /…" HTML: wrong base URL
        (400, {"status": 400, "error": "Bad Request", "response": {"message": [['instance requires property "text"']]}},
         ErrorKind.PERMANENT, "http_400"),
        (400, {"status": 400, "error": "Bad Request", "response": {"message": ["Error: Connection Closed"]}},
         ErrorKind.RETRYABLE, "connection_closed"),
        (500, {"status": 500, "error": "Internal Server Error", "response": {"message": "Connection Closed"}},
         ErrorKind.RETRYABLE, "connection_closed"),
        (502, None, ErrorKind.RETRYABLE, "http_502"),
        (429, None, ErrorKind.THROUGHPUT, "http_429"),
    ],
)  # fmt: skip
def test_evolution_errors_map_to_the_kind_that_says_what_to_do(channel, evo, status, body, kind, code):
    error = fail_with(evo, channel, status, body)
    assert (error.kind, error.code, error.details["http_status"]) == (kind, code, status)


def test_retry_after_is_honoured(channel, evo):
    assert fail_with(evo, channel, 429, None, headers={"Retry-After": "30"}).retry_after == 30.0


@pytest.mark.parametrize(
    ("exc", "code"),
    [(requests.ReadTimeout("read timed out"), "timeout"), (requests.ConnectionError("refused"), "connection_error")],
)
def test_timeouts_and_connection_errors_are_retryable(channel, evo, exc, code):
    evo.add(responses.POST, url(channel, "message/sendText"), body=exc)

    with pytest.raises(SendError) as excinfo:
        EvolutionProvider(channel).send_text(to=TO, text="Oi")

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.RETRYABLE, code)


@pytest.mark.parametrize("reply", [{"json": {"status": "PENDING"}}, {"body": "<html>ok</html>"}])
def test_a_reply_without_a_key_is_a_bad_response(channel, evo, caplog, reply):
    evo.add(responses.POST, url(channel, "message/sendText"), status=201, **reply)

    with pytest.raises(SendError) as excinfo:
        EvolutionProvider(channel).send_text(to=TO, text="Oi")

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "bad_response")
    assert "unexpected body" in caplog.text


def test_the_apikey_never_appears_in_errors_or_logs(channel, evo, caplog):
    key = channel.api_key
    evo.add(
        responses.POST, url(channel, "message/sendText"), json={"response": {"message": [f"bad {key}"]}}, status=400
    )
    evo.add(responses.POST, url(channel, "message/sendText"), json={"apikey": key}, status=201)

    caplog.set_level(logging.DEBUG)
    for _ in range(2):
        with pytest.raises(SendError) as excinfo:
            EvolutionProvider(channel).send_text(to=TO, text="Oi")
        error = excinfo.value
        assert key not in f"{error} {error!r} {error.message} {error.details}"

    assert key not in caplog.text


# ------------------------------------------------------------------------------ media


def test_inline_base64_media_needs_no_request(channel, evo):
    media = MediaRef(base64=base64.b64encode(b"%PDF-1.4").decode(), mime_type="application/pdf")

    fetched = EvolutionProvider(channel).fetch_media(media=media)

    assert (fetched.content, fetched.mime_type) == (b"%PDF-1.4", "application/pdf")


def test_media_by_message_id_is_downloaded_as_base64_through_evolution(channel, evo):
    reply = {"mediaType": "imageMessage", "mimetype": "image/jpeg", "base64": base64.b64encode(b"jpeg").decode()}
    evo.add(responses.POST, url(channel, "chat/getBase64FromMediaMessage"), json=reply, status=201)

    fetched = EvolutionProvider(channel).fetch_media(media=MediaRef(media_id="3EB0C767D26A1D2F4B"))

    assert (fetched.content, fetched.mime_type) == (b"jpeg", "image/jpeg")
    assert sent_json(evo) == {"message": {"key": {"id": "3EB0C767D26A1D2F4B"}}, "convertToMp4": False}
    assert evo.calls[0].request.headers["apikey"] == channel.api_key


def test_media_urls_elsewhere_are_fetched_without_the_apikey(channel, evo):
    evo.add(responses.GET, "https://s3.example.com/evo/a.jpg", body=b"jpeg", content_type="image/jpeg")
    evo.add(responses.GET, "https://evo.example.com/files/b.jpg", body=b"jpeg", content_type="image/jpeg")
    provider = EvolutionProvider(channel)

    assert provider.fetch_media(media=MediaRef(url="https://s3.example.com/evo/a.jpg")).content == b"jpeg"
    provider.fetch_media(media=MediaRef(url="https://evo.example.com/files/b.jpg"))

    assert "apikey" not in evo.calls[0].request.headers
    assert evo.calls[1].request.headers["apikey"] == channel.api_key


def test_inline_media_larger_than_the_cap_is_refused_before_decoding(channel, evo):
    media = MediaRef(base64=base64.b64encode(b"x" * 40).decode())

    with pytest.raises(SendError) as excinfo:
        EvolutionProvider(channel, max_media_bytes=30).fetch_media(media=media)

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "media_too_large")


def test_downloaded_media_larger_than_the_cap_is_refused(channel, evo):
    evo.add(responses.GET, "https://s3.example.com/big.mp4", body=b"x" * 40)

    with pytest.raises(SendError) as excinfo:
        EvolutionProvider(channel, max_media_bytes=30).fetch_media(media=MediaRef(url="https://s3.example.com/big.mp4"))

    assert excinfo.value.code == "media_too_large"
