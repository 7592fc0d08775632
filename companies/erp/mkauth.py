"""MK-Auth through its REST API: customers (logins), their state, open titles, trust unlock.

API: https://wiki.mk-auth.com.br/doku.php?id=api_token (the token), and the routes bots have used for years
(Whaticket's ``providers.ts``, https://github.com/canove/whaticket-community). MK-Auth is self-hosted: the
base URL is the ISP's own server, often with a self-signed certificate (``erp_verify_tls``).

- Auth: ``GET {base}/api/`` with HTTP Basic ``client_id:client_secret`` answers the raw JWT as plain text;
  the wiki's sample lasts 600 s (``exp - iat``). It goes as ``Authorization: Bearer`` on every call, is kept
  in Django's cache per company and credentials for a little less than it lasts, and is asked for again
  once when a call answers 401 (or MK-Auth's message says the token is bad).
- One login, one contract. MK-Auth keeps one record per PPPoE/hotspot **login** (``sis_cliente``): its plan,
  its block, its titles. A person with two connections has two logins under one CPF. So the login is both
  the customer code and the contract id here: what an ISP's MK-Auth scripts send us (its ``sis_lanc``
  rows name the login), what ``cliente/show`` finds, and what a title belongs to.
- Customers: ``GET /api/cliente/show/{cpf_cnpj|login|uuid}``; the text ``NULL`` (or a "não encontrado"
  message) is nobody. Installs store the CPF/CNPJ as digits or formatted: it is asked as digits, then
  formatted. ``show`` may answer one row of a document with several logins.
- Phones: the API has no phone search. ``cliente/listar/pagina={n}?limite=500`` (older releases: the
  unpaged ``cliente/listagem``) is walked once, every field whose name says celular/telefone/fone/whatsapp
  is normalised (``companies.phones.whatsapp_numbers``), and the index is kept in Django's cache per
  company for ``PHONE_INDEX_SECONDS``. Its own cache rather than the registry's: the registry keeps each
  *phone's* answer, so every new contact would walk the whole listing again (tens of pages for a few
  thousand customers) while a customer waits on the bot. A phone changed in MK-Auth is seen once the
  index expires; until then the bot asks the CPF, which is always asked live.
- Titles: ``GET /api/titulo/titulos/{cpf_cnpj}`` → ``{"titulos": [...]}`` (paid ones too: only ``aberto``
  and ``vencido`` without ``datapag`` nor ``deltitulo`` are open) or ``{"mensagem": "... não encontrado"}``.
  Each carries ``linhadig`` and the PIX code (``pix``; older releases ``qrcode``). The boleto is an HTML
  page, ``{base}/boleto/21boleto.php?titulo={titulo}``: given as ``boleto_url`` (there are no PDF bytes).
  Its link is guessable from the title number, so it is never logged. A login without a CPF/CNPJ has its
  titles looked up in the title listing (below).
- Titles due in a range (reminders): the title listing (``titulo/listagem``, older ``titulo/listar``);
  an MK-Auth without either raises :class:`ErpNotSupported`.
- Trust unlock: ``GET /api/cliente/desbloqueio/{uuid_cliente}``. MK-Auth applies its own rules (days,
  once per period) and its answer's shape is not documented, so the login is read again: unblocked is
  granted (until ``rem_obs``, the end of its "observação"), still blocked is refused with MK-Auth's words.

Contract status, from the login's ``cli_ativado`` (s/n) and ``bloqueado`` (sim/nao):

- ``cli_ativado`` n (a deactivated login): CANCELLED.
- ``bloqueado`` sim: BLOCKED.
- Otherwise ACTIVE. MK-Auth's customer record has no reduced-speed, suspended or pending state (pending
  installations are "solicitações", not logins): BANDWIDTH_LIMITED, SUSPENDED and PENDING never come out.

Errors: MK-Auth answers ``{"mensagem": ...}`` for what it refuses (HTTP 200 or 4xx); a message-only answer
that is not "not found" is :class:`MkAuthRefused` with MK-Auth's words, masked.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import unicodedata
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.core.cache import cache

from companies import documents, phones
from companies.erp import checks
from companies.erp.base import (
    Contract,
    ContractStatus,
    Customer,
    ErpAuthFailed,
    ErpBadAnswer,
    ErpNotSupported,
    Invoice,
    TrustUnlock,
)
from companies.erp.transport import ErpTransport, page_text
from companies.models import Company
from config import http
from config.masking import mask_document, mask_text

logger = logging.getLogger(__name__)

NAME = "MK-Auth"
TOKEN_PATH = "/api/"  # noqa: S105 (a path, not a secret)
CLIENT_PAGE = "/api/cliente/listar/pagina={page}"
CLIENT_LISTING = "/api/cliente/listagem"
TITLE_LISTINGS = ("/api/titulo/listagem", "/api/titulo/listar")
BOLETO_PAGE = "/boleto/21boleto.php"
PAGE_SIZE = 500
MAX_PAGES = 400  # 200,000 logins: far past any MK-Auth install
PHONE_INDEX_SECONDS = 300
DEFAULT_TOKEN_SECONDS = 300  # when the JWT does not say (the wiki's lasts 600)
LISTING_TIMEOUT = (3.05, 60)  # the unpaged listings answer every row at once
PHONE_WORDS = ("celular", "telefone", "fone", "whatsapp")
_BASE_SUFFIXES = ("/api", "/admin", "/central")
_LOGIN = re.compile(r"^[^\s/?#%\\]{1,64}$")
_MESSAGE_KEYS = frozenset({"mensagem", "msg", "message", "erro", "error", "status", "sucesso", "success"})
_NOT_FOUND = re.compile(r"n[aã]o (?:encontrad|localizad|existe)|nenhum", re.IGNORECASE)
_CREDENTIALS = re.compile(r"token|jwt|autentica|authenticat|client_id|client_secret", re.IGNORECASE)
_OPEN = ("aberto", "vencido", "em aberto", "pendente", "atrasado")
_ABSENT = object()  # a route this MK-Auth release does not have (HTTP 404 / 405)


class MkAuthRefused(ErpBadAnswer):
    """MK-Auth answered its ``{"mensagem": ...}`` for something other than "not found"; ``words`` are its message."""

    def __init__(self, message: str, *, words: str) -> None:
        super().__init__(message)
        self.words = words


def contract_status(row: dict[str, Any]) -> ContractStatus:
    """The ContractStatus of a login's ``sis_cliente`` row (the rules in this module's docstring)."""
    if _plain(row.get("cli_ativado")) in ("n", "nao"):
        return ContractStatus.CANCELLED
    if _plain(row.get("bloqueado")) in ("sim", "s"):
        return ContractStatus.BLOCKED
    return ContractStatus.ACTIVE


class MkAuthAdapter:
    """One company's MK-Auth; ``transport_options`` (timeout, attempts, max_wait) go to its ErpTransport.

    ``owner`` (the company's pk) names the cache entries of its token and phone index; another URL or
    client uses other entries.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        verify_tls: bool = True,
        owner: object = "",
        **transport_options: Any,
    ) -> None:
        base = base_url.strip().rstrip("/")
        for suffix in _BASE_SUFFIXES:
            base = base.removesuffix(suffix)
        self.base_url = base
        self._basic = (client_id, client_secret)
        seen = hashlib.sha256(json.dumps([base, client_id, client_secret]).encode()).hexdigest()[:24]
        self._token_key = f"erp:{owner}:mkauth-token:{seen}"
        self._index_key = f"erp:{owner}:mkauth-phones:{seen}"
        self.transport = ErpTransport(NAME, verify_tls=verify_tls, **transport_options)
        listing = {**transport_options, "timeout": transport_options.get("timeout", LISTING_TIMEOUT)}
        self.listing_transport = ErpTransport(NAME, verify_tls=verify_tls, **listing)

    @classmethod
    def from_company(cls, company: Company, **transport_options: Any) -> MkAuthAdapter:
        return cls(
            company.erp_base_url,
            client_id=company.erp_client_id,
            client_secret=company.erp_client_secret,
            verify_tls=company.erp_verify_tls,
            owner=company.pk,
            **transport_options,
        )

    # ------------------------------------------------------------------ customers

    def find_customer_by_code(self, code: str) -> Customer | None:
        row = self._login_row(code)
        return _customer(row) if row else None

    def find_customers_by_document(self, document: str) -> list[Customer]:
        wanted = documents.canonical(document)
        if len(wanted) not in (11, 14):
            return []
        for form in dict.fromkeys((wanted, documents.formatted(wanted))):
            found = {c.code: c for c in map(_customer, self._show(form)) if c.code and c.document == wanted}
            if found:
                return sorted(found.values(), key=lambda c: c.code)
        return []

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        """Customers with ``phone`` among their numbers, from the index of the whole customer listing."""
        wanted = (phones.whatsapp_numbers(phone) or (phones.normalize_phone(phone),))[0]
        if not wanted:
            return []
        return list(self._phone_index().get(wanted, ()))

    def _phone_index(self) -> dict[str, tuple[Customer, ...]]:
        """Every WhatsApp number of the listing → its customers, kept for PHONE_INDEX_SECONDS."""
        kept = cache.get(self._index_key)
        if isinstance(kept, dict):
            return kept
        numbers: dict[str, dict[str, Customer]] = {}
        for customer in map(_customer, self._all_customers()):
            for number in customer.phones:
                numbers.setdefault(number, {})[customer.code] = customer
        index = {n: tuple(sorted(found.values(), key=lambda c: c.code)) for n, found in numbers.items()}
        cache.set(self._index_key, index, timeout=PHONE_INDEX_SECONDS)
        return index

    def _all_customers(self) -> list[dict[str, Any]]:
        """Every row of the paged listing. A page may hold fewer than asked: the walk ends at an empty page,
        one with nothing new (a release that ignores ``pagina``), or one shorter than those before it."""
        rows: dict[str, dict[str, Any]] = {}
        largest = 0
        for page in range(1, MAX_PAGES + 1):
            path = CLIENT_PAGE.format(page=page)
            answer = self._fetch(path, params={"limite": PAGE_SIZE}, listing=True, absent_ok=True)
            if answer is _ABSENT:
                if page == 1:
                    return self._unpaged_customers()
                break
            found = [row for row in _rows(answer, "the customer listing") if _text(row.get("login"))]
            fresh = {_text(row["login"]): row for row in found if _text(row["login"]) not in rows}
            rows |= fresh
            if not fresh or len(found) < largest:
                break
            largest = max(largest, len(found))
        else:
            logger.warning("MK-Auth listed %s pages of customers: the phone index may miss some.", MAX_PAGES)
        return list(rows.values())

    def _unpaged_customers(self) -> list[dict[str, Any]]:
        answer = self._fetch(CLIENT_LISTING, listing=True, absent_ok=True)
        if answer is _ABSENT:
            raise ErpNotSupported(
                "This MK-Auth lists no customers (cliente/listar, cliente/listagem): no phone search."
            )
        return [row for row in _rows(answer, "the customer listing") if _text(row.get("login"))]

    def _show(self, value: str) -> list[dict[str, Any]]:
        """``cliente/show``'s rows for a login, uuid or document (a document may have several logins)."""
        segment = quote(value, safe="")
        hide = {segment: mask_document(value)} if documents.is_valid(value) else None
        answer = self._fetch(f"/api/cliente/show/{segment}", absent_ok=True, hide=hide)
        return [] if answer is _ABSENT else _rows(answer, "the customer")

    def _login_row(self, login: str) -> dict[str, Any] | None:
        login = str(login).strip()
        if not _LOGIN.match(login):  # a login is one path segment: nothing else can match
            return None
        rows = self._show(login)
        return next((r for r in rows if _text(r.get("login")) == login), None) or next(
            (r for r in rows if _text(r.get("login")).casefold() == login.casefold()), None
        )

    # ------------------------------------------------------------------ contracts

    def list_contracts(self, customer_code: str) -> list[Contract]:
        row = self._login_row(customer_code)
        if row is None:
            return []
        login = _text(row.get("login"))
        return [
            Contract(
                id=login,
                customer_code=login,
                status=contract_status(row),
                plan=_text(row.get("plano")),
                trust_unlock_allowed=None,  # MK-Auth decides when asked
            )
        ]

    # ------------------------------------------------------------------ invoices

    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]:
        """The login's open titles, soonest due first, with line, barcode, PIX and the boleto page's link."""
        row = self._login_row(customer_code)
        if row is None:
            return []
        login = _text(row.get("login"))
        if contract_id is not None and str(contract_id).strip() != login:
            return []  # the login is its only contract
        document = documents.canonical(_text(row.get("cpf_cnpj")))
        # Titles are asked by document: a login without one is looked up in the listing.
        titles = self._titles_of(document) if len(document) in (11, 14) else self._title_listing()
        invoices = [self._invoice(t, login) for t in titles if _is_open(t) and _text(t.get("login")) in ("", login)]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def list_open_invoices_due(self, start: dt.date, end: dt.date) -> list[Invoice]:
        """Every login's open titles due from ``start`` to ``end``, from the title listing; ErpNotSupported
        when this MK-Auth has none."""
        if end < start:
            return []
        invoices = [
            self._invoice(title, _text(title.get("login")))
            for title in self._title_listing()
            if _is_open(title) and _text(title.get("login"))
        ]
        invoices = [invoice for invoice in invoices if start <= invoice.due_date <= end]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def _titles_of(self, document: str) -> list[dict[str, Any]]:
        for form in dict.fromkeys((document, documents.formatted(document))):
            segment = quote(form, safe="")
            answer = self._fetch(f"/api/titulo/titulos/{segment}", absent_ok=True, hide={segment: mask_document(form)})
            titles = [] if answer is _ABSENT else _rows(answer, "the titles", key="titulos")
            if titles or not (answer is _ABSENT or _is_not_found(answer)):
                return titles  # found, or MK-Auth knows the document and it has no titles
        return []

    def _title_listing(self) -> list[dict[str, Any]]:
        for path in TITLE_LISTINGS:
            answer = self._fetch(path, listing=True, absent_ok=True)
            if answer is not _ABSENT:
                return _rows(answer, "the title listing", key="titulos")
        raise ErpNotSupported(
            "This MK-Auth has no title listing (titulo/listagem, titulo/listar): invoices cannot be listed by due date."
        )

    def _invoice(self, row: dict[str, Any], login: str) -> Invoice:
        title = _text(row.get("titulo")) or _text(row.get("id"))
        line = checks.checked_line(
            _text(row.get("linhadig")) or _text(row.get("linha_digitavel")), erp=NAME, invoice_id=title
        )
        pix = _text(row.get("pix")) or _text(row.get("qrcode")) or _text(row.get("pix_copia_cola"))
        return Invoice(
            id=title,
            customer_code=login,
            contract_id=login,
            due_date=checks.parse_date(row.get("datavenc") or row.get("vencimento"), erp=NAME),
            amount=checks.parse_amount(row.get("valor"), erp=NAME),
            digitable_line=line,
            barcode=checks.barcode(_text(row.get("codigo_barras")) or _text(row.get("codigobarras")), line),
            pix_code=checks.checked_pix(pix, erp=NAME, invoice_id=title),
            boleto_url=f"{self.base_url}{BOLETO_PAGE}?{urlencode({'titulo': title})}" if title else "",
            boleto_is_page=bool(title),
        )

    # ------------------------------------------------------------------ trust unlock

    def trust_unlock(self, contract_id: str) -> TrustUnlock:
        """Ask MK-Auth to unblock the login, then read it again: unblocked is granted, blocked refused."""
        row = self._login_row(contract_id)
        if row is None:
            return TrustUnlock(granted=False, reason="MK-Auth has no such login.")
        login = _text(row.get("login"))
        if contract_status(row) is ContractStatus.CANCELLED:
            return TrustUnlock(granted=False, reason="MK-Auth says this login is deactivated.")
        if contract_status(row) is not ContractStatus.BLOCKED:
            return TrustUnlock(granted=False, reason="MK-Auth says this login is not blocked.")
        uuid = _text(row.get("uuid_cliente"))
        if not _LOGIN.match(uuid):
            return TrustUnlock(granted=False, reason="MK-Auth gave no uuid_cliente for this login.")
        answer = self._fetch(f"/api/cliente/desbloqueio/{quote(uuid, safe='')}", plain=True)
        after = self._login_row(login) or row
        if contract_status(after) is ContractStatus.ACTIVE:
            until = _text(after.get("rem_obs")) if _plain(after.get("observacao")) == "sim" else ""
            return TrustUnlock(granted=True, until=checks.parse_date(until, erp=NAME) if until else None)
        logger.info("MK-Auth kept login %s blocked after the trust unlock.", login)
        return TrustUnlock(granted=False, reason=_message(answer) or "MK-Auth did not unblock the login.")

    # ------------------------------------------------------------------ the wire

    def _token(self) -> str:
        token = cache.get(self._token_key)
        return token if isinstance(token, str) and token else self._authenticate()

    def _authenticate(self) -> str:
        """A new JWT, kept in the cache a little less long than its claims say it lasts."""
        response = self.transport.request("GET", f"{self.base_url}{TOKEN_PATH}", auth=self._basic)
        body = response.text.strip()
        token = body.strip('"') if response.status_code < 300 else ""
        if not _looks_like_jwt(token):
            answer = self.transport.decode(response)  # an HTML page, an empty body: their own errors
            token = _text(answer.get("token") or answer.get("jwt")) if isinstance(answer, dict) else _text(answer)
            if not _looks_like_jwt(token):
                words = _message(answer)
                if _CREDENTIALS.search(words):
                    raise ErpAuthFailed(f"MK-Auth refused the credentials: {words}")
                raise ErpBadAnswer(
                    f"MK-Auth answered the token request without a token{': ' + words if words else '.'}"
                )
        lasts = _lifetime(token)
        keep = int(lasts - min(60, lasts / 10))  # never hand out a token in its last moments
        if keep >= 1:
            cache.set(self._token_key, token, timeout=keep)
        return token

    def _fetch(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        hide: dict[str, str] | None = None,
        listing: bool = False,
        absent_ok: bool = False,
        plain: bool = False,
    ) -> Any:
        """MK-Auth's answer to one GET (None for its ``NULL``), authenticating again once when it refuses the
        kept token. ``absent_ok``: a 404/405 (a route this release lacks) is ``_ABSENT``."""
        request = {"params": params, "hide": hide, "listing": listing, "absent_ok": absent_ok, "plain": plain}
        url = f"{self.base_url}{path}"
        token = self._token()  # bad credentials fail here, not as a refused token
        try:
            return self._once(url, token=token, **request)
        except ErpAuthFailed:  # expired early, or revoked
            cache.delete(self._token_key)
            logger.info("MK-Auth refused its token (expired or revoked): asking for another.")
        token = self._authenticate()
        try:
            return self._once(url, token=token, **request)
        except ErpAuthFailed:
            cache.delete(self._token_key)
            raise ErpAuthFailed(
                "MK-Auth refused a token it had just issued: the API user's profile may lack the GET permission."
            ) from None

    def _once(
        self, url: str, *, token: str, params: Any, hide: Any, listing: bool, absent_ok: bool, plain: bool
    ) -> Any:
        transport = self.listing_transport if listing else self.transport
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        # A CPF/CNPJ rides in the path: the HTTP logs show it masked.
        with http.hiding(shown=hide):
            response = transport.request("GET", url, headers=headers, params=params)
        if absent_ok and response.status_code in (404, 405):
            return _ABSENT
        if response.status_code < 400 and response.text.strip().strip('"').upper() == "NULL":
            return None
        if 400 <= response.status_code < 500 and (words := _message(_json(response))):
            raise MkAuthRefused(f"MK-Auth refused the request (HTTP {response.status_code}): {words}", words=words)
        answer = transport.decode(response)
        if isinstance(answer, dict) and not plain and _is_message_only(answer):
            words = _message(answer)
            if _CREDENTIALS.search(words):
                raise ErpAuthFailed(f"MK-Auth refused the token: {words}")
        return answer


