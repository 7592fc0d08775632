"""How the client talks to Chatwoot: timeouts, retries for what a retry can fix, answers turned into clear errors.

A connection error, a timeout, a 5xx or a 429 is tried again a few times with exponential backoff and
jitter (tenacity); anything else is answered at once. Every request goes through ``config.http`` (its
logs mask secrets); no answer body is logged, and no error message holds the API token.

A create whose answer was lost (a read timeout, a 504 from a proxy) may have been made before it is
tried again: a contact then answers 422 "already been taken" and is found (see the client); a message
carries the ``source_id`` its caller gave, by which the caller can tell.
"""

import json
from typing import Any

import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from companies.erp.transport import page_text
from config import http
from config.masking import mask_text
from conversations.chatwoot.errors import ChatwootError

TIMEOUT = (5, 15)  # connect, read: an upload of a customer's video takes a while
ATTEMPTS = 3
DETAIL_LIMIT = 200


_UNUSABLE_URL = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)


class _Retryable(Exception):
    def __init__(self, error: ChatwootError) -> None:
        self.error = error


class ChatwootTransport:
    """One Chatwoot account reached with one user's API access token (the ``api_access_token`` header)."""

    def __init__(
        self,
        *,
        base_url: str,
        account_id: int,
        token: str,
        timeout: tuple[float, float] = TIMEOUT,
        attempts: int = ATTEMPTS,
        max_wait: float = 4.0,
    ) -> None:
        self.root = f"{base_url.rstrip('/')}/api/v1/accounts/{account_id}"
        self.token = token
        self.attempts, self.max_wait = attempts, max_wait
        self.session = http.session(timeout=timeout)
        self.session.headers["api_access_token"] = token

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Chatwoot's JSON answer to ``method`` on ``path`` (under the account); ChatwootError otherwise.

        ``kwargs`` go to requests (``json``, ``data``, ``files``, ``params``).
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(initial=0.25, max=self.max_wait),
            retry=retry_if_exception_type(_Retryable),
            reraise=False,
        )
        with http.hiding(self.token):
            try:
                response = retrying(self._once, method, path, **kwargs)
            except RetryError as exc:
                raise exc.last_attempt.exception().error from None
            return self._decode(method, path, response)

    def _once(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        what = f"{method} {path}"
        try:
            response = self.session.request(method, self.root + path, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise _Retryable(ChatwootError(f"Chatwoot did not answer {what} in time.", retryable=True)) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            reason = type(exc).__name__
            error = ChatwootError(f"Chatwoot could not be reached for {what} ({reason}).", retryable=True)
            raise _Retryable(error) from None
        except _UNUSABLE_URL as exc:
            # No scheme, a bad host: the base URL setting is wrong, and retrying will not help.
            raise ChatwootError(f"Chatwoot's base URL cannot be used ({type(exc).__name__}).") from None
        except requests.RequestException as exc:
            # An InvalidHeader (a token with a line break, say): its text would show the header's value.
            raise ChatwootError(f"Chatwoot could not be asked {what} ({type(exc).__name__}).") from None
        status = response.status_code
        if status >= 500 or status == 429:
            detail = self._detail(response)
            message = f"Chatwoot is failing (HTTP {status}) for {what}{': ' + detail if detail else ''}."
            raise _Retryable(ChatwootError(message, status=status, retryable=True))
        return response

    def _decode(self, method: str, path: str, response: requests.Response) -> Any:
        status, what = response.status_code, f"{method} {path}"
        if 300 <= status < 400:
            # Not followed: an API answers no redirect, and where it points (http:// to https://, a login page)
            # tells the operator what to fix in the base URL.
            target = self._clean(response.headers.get("Location", ""))[:DETAIL_LIMIT]
            raise ChatwootError(
                f"Chatwoot answered {what} with a redirect (HTTP {status}) to {target or '?'}: check the base URL.",
                status=status,
            )
        if status in (401, 403):
            # Chatwoot's own hint: a proxy that drops headers with underscores (nginx's default) loses the token.
            raise ChatwootError(
                f"Chatwoot refused the API access token (HTTP {status}) for {what}: check the token, its user's "
                "access to the inbox, and that any proxy in front of Chatwoot keeps headers with underscores "
                "(nginx: underscores_in_headers on).",
                status=status,
            )
        if status >= 400:
            detail = self._detail(response)
            raise ChatwootError(
                f"Chatwoot answered HTTP {status} to {what}{': ' + detail if detail else ''}.", status=status
            )
        body = response.text
        if not body.strip():
            raise ChatwootError(f"Chatwoot answered {what} with an empty body.", status=status)
        if body.lstrip().startswith("<"):
            words = self._clean(page_text(body))
            raise ChatwootError(
                f"Chatwoot answered {what} with an HTML page instead of JSON: {words!r}.", status=status
            )
        try:
            return json.loads(body)
        except ValueError:
            raise ChatwootError(f"Chatwoot answered {what} with something that is not JSON.", status=status) from None

    def _detail(self, response: requests.Response) -> str:
        """Chatwoot's reason, from its error bodies (``{"error": ...}``, ``{"message": ...}``) or an error page."""
        body = response.text
        if body.lstrip().startswith("<"):
            return self._clean(page_text(body))
        try:
            parsed = json.loads(body)
        except ValueError:
            return ""
        if not isinstance(parsed, dict):
            return ""
        reason = parsed.get("message") or parsed.get("error") or parsed.get("errors") or ""
        if isinstance(reason, list):
            reason = ", ".join(str(item) for item in reason)
        return self._clean(str(reason))[:DETAIL_LIMIT]

    def _clean(self, text: str) -> str:
        """``text`` as it may go into an error message: without the token, secrets and CPF/CNPJ masked."""
        if self.token:
            text = text.replace(self.token, http.HIDDEN)
        return mask_text(text)
