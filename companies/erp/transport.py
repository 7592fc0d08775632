"""How an adapter talks to its ERP: timeouts, retries with backoff for what a retry can fix, and
answers that are not the API's (an HTML error page, an empty body) turned into clear errors.

Retrying is tenacity's: a connection error, a timeout, a 5xx or a 429 is tried again a few times
with exponential backoff and jitter; anything else is answered at once. Every request goes through
``config.http`` (its logs mask secrets and CPF/CNPJ); no answer body is ever logged.
"""

import html
import json
import logging
import re
from typing import Any

import requests
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from companies.erp.base import ErpAuthFailed, ErpBadAnswer, ErpUnavailable
from config import http
from config.masking import mask_text

logger = logging.getLogger(__name__)

TIMEOUT = (3.05, 10)  # connect, read: a customer waits on the bot's answer
ATTEMPTS = 3
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


class _Retryable(Exception):
    def __init__(self, error: ErpUnavailable) -> None:
        self.error = error


def page_text(body: str, *, limit: int = 200) -> str:
    """The words of an HTML error page (``<div ...>Ocorreu um erro ...</div>`` → ``Ocorreu um erro ...``),
    CPF/CNPJ and secrets masked: they go into error messages, and a PHP error page may echo the request."""
    words = _SPACES.sub(" ", html.unescape(_TAGS.sub(" ", body))).strip()
    return mask_text(words)[:limit]


class ErpTransport:
    """One ERP's HTTP: ``name`` (e.g. "IXC") goes into every error message."""

    def __init__(
        self,
        name: str,
        *,
        verify_tls: bool = True,
        timeout: tuple[float, float] = TIMEOUT,
        attempts: int = ATTEMPTS,
        max_wait: float = 4.0,
    ) -> None:
        self.name = name
        self.session = http.session(timeout=timeout)
        self.session.verify = verify_tls
        self.attempts = attempts
        self.max_wait = max_wait

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The ERP's answer; raises ErpUnavailable once the retries are spent, ErpAuthFailed on 401/403."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(initial=0.25, max=self.max_wait),
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            reraise=False,
        )
        try:
            response = retrying(self._once, method, url, **kwargs)
        except RetryError as exc:
            raise exc.last_attempt.exception().error from None
        if response.status_code in (401, 403):
            raise ErpAuthFailed(f"{self.name} refused the credentials (HTTP {response.status_code}).")
        return response

    def _once(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise _Retryable(ErpUnavailable(f"{self.name} did not answer in time.")) from None
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise _Retryable(ErpUnavailable(f"{self.name} could not be reached ({reason}).")) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retryable(ErpUnavailable(f"{self.name} is failing (HTTP {response.status_code})."))
        return response

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """The ERP's JSON answer; an HTML page, an empty or non-JSON body, a redirect or a 4xx is ErpBadAnswer."""
        return self.decode(self.request(method, url, **kwargs))

    def decode(self, response: requests.Response) -> Any:
        body = response.text
        if 300 <= response.status_code < 400:
            # Redirects are not followed: a body beside one is no API answer, and where it points (often
            # http:// to https://, or to a login page) tells the operator what to fix in the ERP's URL.
            target = mask_text(http.hide(response.headers.get("Location", "")))[:200]
            raise ErpBadAnswer(f"{self.name} answered a redirect (HTTP {response.status_code}) to {target or '?'}.")
        if response.status_code >= 400:
            detail = page_text(body) if body.lstrip().startswith("<") else ""
            raise ErpBadAnswer(f"{self.name} answered HTTP {response.status_code}{': ' + detail if detail else ''}.")
        if not body.strip():
            raise ErpBadAnswer(f"{self.name} answered an empty body.")
        if body.lstrip().startswith("<"):
            raise ErpBadAnswer(f"{self.name} answered an HTML page instead of JSON: {page_text(body)!r}.")
        try:
            return json.loads(body)
        except ValueError:
            raise ErpBadAnswer(f"{self.name} answered something that is not JSON.") from None
