"""API calls from an event loop (config.async_http): made as ``OutgoingSession.api`` makes them, against real servers
on 127.0.0.1."""

import asyncio
import contextlib
import ssl

import aiohttp
import pytest
from aiohttp import web

from config import http
from config.async_http import AsyncOutgoing


@contextlib.asynccontextmanager
async def serving(routes: web.RouteTableDef):
    """An aiohttp server on 127.0.0.1 for the length of the block; yields its base URL."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_a_call_carries_our_headers_and_json_keeps_no_cookie_and_follows_no_redirect():
    seen: list[dict] = []
    routes = web.RouteTableDef()

    @routes.post("/v23.0/1/messages")
    async def send(request: web.Request) -> web.Response:
        seen.append({"headers": dict(request.headers), "body": await request.read()})
        response = web.json_response({"messages": [{"id": "wamid.1"}]})
        response.set_cookie("fr", "tracking")
        return response

    @routes.get("/v23.0/media")
    async def moved(request: web.Request) -> web.Response:
        seen.append({"headers": dict(request.headers), "body": b""})
        raise web.HTTPFound("http://127.0.0.1:9/elsewhere")

    async def calls():
        client = AsyncOutgoing(timeout=(2, 7))
        async with serving(routes) as base:
            first = await client.api(
                "POST", f"{base}/v23.0/1/messages", headers={"Authorization": "Bearer EAAG"}, json={"to": "5544"}
            )
            await client.api("POST", f"{base}/v23.0/1/messages", json={"to": "5545"})
            moved_answer = await client.api("GET", f"{base}/v23.0/media")
        await client.close()
        return client, first, moved_answer

    client, first, moved_answer = asyncio.run(calls())
    assert (first.status, first.body) == (200, b'{"messages": [{"id": "wamid.1"}]}')
    assert first.headers["Content-Type"].startswith("application/json")
    headers = seen[0]["headers"]
    assert headers["User-Agent"] == http.USER_AGENT
    assert headers["Authorization"] == "Bearer EAAG"
    assert headers["Content-Type"] == "application/json"
    assert seen[0]["body"] == b'{"to": "5544"}'
    assert "Cookie" not in seen[1]["headers"]  # Meta's cookie was not kept for the next call
    assert "Authorization" not in seen[1]["headers"]  # nor a header of the call before
    assert moved_answer.status == 302 and len(seen) == 3  # answered as it is, not followed
    assert (client.timeout.connect, client.timeout.sock_read) == (2, 7)


def test_proxy_variables_are_honoured_per_host_as_requests_reads_them(monkeypatch):
    through_proxy: list[str] = []
    direct: list[str] = []
    proxy_routes, api_routes = web.RouteTableDef(), web.RouteTableDef()

    @proxy_routes.post("/{tail:.*}")
    async def proxied(request: web.Request) -> web.Response:
        through_proxy.append(str(request.url))  # a proxy is asked for the whole URL
        return web.json_response({"ok": True})

    @api_routes.post("/{tail:.*}")
    async def reached(request: web.Request) -> web.Response:
        direct.append(request.path)
        return web.json_response({"ok": True})

    async def calls():
        client = AsyncOutgoing()
        async with serving(proxy_routes) as proxy, serving(api_routes) as api:
            monkeypatch.setenv("HTTP_PROXY", proxy)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            await client.api("POST", "http://graph.facebook.com/v23.0/1/messages", json={})
            await client.api("POST", f"{api}/webhook", json={})
        await client.close()

    asyncio.run(calls())
    assert through_proxy == ["http://graph.facebook.com/v23.0/1/messages"]
    assert direct == ["/webhook"]  # NO_PROXY still applies per host


def test_tls_is_verified_against_requests_ca_bundle():
    proxy, tls = AsyncOutgoing()._route("https://graph.facebook.com/v23.0/1/messages")
    assert proxy is None
    assert isinstance(tls, ssl.SSLContext)
    assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname
    assert tls.get_ca_certs()  # the certifi bundle requests uses, loaded


def test_a_call_that_cannot_connect_raises_and_logs_masked(caplog):
    async def call():
        client = AsyncOutgoing(timeout=(0.5, 0.5))
        try:
            await client.api("POST", "http://127.0.0.1:9/v23.0/1/messages?access_token=EAAGsecret", json={})
        finally:
            await client.close()

    with pytest.raises(aiohttp.ClientConnectionError):
        asyncio.run(call())
    assert "EAAGsecret" not in caplog.text and "failed" in caplog.text


def test_a_slow_answer_times_out():
    routes = web.RouteTableDef()

    @routes.post("/slow")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def call():
        client = AsyncOutgoing(timeout=(1, 0.2))
        async with serving(routes) as base:
            try:
                await client.api("POST", f"{base}/slow", json={})
            finally:
                await client.close()

    with pytest.raises(TimeoutError):
        asyncio.run(call())


def test_the_ca_bundle_is_loaded_before_the_first_call_and_only_for_https(monkeypatch):
    from config import async_http

    async_http.tls_context.cache_clear()
    loads: list[str] = []
    real = ssl.create_default_context
    monkeypatch.setattr(async_http.ssl, "create_default_context", lambda **kw: loads.append(kw) or real(**kw))
    client = AsyncOutgoing()
    assert len(loads) == 1  # made with the client, not on the event loop when its first send is due
    assert client._route("http://127.0.0.1:8080/x")[1] is True  # plain HTTP: no context of ours
    client._route("https://graph.facebook.com/v23.0/1/messages")
    client._route("https://other.example/")
    assert len(loads) == 1
