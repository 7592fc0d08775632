"""The template management client against Meta's real response bodies (``responses``, no network)."""

import json

import pytest
import requests
import responses
from responses import matchers

from config.provider_errors import ErrorKind
from templates_meta.graph_api import LIST_FIELDS, TemplateApiError, TemplatesClient
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory

WABA = "102290129340398"
TOKEN = "EAAGsecrettoken000000000000000001"


@pytest.fixture
def channel(db):
    return CloudChannelFactory(waba_id=WABA, access_token=TOKEN)


@pytest.fixture
def meta():
    with responses.RequestsMock() as rsps:  # a request nothing matches fails the test
        yield rsps


def templates_url(channel) -> str:
    return f"https://graph.facebook.com/{channel.api_version}/{WABA}/message_templates"


def reply_with(meta, fixture: str, *, url: str, method: str = responses.GET, **kwargs) -> None:
    stored = load_fixture(f"meta_api/{fixture}")
    meta.add(method, url, json=stored["body"], status=stored["http_status"], **kwargs)


def test_list_follows_the_after_cursor_until_the_last_page(channel, meta):
    first = matchers.query_param_matcher({"fields": LIST_FIELDS, "limit": "100"})
    second = matchers.query_param_matcher({"fields": LIST_FIELDS, "limit": "100", "after": "QVFIUm9n"})
    reply_with(meta, "templates_list_page_1.json", url=templates_url(channel), match=[first])
    reply_with(meta, "templates_list_page_2.json", url=templates_url(channel), match=[second])

    templates = list(TemplatesClient(channel).list_templates(WABA))

    assert [t["name"] for t in templates] == ["fatura_aberta", "aviso_contrato", "promo_fibra"]
    assert templates[2]["rejected_reason"] == "PROMOTIONAL"
    assert len(meta.calls) == 2  # page 2 has no paging.next: its cursor is not followed
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in meta.calls)


def test_create_posts_the_body_and_returns_meta_s_id_status_and_category(channel, meta):
    reply_with(meta, "template_create_success.json", url=templates_url(channel), method=responses.POST)
    body = {"name": "fatura_disponivel", "language": "pt_BR", "category": "UTILITY", "components": []}

    created = TemplatesClient(channel).create(WABA, body)

    assert created == {"id": "1085384356478504", "status": "PENDING", "category": "UTILITY"}
    assert json.loads(meta.calls[0].request.body) == body


def test_a_duplicate_is_refused_with_meta_s_words_and_codes(channel, meta):
    reply_with(meta, "template_create_duplicate_error.json", url=templates_url(channel), method=responses.POST)

    with pytest.raises(TemplateApiError) as caught:
        TemplatesClient(channel).create(WABA, {"name": "fatura_aberta"})

    error = caught.value
    assert str(error).startswith("Meta refused the template: Content in This Language Already Exists")
    assert "There is already Portuguese (BR) content for this template" in str(error)
    assert "(error 100, subcode 2388024)" in str(error)
    assert error.code == "100"
    assert error.details["subcode"] == 2388024
    assert error.details["fbtrace_id"] == "AEP1ZbOmR3fH8TzbZsR6"
    assert not error.retryable


def test_edit_posts_only_what_changes_to_the_template_id(channel, meta):
    url = f"https://graph.facebook.com/{channel.api_version}/1085384356478501"
    meta.add(responses.POST, url, json={"success": True})
    components = [{"type": "BODY", "text": "Olá {{1}}, tudo bem?", "example": {"body_text": [["Maria"]]}}]

    assert TemplatesClient(channel).edit("1085384356478501", components=components) == {"success": True}
    assert json.loads(meta.calls[0].request.body) == {"components": components}


def test_delete_names_the_template_and_its_hsm_id(channel, meta):
    match = matchers.query_param_matcher({"name": "fatura_aberta", "hsm_id": "1085384356478501"})
    reply_with(meta, "template_delete_success.json", url=templates_url(channel), method=responses.DELETE, match=[match])

    assert TemplatesClient(channel).delete(WABA, "fatura_aberta", template_id="1085384356478501") == {"success": True}


def test_the_token_never_appears_in_an_error(channel, meta):
    body = {
        "error": {
            "message": f"Invalid OAuth access token - Cannot parse access token {TOKEN}",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": "A1",
        }
    }
    meta.add(responses.GET, templates_url(channel), json=body, status=401)

    with pytest.raises(TemplateApiError) as caught:
        list(TemplatesClient(channel).list_templates(WABA))

    error = caught.value
    assert TOKEN not in str(error)
    assert TOKEN not in json.dumps(error.details)
    assert "Meta refused to list the templates" in str(error)
    assert "(error 190)" in str(error)
    assert "access token" in str(error)
    assert error.kind == ErrorKind.AUTH


def test_a_network_failure_is_retryable_and_says_so(channel, meta):
    meta.add(responses.POST, templates_url(channel), body=requests.ConnectionError(f"refused for {TOKEN}"))

    with pytest.raises(TemplateApiError) as caught:
        TemplatesClient(channel).create(WABA, {"name": "x"})

    assert caught.value.retryable
    assert caught.value.kind == ErrorKind.RETRYABLE
    assert str(caught.value).startswith("Could not reach Meta to submit the template")
    assert TOKEN not in str(caught.value)


def test_a_meta_outage_is_retryable(channel, meta):
    meta.add(responses.GET, templates_url(channel), body="<html>Bad gateway</html>", status=502)

    with pytest.raises(TemplateApiError) as caught:
        list(TemplatesClient(channel).list_templates(WABA))

    assert caught.value.retryable
    assert "(HTTP 502)" in str(caught.value)


def test_an_unexpected_body_is_a_clear_permanent_error(channel, meta):
    meta.add(responses.POST, templates_url(channel), json={"weird": True})

    with pytest.raises(TemplateApiError) as caught:
        TemplatesClient(channel).create(WABA, {"name": "x"})

    assert str(caught.value) == "Unexpected reply from Meta when trying to submit the template."
    assert not caught.value.retryable
