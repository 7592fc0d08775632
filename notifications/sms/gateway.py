"""The company's SMS gateway: an HTTP URL template, called with GET, its answer read as sent or refused.

The template (``Company.sms_url_template``) holds four placeholders, as Brazilian SMS gateways' HTTP
APIs take them: ``|USUARIO|`` (``sms_username``), ``|SENHA|`` (``sms_password``), ``|MENSAGEM|`` (the
text) and ``|CELULAR|`` (the number: digits with the country code, ``5544998887777``). Each value is
percent-encoded as UTF-8 with nothing kept safe (``urllib.parse.quote(value, safe="")``), so ``&``,
``#``, ``+``, accents and line breaks reach the gateway as typed and never break the query.

The password travels in the URL, so it is kept out of every log line (``config.http.hiding``), out of
the exceptions raised here and out of the stored answer; logs show the URL without its query.

Reading the answer (gateways rarely use HTTP statuses for their errors):

- 2xx: sent, unless the body says otherwise: an error word (erro, error, falha, fail, inválido,
  invalid, negado, denied, saldo insuficiente, ...), JSON ``{"status": "error"}`` or ``{"success":
  false}``, or an HTML page (a login or error page, not an API answer). Then refused, with its words.
- 3xx: refused; the template should name the final address (no redirect is followed with the password).
- 408, 429 and 5xx: worth retrying. Any other 4xx: refused (401 and 403: the credentials).
- No connection (refused, unknown host, connect timeout): worth retrying, the gateway never saw it.
- Connected but no answer (read timeout, connection dropped): the gateway may have taken the SMS, so
  :attr:`SmsError.maybe_sent` is set and the caller does not send it again.
"""

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from companies.models import Company
from config import http
from config.masking import mask_text

PLACEHOLDERS = ("|USUARIO|", "|SENHA|", "|MENSAGEM|", "|CELULAR|")
REQUIRED = ("|MENSAGEM|", "|CELULAR|")
_PLACEHOLDER = re.compile(r"\|(USUARIO|SENHA|MENSAGEM|CELULAR)\|")

TIMEOUT = (5, 20)  # connect, read (seconds): a gateway answers at once or is in trouble
MAX_BODY_BYTES = 16 * 1024  # an answer is a line or a small JSON; more is read no further
MAX_ANSWER_CHARS = 300  # what is kept of it

# Words of a refusal, as gateways answer them in Portuguese and English (compared without accents).
_ERROR_WORDS = re.compile(
    r"\b(?:erro\w*|falh\w*|fail\w*|invalid\w*|negad[oa]s?|denied|recusad[oa]s?|rejeitad[oa]s?|rejected"
    r"|saldo insuficiente|sem saldo|sem credito\w*|insufficient|unauthori[sz]ed|nao autorizad[oa])\b"
)
_FAILED_STATUSES = {"error", "erro", "fail", "failed", "failure", "falha", "invalid", "denied", "rejected"}
_MESSAGE_KEYS = ("message", "mensagem", "msg", "error", "erro", "detail", "details", "description", "descricao")


@dataclass(frozen=True)
class Accepted:
    """The gateway took the SMS; ``answer`` is what it said, summarised (``HTTP 200: OK 8812``)."""

    answer: str