def _rows(answer: Any, what: str, *, key: str = "clientes") -> list[dict[str, Any]]:
    """The records in one of MK-Auth's envelopes: a list, ``{key|dados|registros|data: [...]}``, one record,
    or one wrapped in single-key objects (``{"dados_cliente": {...}}``). "Not found" is no record; any
    other message-only answer is MkAuthRefused."""
    if answer is None or _is_not_found(answer):
        return []
    if isinstance(answer, dict) and _is_message_only(answer):
        words = _message(answer)
        raise MkAuthRefused(f"MK-Auth refused {what}: {words}", words=words)
    if isinstance(answer, dict):
        for name in (key, "clientes", "titulos", "dados", "registros", "data"):
            if isinstance(answer.get(name), list | dict):
                return _rows(answer[name], what, key=key)
        while len(answer) == 1 and isinstance(next(iter(answer.values())), dict):
            answer = next(iter(answer.values()))
        return [answer]
    if isinstance(answer, list):
        return [row for row in answer if isinstance(row, dict)]
    raise ErpBadAnswer(f"MK-Auth answered {what} with JSON that is neither a record nor a list.")


def _is_message_only(answer: dict[str, Any]) -> bool:
    return bool(answer) and set(answer) <= _MESSAGE_KEYS and bool(_message(answer))


