"""Outgoing HTTP sessions (config.http): the environment read once per host, credentials never from ~/.netrc."""

import pytest
import requests
import responses

from config import http


@pytest.fixture
def environment_reads(monkeypatch):
    reads: list[str] = []
    real = requests.sessions.get_environ_proxies

    def counted(url, no_proxy=None):
        reads.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    return reads


def test_proxy_variables_are_honoured_and_read_once_per_host(monkeypatch, environment_reads):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.isp.example:3128")
    monkeypatch.setenv("NO_PROXY", "erp.isp.example")
    session = http.session()
    settings = [
        session.merge_environment_settings(url, {}, None, True, None)
        for url in (
            "https://graph.facebook.com/v23.0/1/messages",
            "https://graph.facebook.com/v23.0/2/messages",
            "https://erp.isp.example/api/boletos",
        )
    ]
    assert settings[0]["proxies"]["https"] == "http://proxy.isp.example:3128"
    assert settings[1]["proxies"] == settings[0]["proxies"]
    assert "https" not in settings[2]["proxies"]  # NO_PROXY still applies per host
    assert environment_reads == ["https://graph.facebook.com/v23.0/1/messages", "https://erp.isp.example/api/boletos"]
    settings[0]["proxies"]["https"] = "changed by a caller"  # a copy: the next request is not affected
    again = session.merge_environment_settings("https://graph.facebook.com/x", {}, None, True, None)
    assert again["proxies"]["https"] == "http://proxy.isp.example:3128"


def test_a_callers_own_proxies_are_merged_as_requests_does(environment_reads):
    session = http.session()
    merged = session.merge_environment_settings("https://a.example/", {"https": "http://mine:1"}, None, True, None)
    assert merged["proxies"]["https"] == "http://mine:1"


@responses.activate
def test_credentials_are_never_taken_from_a_netrc_file(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine graph.facebook.com login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    responses.post("https://graph.facebook.com/v23.0/1/messages", json={"ok": True})
    responses.post("https://graph.facebook.com/v23.0/2/messages", json={"ok": True})
    session = http.session()
    session.post("https://graph.facebook.com/v23.0/1/messages", json={})
    session.post("https://graph.facebook.com/v23.0/2/messages", json={}, headers={"Authorization": "Bearer EAAG"})
    assert "Authorization" not in responses.calls[0].request.headers
    assert responses.calls[1].request.headers["Authorization"] == "Bearer EAAG"  # a caller's own header goes
    assert (
        requests.Session()
        .prepare_request(requests.Request("POST", "https://graph.facebook.com/v23.0/1/messages"))
        .headers.get("Authorization", "")
        .startswith("Basic")
    )  # what plain requests would have sent


@responses.activate
def test_an_api_call_goes_as_a_session_request_would_but_keeps_no_cookie_and_follows_no_redirect(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.isp.example:3128")
    url = "https://graph.facebook.com/v23.0/1/messages"
    responses.post(url, json={"messages": [{"id": "wamid.1"}]}, headers={"Set-Cookie": "fr=tracking; Path=/"})
    responses.get(
        "https://graph.facebook.com/v23.0/media", status=302, headers={"Location": "https://elsewhere.example/"}
    )
    session = http.session(timeout=(2, 7))
    sent = []
    adapter = session.get_adapter(url)
    real_send = adapter.send
    monkeypatch.setattr(adapter, "send", lambda request, **kwargs: sent.append(kwargs) or real_send(request, **kwargs))

    answer = session.api("POST", url, headers={"Authorization": "Bearer EAAG"}, json={"to": "5544998887777"})
    assert answer.json() == {"messages": [{"id": "wamid.1"}]}
    request = responses.calls[0].request
    assert request.headers["User-Agent"] == http.USER_AGENT
    assert request.headers["Authorization"] == "Bearer EAAG"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == b'{"to": "5544998887777"}'
    assert sent[0]["timeout"] == (2, 7)
    assert sent[0]["proxies"]["https"] == "http://proxy.isp.example:3128"
    assert not session.cookies  # a plain session.post would have kept Meta's cookie for the next call

    moved = session.api("GET", "https://graph.facebook.com/v23.0/media", params={"phone_number_id": "1"})
    assert moved.status_code == 302 and len(responses.calls) == 2  # answered as it is, not followed
    assert responses.calls[1].request.url == "https://graph.facebook.com/v23.0/media?phone_number_id=1"


def test_an_api_call_that_cannot_connect_raises_as_requests_does(caplog):
    session = http.session(timeout=(0.5, 0.5))
    with pytest.raises(requests.ConnectionError):
        session.api("POST", "http://127.0.0.1:9/v23.0/1/messages?access_token=EAAGsecret", json={})
    assert "EAAGsecret" not in caplog.text and "failed" in caplog.text