class SmsError(Exception):
    """The SMS was not (or may not have been) sent: ``retryable`` says whether trying again can help,
    ``maybe_sent`` that the gateway may have taken it (so it must not be sent again)."""

    def __init__(
        self, message: str, *, code: str, retryable: bool = False, maybe_sent: bool = False, answer: str = ""
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.answer = message, code, answer
        self.retryable, self.maybe_sent = retryable, maybe_sent


class NotConfigured(Exception):
    """The company's gateway settings cannot send: the reason says what is missing."""


def configuration_problem(company: Company) -> str:
    """Why ``company`` cannot send SMS, or "" when its gateway settings are usable."""
    template = company.sms_url_template.strip()
    if not template:
        return "No SMS gateway URL template is set for the company."
    try:
        parts = urlsplit(template)
        parts.port  # noqa: B018 (read for its check: a port that is not a number raises)
    except ValueError:
        return "The SMS gateway URL template is not a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The SMS gateway URL template must start with http:// or https:// and name a host."
    missing = [name for name in REQUIRED if name not in template]
    if missing:
        return f"The SMS gateway URL template lacks {' and '.join(missing)}."
    return ""


def gateway_for(company: Company) -> "UrlTemplateGateway":
    """The company's gateway; raises :class:`NotConfigured` when its settings cannot send."""
    if problem := configuration_problem(company):
        raise NotConfigured(problem)
    return UrlTemplateGateway(
        url_template=company.sms_url_template.strip(),
        username=company.sms_username,
        password=company.sms_password,
        timeout=TIMEOUT,
    )


class UrlTemplateGateway:
    def __init__(self, *, url_template: str, username: str, password: str, timeout: tuple[float, float] = TIMEOUT):
        self.url_template, self.username, self._password, self.timeout = url_template, username, password, timeout

    def url(self, *, to: str, text: str) -> str:
        """The template filled in one pass (a value that looks like a placeholder stays a value)."""
        values = {"USUARIO": self.username, "SENHA": self._password, "MENSAGEM": text, "CELULAR": to}
        return _PLACEHOLDER.sub(lambda match: quote(values[match.group(1)], safe=""), self.url_template)

    def send(self, *, to: str, text: str) -> Accepted:
        """GET the filled template; returns what the gateway answered, or raises :class:`SmsError`."""
        url = self.url(to=to, text=text)
        secrets = (self._password, quote(self._password, safe=""))
        try:
            shown = _shown(url)
        except (ValueError, requests.RequestException):
            raise SmsError("The SMS gateway URL template does not make a valid URL.", code="request_error") from None
        failure: SmsError | None = None
        # A fresh connection per SMS: a pooled one the gateway closed meanwhile would fail after the
        # request was written, which reads as "maybe sent" and would cost the SMS its retry.
        with http.hiding(*secrets, shown=shown), http.session(timeout=self.timeout) as session:
            try:
                response = session.get(url, allow_redirects=False, stream=True)
                with response:
                    body = _read(response)
            except requests.RequestException as exc:
                failure = _transport_failure(exc)
        if failure is not None:  # raised outside the except block: the original, with the URL, is not chained
            raise failure
        return read_answer(response.status_code, body, secrets=secrets)


def _shown(url: str) -> dict[str, str]:
    """What logs show for the filled URL (and its request line): no query, no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path or "/"
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    prepared = requests.Request("GET", url).prepare()
    shown_path = f"{path}?…" if parts.query else path
    return {
        url: f"{parts.scheme}://{netloc}{shown_path}",
        prepared.url or "": f"{parts.scheme}://{netloc}{shown_path}",
        prepared.path_url: shown_path,
        target: shown_path,
    }


def _read(response: requests.Response) -> str:
    chunks, size = [], 0
    for chunk in response.iter_content(4096):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
    raw = b"".join(chunks)[:MAX_BODY_BYTES]
    return raw.decode(response.encoding or "utf-8", errors="replace")


def _transport_failure(exc: requests.RequestException) -> SmsError:
    said = http.hide(mask_text(str(exc)))
    if isinstance(exc, requests.exceptions.SSLError):
        return SmsError(f"The gateway's TLS certificate was refused: {said}", code="tls_error")
    if isinstance(exc, requests.ConnectTimeout):
        return SmsError(f"Could not connect to the gateway in time: {said}", code="timeout", retryable=True)
    if isinstance(exc, requests.ConnectionError) and _never_connected(exc):
        return SmsError(f"Could not connect to the gateway: {said}", code="connection_error", retryable=True)
    if isinstance(exc, requests.ReadTimeout | requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return SmsError(
            f"The gateway took the request but gave no answer, so it may have sent the SMS: {said}",
            code="outcome_unknown",
            retryable=True,
            maybe_sent=True,
        )
    return SmsError(f"The request to the gateway could not be made: {said}", code="request_error")


def _never_connected(exc: requests.ConnectionError) -> bool:
    # requests wraps urllib3's MaxRetryError; its reason says where it failed. NewConnectionError (refused,
    # unreachable, unknown host) means no request was written.
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def read_answer(status: int, body: str, *, secrets: tuple[str, ...] = ()) -> Accepted:
    """The gateway's answer as :class:`Accepted`, or :class:`SmsError` raised with its words."""
    words = _summary(body, secrets)
    answer = f"HTTP {status}: {words}" if words else f"HTTP {status}"
    if 200 <= status < 300:
        if refusal := _refusal(body):
            refused = f"The gateway refused the SMS: {_summary(refusal, secrets)}"
            raise SmsError(refused, code="gateway_error", answer=answer)
        return Accepted(answer)
    if 300 <= status < 400:
        redirect = f"The gateway answered HTTP {status} (a redirect): put the address it points to in the URL template."
        raise SmsError(redirect, code="redirect", answer=answer)
    if status in (408, 429) or status >= 500:
        unavailable = f"The gateway is unavailable (HTTP {status}): {words or 'no details'}"
        raise SmsError(unavailable, code=f"http_{status}", retryable=True, answer=answer)
    code = "credentials_refused" if status in (401, 403) else f"http_{status}"
    raise SmsError(f"The gateway refused the SMS (HTTP {status}): {words or 'no details'}", code=code, answer=answer)


def _summary(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, http.HIDDEN)
    text = mask_text(" ".join(text.split()))
    return text if len(text) <= MAX_ANSWER_CHARS else f"{text[: MAX_ANSWER_CHARS - 1]}…"


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _refusal(body: str) -> str:
    """What in a 2xx body says the SMS was refused ("" when nothing does)."""
    text = body.strip()
    if text.startswith("<"):
        return f"an HTML page instead of an API answer ({text[:120]})"
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _json_refusal(data)
    return text if _ERROR_WORDS.search(_plain(text)) else ""


def _json_refusal(data: dict[str, Any]) -> str:
    status = data.get("status")
    failed = (isinstance(status, str) and _plain(status) in _FAILED_STATUSES) or any(
        data.get(key) is False for key in ("success", "sucesso", "ok")
    )
    error = data.get("error", data.get("erro"))
    if not failed and not (error is True or (isinstance(error, str | dict | list) and error)):
        return ""
    for key in _MESSAGE_KEYS:
        value = data.get(key)
        if value and value is not True:
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return json.dumps(data, ensure_ascii=False)
