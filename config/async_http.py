"""``OutgoingSession.api`` for code on an event loop (the sending engine): the same call, made with aiohttp.

One client per event loop keeps the connections to each API open between calls. What applies to a
synchronous call applies here: our User-Agent, the connect and read timeouts, the proxy and CA-bundle
variables as requests reads them (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...), no cookie
kept, no redirect followed, the same masked log lines. It does not retry: that is the caller's decision.
"""

import functools
import json as jsonlib
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from config.http import DEFAULT_TIMEOUT, USER_AGENT, OutgoingSession, log_answer, log_failure


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read whole."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class AsyncOutgoing:
    """Calls to JSON APIs from one event loop; made (and closed) on that loop."""

    def __init__(self, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT, connections: int = 100) -> None:
        self.timeout = aiohttp.ClientTimeout(connect=timeout[0], sock_read=timeout[1])
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None
        # requests' reading of the environment, so both transports reach an API the same way.
        self._environment = OutgoingSession()
        self._routes: dict[tuple[str, str], tuple[str | None, ssl.SSLContext | bool]] = {}
        # Loading a CA bundle parses every certificate: here, not on the event loop at its first call (its sends wait).
        tls_context(self._environment.merge_environment_settings("https://localhost/", {}, None, None, None)["verify"])

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections),
                headers={"User-Agent": USER_AGENT},
                timeout=self.timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def _route(self, url: str) -> tuple[str | None, ssl.SSLContext | bool]:
        """The proxy and TLS verification for ``url``'s host, worked out once per host as requests would."""
        scheme, host = urlsplit(url)[:2]
        if (scheme, host) not in self._routes:
            settings = self._environment.merge_environment_settings(url, {}, None, None, None)
            proxies = settings["proxies"]
            tls = tls_context(settings["verify"]) if scheme == "https" else True  # True: aiohttp's default
            self._routes[scheme, host] = (proxies.get(scheme) or proxies.get("all"), tls)
        return self._routes[scheme, host]

    async def api(self, method: str, url: str, *, headers: dict[str, str] | None = None, json: Any = None) -> Answer:
        """One call; raises aiohttp.ClientError or TimeoutError when no answer came."""
        proxy, tls = self._route(url)
        data = None
        headers = dict(headers or {})
        if json is not None:
            data = jsonlib.dumps(json, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            async with self._client().request(
                method, url, headers=headers, data=data, proxy=proxy, ssl=tls, allow_redirects=False
            ) as response:
                answer = Answer(response.status, response.reason or "", response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            log_failure(method, url, exc)
            raise
        log_answer(method, url, answer.status)
        return answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@functools.cache
def tls_context(verify: bool | str) -> ssl.SSLContext | bool:
    """A verifying TLS context for requests' ``verify`` setting: True (certifi's bundle), a bundle file or folder."""
    if verify is False:
        return False
    bundle = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)
