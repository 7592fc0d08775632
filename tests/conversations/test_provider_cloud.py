import io
import json
import logging

import pytest
import requests
import responses
from responses import matchers

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
from conversations.whatsapp.cloud import CloudProvider, read_capped
from templates_meta.graph_errors import META_ERRORS, classify
from tests.conftest import FIXTURES, load_fixture
from tests.factories import CloudChannelFactory

TO = "5544998887777"
WAMID = "wamid.HBgNNTU0NDk5ODg4Nzc3NxUCABEYEjVGNDI1QTc0RjEzMDMzNDkyQQA="


@pytest.fixture
def channel(db):
    return CloudChannelFactory()


@pytest.fixture
def meta():
    with responses.RequestsMock() as rsps:  # a request nothing matches fails the test
        yield rsps


def messages_url(channel) -> str:
    return f"https://graph.facebook.com/{channel.api_version}/{channel.phone_number_id}/messages"


def reply_with(meta, fixture: str, *, url: str, method: str = responses.POST, **kwargs) -> None:
    stored = load_fixture(f"meta_api/{fixture}")
    meta.add(method, url, json=stored["body"], status=stored["http_status"], **kwargs)


def sent_json(meta, index: int = -1) -> dict:
    return json.loads(meta.calls[index].request.body)


def test_provider_for_a_cloud_channel_is_the_cloud_provider(channel):
    assert isinstance(provider_for(channel), CloudProvider)


def test_text_is_posted_with_the_bearer_token_and_returns_the_wamid(channel, meta):
    reply_with(meta, "send_text_success.json", url=messages_url(channel))

    sent = CloudProvider(channel).send_text(to=TO, text="Olá, Maria!")

    assert sent == Sent(provider_id=WAMID, wa_id=TO, status="accepted")
    assert sent_json(meta) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"body": "Olá, Maria!", "preview_url": False},
    }
    assert meta.calls[0].request.headers["Authorization"] == f"Bearer {channel.access_token}"


def test_text_with_a_link_asks_for_a_preview_and_a_reply_carries_the_context(channel, meta):
    reply_with(meta, "send_text_success.json", url=messages_url(channel))

    CloudProvider(channel).send_text(to=TO, text="Boleto: https://erp.example.com/b.pdf", reply_to="wamid.IN")

    body = sent_json(meta)
    assert body["text"] == {"body": "Boleto: https://erp.example.com/b.pdf", "preview_url": True}
    assert body["context"] == {"message_id": "wamid.IN"}


def test_wa_id_is_returned_as_meta_normalised_it_without_the_ninth_digit(channel, meta):
    reply_with(meta, "send_text_success_wa_id_without_ninth_digit.json", url=messages_url(channel))

    assert CloudProvider(channel).send_text(to=TO, text="Oi").wa_id == "554498887777"


def test_the_api_base_url_override_is_used(db, meta):
    channel = CloudChannelFactory(api_base_url="http://127.0.0.1:9999/")
    url = f"http://127.0.0.1:9999/{channel.api_version}/{channel.phone_number_id}/messages"
    reply_with(meta, "send_text_success.json", url=url)

    assert CloudProvider(channel).send_text(to=TO, text="Oi").provider_id == WAMID


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        (OutgoingMedia(kind="image", url="https://x.example/a.jpg", caption="Fatura"),
         {"link": "https://x.example/a.jpg", "caption": "Fatura"}),
        (OutgoingMedia(kind="audio", media_id="777", caption="dropped"), {"id": "777"}),
        (OutgoingMedia(kind="sticker", url="https://x.example/s.webp", caption="dropped"),
         {"link": "https://x.example/s.webp"}),
        (OutgoingMedia(kind="video", media_id="888", url="https://x.example/v.mp4", caption="Veja"),
         {"id": "888", "caption": "Veja"}),
        (OutgoingMedia(kind="document", url="https://x.example/b.pdf", filename="boleto.pdf", caption="Sua fatura"),
         {"link": "https://x.example/b.pdf", "caption": "Sua fatura", "filename": "boleto.pdf"}),
    ],
)  # fmt: skip
def test_media_goes_by_id_or_link_with_caption_and_filename_where_meta_takes_them(channel, meta, media, expected):
    reply_with(meta, "send_text_success.json", url=messages_url(channel))

    CloudProvider(channel).send_media(to=TO, media=media, reply_to="wamid.IN")

    body = sent_json(meta)
    assert body["type"] == media.kind
    assert body[media.kind] == expected
    assert body["context"] == {"message_id": "wamid.IN"}


def test_an_unknown_media_kind_is_refused_without_a_request(channel, meta):
    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_media(to=TO, media=OutgoingMedia(kind="hologram", url="https://x.example/h"))
    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "bad_media_kind")


