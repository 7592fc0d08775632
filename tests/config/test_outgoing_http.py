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
