"""Every outgoing HTTP request goes through here: default timeouts, our User-Agent, masked logs.

It does not retry: retrying is the task's decision (see the sending engine). A provider that must put a
credential in the URL itself (an SMS gateway's query string) calls inside :func:`hiding`, so neither
these logs nor urllib3's own lines show it.
"""

import contextlib
import contextvars
import logging
from collections.abc import Iterator
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
    logger.warning("HTTP %s %s failed: %s", method, mask_text(hide(url)), mask_text(hide(str(exc))))


def log_answer(method: str, url: str, status: int) -> None:
    level = logging.INFO if status < 400 else logging.WARNING
    if logger.isEnabledFor(level):  # masking is regex work: not for a line nobody keeps (1,000 sends/s)
        logger.log(level, "HTTP %s %s -> %s", method, mask_text(hide(url)), status)


# ------------------------------------------------------------------------------ values kept out of logs

# (text, shown instead) pairs of the calls in flight in this thread or task; longest texts first.
_hidden: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar("http_hidden", default=())
HIDDEN = "***"


def hide(text: str) -> str:
    """``text`` with what the current :func:`hiding` blocks hide replaced."""
    for value, shown in _hidden.get():
        text = text.replace(value, shown)
    return text


@contextlib.contextmanager
def hiding(*secrets: str, shown: dict[str, str] | None = None) -> Iterator[None]:
    """While the block runs, each of ``secrets`` reads ``***`` and each key of ``shown`` its value in
    this module's log lines and urllib3's (which print the request line at DEBUG), and in :func:`hide`.

    For credentials a provider wants in the URL: the mask of ``config.masking`` only knows values by
    their names (``password=``), and a gateway may call its password ``h``.
    """
    pairs = {value: HIDDEN for value in secrets if value} | {
        value: text for value, text in (shown or {}).items() if value
    }
    ordered = tuple(sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True))
    token = _hidden.set(_hidden.get() + ordered)
    try:
        yield
    finally:
        _hidden.reset(token)


class _HidingFilter(logging.Filter):
    """On urllib3's loggers: their records leave with the hidden values replaced (cheap when none is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _hidden.get():
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = hide(message), ()
        if record.exc_info:
            record.exc_text = hide(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# A filter applies to the records of the logger it is on, not of its children: each urllib3 module that
# logs a URL (the request line, retries, redirects, connection warnings) gets it.
_HIDING_FILTER = _HidingFilter()
for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "urllib3.poolmanager"):
    logging.getLogger(_name).addFilter(_HIDING_FILTER)


def session(*, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> OutgoingSession:
    """A new session; callers keep one per provider instance to reuse connections."""
    return OutgoingSession(timeout=timeout)