def test_location_is_sent_with_name_and_address(channel, meta):
    reply_with(meta, "send_text_success.json", url=messages_url(channel))

    CloudProvider(channel).send_location(
        to=TO, location=Location(latitude=-23.4205, longitude=-51.9333, name="Loja", address="Av. Brasil, 1")
    )

    assert sent_json(meta)["location"] == {
        "latitude": -23.4205,
        "longitude": -51.9333,
        "name": "Loja",
        "address": "Av. Brasil, 1",
    }


def test_buttons_are_sent_as_interactive_reply_buttons(channel, meta):
    reply_with(meta, "send_text_success.json", url=messages_url(channel))

    CloudProvider(channel).send_buttons(
        to=TO, body="Deseja a 2ª via?", buttons=(Button("yes", "Sim"), Button("no", "Não")), footer="Provedor X"
    )

    assert sent_json(meta)["interactive"] == {
        "type": "button",
        "body": {"text": "Deseja a 2ª via?"},
        "footer": {"text": "Provedor X"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "yes", "title": "Sim"}},
                {"type": "reply", "reply": {"id": "no", "title": "Não"}},
            ]
        },
    }


@pytest.mark.parametrize(
    "buttons",
    [
        (),
        tuple(Button(str(n), f"Opção {n}") for n in range(4)),
        (Button("long", "Um título longo demais p/ Meta"),),
    ],
)
def test_buttons_beyond_meta_limits_are_refused_before_sending(channel, meta, buttons):
    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_buttons(to=TO, body="Escolha", buttons=buttons)
    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "bad_buttons")


def test_a_list_is_sent_with_its_sections_and_rows(channel, meta):
    reply_with(meta, "send_text_success.json", url=messages_url(channel))
    sections = (
        ListSection("Financeiro", (ListRow("segunda_via", "2ª via de boleto", "Boleto ou PIX"), ListRow("pix", "PIX"))),
    )

    CloudProvider(channel).send_list(to=TO, body="Escolha uma opção", button="Opções", sections=sections)

    assert sent_json(meta)["interactive"] == {
        "type": "list",
        "body": {"text": "Escolha uma opção"},
        "action": {
            "button": "Opções",
            "sections": [
                {
                    "title": "Financeiro",
                    "rows": [
                        {"id": "segunda_via", "title": "2ª via de boleto", "description": "Boleto ou PIX"},
                        {"id": "pix", "title": "PIX"},
                    ],
                }
            ],
        },
    }


def test_a_list_with_more_than_ten_rows_is_refused(channel, meta):
    rows = tuple(ListRow(str(n), f"Item {n}") for n in range(11))
    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_list(to=TO, body="b", button="Ver", sections=(ListSection("s", rows),))
    assert excinfo.value.code == "bad_list"


def test_a_template_is_sent_with_its_components_as_given_and_its_status_returned(channel, meta):
    reply_with(meta, "send_template_held_for_quality_assessment.json", url=messages_url(channel))
    components = ({"type": "body", "parameters": [{"type": "text", "text": "Maria"}]},)

    sent = CloudProvider(channel).send_template(
        to=TO, template=TemplateCall(name="fatura_aberta", language="pt_BR", components=components)
    )

    assert sent.status == "held_for_quality_assessment"
    assert sent_json(meta)["template"] == {
        "name": "fatura_aberta",
        "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}],
    }


def test_a_template_without_components_sends_none(channel, meta):
    reply_with(meta, "send_template_accepted.json", url=messages_url(channel))

    sent = CloudProvider(channel).send_template(to=TO, template=TemplateCall(name="hello", language="pt_BR"))

    assert sent.status == "accepted"
    assert sent_json(meta)["template"] == {"name": "hello", "language": {"code": "pt_BR"}}


def test_mark_read_posts_the_read_status_for_the_message(channel, meta):
    meta.add(responses.POST, messages_url(channel), json={"success": True})

    CloudProvider(channel).mark_read(message_id="wamid.IN")

    assert sent_json(meta) == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}


# ------------------------------------------------------------------------------ errors

EXPECTED_KINDS = {
    "error_100_invalid_parameter.json": ErrorKind.PERMANENT,
    "error_130429_throughput.json": ErrorKind.THROUGHPUT,
    "error_131000_generic.json": ErrorKind.RETRYABLE,
    "error_131026_undeliverable.json": ErrorKind.INVALID_RECIPIENT,
    "error_131047_reengagement.json": ErrorKind.WINDOW_CLOSED,
    "error_131056_pair_rate_limit.json": ErrorKind.PAIR_RATE_LIMIT,
    "error_132000_param_count.json": ErrorKind.TEMPLATE,
    "error_132001_template_missing.json": ErrorKind.TEMPLATE,
    "error_132015_template_paused.json": ErrorKind.TEMPLATE,
    "error_190_token_expired.json": ErrorKind.AUTH,
}
ERROR_FIXTURES = sorted(path.name for path in (FIXTURES / "meta_api").glob("error_*.json"))