def _is_not_found(answer: Any) -> bool:
    return isinstance(answer, dict) and _is_message_only(answer) and bool(_NOT_FOUND.search(_message(answer)))


def _message(answer: Any) -> str:
    """MK-Auth's message without HTML, masked for CPF/CNPJ and secrets ("" when it gave none)."""
    if not isinstance(answer, dict):
        return ""
    text = next((_text(answer[k]) for k in ("mensagem", "msg", "message", "erro", "error") if _text(answer.get(k))), "")
    return mask_text(page_text(text, limit=300))


def _json(response: requests.Response) -> Any:
    try:
        return json.loads(response.text)
    except ValueError:
        return None


def _looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for part in parts)


def _lifetime(token: str) -> float:
    """Seconds from ``iat`` to ``exp`` in the JWT's claims (the server's own clock on both ends)."""
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        lasts = float(claims["exp"]) - float(claims.get("iat") or claims["exp"] - DEFAULT_TOKEN_SECONDS)
    except (ValueError, TypeError, KeyError):
        return DEFAULT_TOKEN_SECONDS
    return lasts if lasts > 0 else DEFAULT_TOKEN_SECONDS


def _is_open(row: dict[str, Any]) -> bool:
    status = _plain(row.get("status"))
    deleted = _text(row.get("deltitulo")) not in ("", "0")
    return (not status or status.startswith(_OPEN)) and not _text(row.get("datapag")) and not deleted


def _customer(row: dict[str, Any]) -> Customer:
    numbers = [
        _text(value)
        for name, value in row.items()
        if isinstance(value, str | int) and any(word in name.lower() for word in PHONE_WORDS)
    ]
    return Customer(
        code=_text(row.get("login")),
        name=_text(row.get("nome")) or _text(row.get("razao_social")),
        document=documents.canonical(_text(row.get("cpf_cnpj"))),
        phones=phones.whatsapp_numbers(*numbers),
        email=_text(row.get("email")),
    )


def _plain(value: Any) -> str:
    return unicodedata.normalize("NFKD", _text(value)).encode("ascii", "ignore").decode().lower()


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()
