"""Every outgoing HTTP request goes through here: default timeouts, our User-Agent, masked logs.

It does not retry: retrying is the task's decision (see the sending engine).
"""

import logging
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from config.masking import mask_text

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5, 30)  # connect, read (seconds)
USER_AGENT = "Ponte/1.0 (+WhatsApp middleware for ISPs)"


class _OwnCredentials(AuthBase):
    """Our requests carry their credentials themselves: none is ever taken from a ``~/.netrc``.

    requests looks for one on every request without an ``auth`` (a file lookup each time), and would
    attach what it finds to a provider call.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class OutgoingSession(requests.Session):
    def __init__(self, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        self.auth = _OwnCredentials()
        self._environment: dict[tuple, dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: str, proxies: dict[str, str] | None, stream: bool | None, verify: Any, cert: Any
    ) -> dict[str, Any]:
        """requests' merge of the proxy and CA-bundle variables, read once per host rather than per request.

        The variables do not change while the process runs, and reading them (``NO_PROXY`` matching
        included) on every request would take a noticeable share of a core at 1,000 sends/s.
        """
        if proxies:  # the caller's own proxies: merged as requests does
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = (urlsplit(url)[:2], stream, verify, cert)
        if key not in self._environment:
            self._environment[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        merged = self._environment[key]
        return {**merged, "proxies": dict(merged["proxies"])}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            log_failure(method, url, exc)
            raise
        log_answer(method, url, response.status_code)
        return response

    def api(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> requests.Response:
        """One call to a JSON API, handed straight to the transport adapter: no redirect followed, no cookie kept.

        ``request`` goes through what a session does for a browser-like client: merging its cookies, hooks
        and settings into every request, storing the cookies of every answer, following redirects. An API
        call needs none of it, and at 1,000 sends/s it would be a large share of each send's CPU. The
        proxy and CA-bundle variables, our User-Agent and the timeouts apply as in ``request``; a redirect
        comes back as the 3xx answer it is.
        """
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method, url=url, headers={**self.headers, **(headers or {})}, json=json, params=params)
        settings = self.merge_environment_settings(prepared.url, {}, None, None, None)
        try:
            response = self.get_adapter(prepared.url).send(prepared, timeout=self.timeout, **settings)
        except requests.RequestException as exc:
            log_failure(method, url, exc)
            raise
        log_answer(method, url, response.status_code)
        return response


def log_failure(method: str, url: str, exc: Exception) -> None:
    logger.warning("HTTP %s %s failed: %s", method, mask_text(url), mask_text(str(exc)))


def log_answer(method: str, url: str, status: int) -> None:
    level = logging.INFO if status < 400 else logging.WARNING
    if logger.isEnabledFor(level):  # masking is regex work: not for a line nobody keeps (1,000 sends/s)
        logger.log(level, "HTTP %s %s -> %s", method, mask_text(url), status)


def session(*, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> OutgoingSession:
    """A new session; callers keep one per provider instance to reuse connections."""
    return OutgoingSession(timeout=timeout)