def test_every_stored_error_has_an_expected_kind():
    assert sorted(EXPECTED_KINDS) == ERROR_FIXTURES


@pytest.mark.parametrize("fixture", ERROR_FIXTURES)
def test_every_stored_meta_error_maps_to_its_kind_and_code(channel, meta, fixture):
    reply_with(meta, fixture, url=messages_url(channel))
    error = load_fixture(f"meta_api/{fixture}")["body"]["error"]

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_text(to=TO, text="Oi")

    assert excinfo.value.kind == EXPECTED_KINDS[fixture]
    assert excinfo.value.code == str(error["code"])
    assert excinfo.value.details["fbtrace_id"] == error["fbtrace_id"]
    assert excinfo.value.details["http_status"] == load_fixture(f"meta_api/{fixture}")["http_status"]
    assert error["message"] in excinfo.value.message


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (1, ErrorKind.RETRYABLE), (2, ErrorKind.RETRYABLE), (131016, ErrorKind.RETRYABLE),
        (131057, ErrorKind.RETRYABLE), (133004, ErrorKind.RETRYABLE), (4, ErrorKind.THROUGHPUT),
        (80007, ErrorKind.THROUGHPUT), (131021, ErrorKind.INVALID_RECIPIENT), (131030, ErrorKind.INVALID_RECIPIENT),
        (132016, ErrorKind.TEMPLATE), (132018, ErrorKind.TEMPLATE), (0, ErrorKind.AUTH), (3, ErrorKind.AUTH),
        (10, ErrorKind.AUTH), (200, ErrorKind.AUTH), (299, ErrorKind.AUTH), (131005, ErrorKind.AUTH),
        (131049, ErrorKind.PERMANENT), (131050, ErrorKind.PERMANENT),
    ],
)  # fmt: skip
def test_meta_codes_map_to_the_kind_that_says_what_to_do(code, kind):
    assert META_ERRORS[code] == kind


def test_unknown_codes_fall_back_on_the_http_status():
    assert classify(None, 502) == ErrorKind.RETRYABLE
    assert classify(999999, 500) == ErrorKind.RETRYABLE
    assert classify(None, 429) == ErrorKind.THROUGHPUT
    assert classify(None, 401) == ErrorKind.AUTH
    assert classify(999999, 400) == ErrorKind.PERMANENT
    assert classify(3, 500) == ErrorKind.AUTH  # Meta answers missing capability with a 500


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (requests.ConnectTimeout("connect timed out"), "timeout"),
        (requests.ReadTimeout("read timed out"), "timeout"),
        (requests.ConnectionError("connection refused"), "connection_error"),
    ],
)
def test_timeouts_and_connection_errors_are_retryable(channel, meta, exc, code):
    meta.add(responses.POST, messages_url(channel), body=exc)

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_text(to=TO, text="Oi")

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.RETRYABLE, code)
    assert excinfo.value.retryable


def test_a_5xx_without_a_meta_body_is_retryable(channel, meta):
    meta.add(responses.POST, messages_url(channel), body="<html>Bad gateway</html>", status=502)

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_text(to=TO, text="Oi")

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.RETRYABLE, "http_502")


def test_retry_after_is_honoured_on_429(channel, meta):
    reply_with(meta, "error_130429_throughput.json", url=messages_url(channel), headers={"Retry-After": "17"})

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_text(to=TO, text="Oi")

    assert excinfo.value.retry_after == 17.0


@pytest.mark.parametrize(("code", "retry_after"), [(131048, 3600), (133016, 3600), (131057, 60)])
def test_long_delay_codes_are_retried_only_after_their_delay(channel, meta, code, retry_after):
    body = {"error": {"message": f"(#{code}) limit", "type": "OAuthException", "code": code, "fbtrace_id": "X"}}
    meta.add(responses.POST, messages_url(channel), json=body, status=429 if code != 131057 else 500)

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_text(to=TO, text="Oi")

    assert (excinfo.value.kind, excinfo.value.retry_after) == (ErrorKind.RETRYABLE, retry_after)


def test_the_per_user_marketing_limit_is_not_retried(channel, meta):
    body = {"error": {"message": "(#131049) healthy ecosystem", "type": "OAuthException", "code": 131049}}
    meta.add(responses.POST, messages_url(channel), json=body, status=400)

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_template(to=TO, template=TemplateCall(name="promo", language="pt_BR"))

    assert not excinfo.value.retryable


@pytest.mark.parametrize(
    "reply",
    [
        {"json": {"messaging_product": "whatsapp", "cpf": "529.982.247-25", "messages": []}},
        {"body": "ok, cpf 529.982.247-25"},
        {"json": ["not", "an", "object"]},
    ],
)
def test_an_unexpected_reply_is_a_permanent_bad_response_logged_masked(channel, meta, caplog, reply):
    meta.add(responses.POST, messages_url(channel), status=200, **reply)

    with caplog.at_level(logging.WARNING, logger="conversations.whatsapp.cloud"), pytest.raises(SendError) as excinfo:
        CloudProvider(channel).send_text(to=TO, text="Oi")

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "bad_response")
    assert "unexpected body" in caplog.text
    assert "982.247" not in caplog.text


def test_the_token_never_appears_in_errors_or_logs(channel, meta, caplog):
    token = channel.access_token
    echo = {"error": {"message": f"Invalid OAuth access token {token}", "code": 190, "error_data": {"details": token}}}
    meta.add(responses.POST, messages_url(channel), json=echo, status=401)
    meta.add(responses.POST, messages_url(channel), json={"echo": token}, status=200)

    caplog.set_level(logging.DEBUG)
    for _ in range(2):
        with pytest.raises(SendError) as excinfo:
            CloudProvider(channel).send_text(to=TO, text="Oi")
        error = excinfo.value
        assert token not in f"{error} {error!r} {error.message} {error.details}"

    assert token not in caplog.text


# ------------------------------------------------------------------------------ media


def test_media_is_fetched_in_two_steps_with_the_token_on_both(channel, meta):
    lookup = load_fixture("meta_api/media_url.json")["body"]
    meta.add(
        responses.GET,
        f"https://graph.facebook.com/{channel.api_version}/1234567890",
        json=lookup,
        match=[matchers.query_param_matcher({"phone_number_id": channel.phone_number_id})],
    )
    meta.add(responses.GET, lookup["url"], body=b"\xff\xd8jpeg-bytes", content_type="image/jpeg")

    fetched = CloudProvider(channel).fetch_media(media=MediaRef(media_id="1234567890"))

    assert (fetched.content, fetched.mime_type) == (b"\xff\xd8jpeg-bytes", "image/jpeg")
    bearer = f"Bearer {channel.access_token}"
    assert [call.request.headers["Authorization"] for call in meta.calls] == [bearer, bearer]


def test_media_with_only_a_url_is_downloaded_directly(channel, meta):
    meta.add(responses.GET, "https://lookaside.fbsbx.com/m?mid=1", body=b"ogg", content_type="audio/ogg")

    fetched = CloudProvider(channel).fetch_media(media=MediaRef(url="https://lookaside.fbsbx.com/m?mid=1"))

    assert fetched.content == b"ogg"


def test_media_larger_than_the_cap_is_refused(channel, meta):
    meta.add(responses.GET, "https://lookaside.fbsbx.com/big", body=b"x" * 11, content_type="video/mp4")

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel, max_media_bytes=10).fetch_media(media=MediaRef(url="https://lookaside.fbsbx.com/big"))

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "media_too_large")


def test_media_of_exactly_the_cap_is_accepted(channel, meta):
    meta.add(responses.GET, "https://lookaside.fbsbx.com/ok", body=b"x" * 10, content_type="video/mp4")

    fetched = CloudProvider(channel, max_media_bytes=10).fetch_media(
        media=MediaRef(url="https://lookaside.fbsbx.com/ok")
    )

    assert len(fetched.content) == 10


def test_an_expired_media_url_is_a_permanent_error(channel, meta):
    meta.add(responses.GET, "https://lookaside.fbsbx.com/gone", status=404)

    with pytest.raises(SendError) as excinfo:
        CloudProvider(channel).fetch_media(media=MediaRef(url="https://lookaside.fbsbx.com/gone"))

    assert (excinfo.value.kind, excinfo.value.code) == (ErrorKind.PERMANENT, "http_404")


@pytest.mark.parametrize("headers", [{}, {"Content-Length": "5"}])
def test_a_body_without_or_past_its_declared_size_is_still_cut_at_the_cap(headers):
    response = requests.Response()
    response.status_code, response.raw = 200, io.BytesIO(b"x" * 11)
    response.headers.update(headers)

    with pytest.raises(SendError) as excinfo:
        read_capped(response, 10)

    assert excinfo.value.code == "media_too_large"
