"""The webhooks' fast path: a signed Meta or Evolution POST is accepted on the event loop.

These POSTs are most of the product's requests. Through Django (``config/asgi.py``) each one crosses to a
thread and back, passes the middlewares built for browsers, and takes a pooled connection for an
INSERT and a commit of its own. Here, in front of Django, a POST to ``/webhooks/meta/`` or
``/webhooks/evolution/<contract>/`` is authenticated on the event loop by the views' own functions
(``conversations.webhooks.accept_meta``, ``accept_evolution``), with tenants taken from this process's
memory (``companies.cache.local_only``). The webhooks accepted meanwhile are stored together by one
thread, one INSERT and one commit (``config.batch_writer``), and each is answered 200 only once its row
is committed. The drainer is woken after the answers, on another thread, once for all the batches
written while it was being woken.

Every other request goes to Django as it came, its body replayed: anything rejected (Django answers it
with the same error), anything unusual (a tenant not in memory yet, an account-level change, a body
without a Content-Length or above ``FAST_BODY_LIMIT``, plain HTTP where HTTPS is required, a host or
an origin to check) and any webhook whose batch could not be stored (Django tries to store it itself
and answers 503 if it cannot). So the answers, and the rule that nothing is acknowledged before it
is stored, are the views'; this path only makes the common case cheap.
"""

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from django.utils.datastructures import CaseInsensitiveMapping

from companies.cache import NotCachedLocally, local_only
from config.batch_writer import BatchWriter
from config.chunked_bodies import replaying
from config.nul import NUL
from config.request_id import get_request_id, reset_request_id, set_request_id
from conversations.models import WebhookEvent
from conversations.services.webhook_events import new_event, store_webhooks, wake_drainer
from conversations.webhooks import ACCEPTED, Accepted, Rejected, accept_evolution, accept_meta

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Parsing JSON holds the interpreter lock: bodies bigger than a few hundred messages go to a thread of Django's.
FAST_BODY_LIMIT = 256 * 1024
_EVOLUTION = re.compile(r"/webhooks/evolution/([^/]+)/")
_LENGTH = re.compile(r"[0-9]{1,9}")
_ANSWER = json.dumps(ACCEPTED).encode()  # as Django's JsonResponse writes it


def _evolution_contract(path: str) -> str | None:
    """The contract of an Evolution webhook's path; "" for Meta's path; None for any other path."""
    if path == "/webhooks/meta/":
        return ""
    match = _EVOLUTION.fullmatch(path)
    return match[1] if match else None


def _accept(evolution_contract: str, query: bytes, headers: dict[str, str], body: bytes) -> Accepted | None:
    """The authenticated webhook, or None when Django is to answer (rejected, or needs a lookup)."""
    try:
        with local_only():
            if evolution_contract:
                return accept_evolution(contract=evolution_contract, apikey=headers.get("apikey", ""), body=body)
            contract = _query(query).get("contract", [None])[-1]
            return accept_meta(contract=contract, signature=headers.get("x-hub-signature-256", ""), body=body)
    except (Rejected, NotCachedLocally, ValueError):
        return None


def _query(query: bytes) -> dict[str, list[str]]:
    """The query string read as Django's ``request.GET`` reads it (blank values kept, the last one wins).

    Raises ValueError where Django refuses it (more fields than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``).
    """
    try:
        text = query.decode()
    except UnicodeDecodeError:
        text = query.decode("iso-8859-1")
    return parse_qs(text, keep_blank_values=True, max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)


def _plain(scope: Scope, headers: dict[str, str]) -> bool:
    """Nothing for Django's middlewares to do but add their headers: no redirect, no host or CORS check to fail."""
    if "origin" in headers or settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW:
        return False
    if settings.SECURE_SSL_REDIRECT and not _secure(scope, headers):
        return False
    return _host_allowed(headers)


def _secure(scope: Scope, headers: dict[str, str]) -> bool:
    if settings.SECURE_PROXY_SSL_HEADER:
        name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower())
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "https"


def _host_allowed(headers: dict[str, str]) -> bool:
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        return False
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host allows
    domain, _ = split_domain_port(headers.get("host", ""))
    return bool(domain) and validate_host(domain, allowed)


def _response_headers(scope: Scope, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The headers Django's middlewares give the same answer (``tests`` compare the two)."""
    answer = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_ANSWER)).encode()),
        (b"x-request-id", get_request_id().encode()),
        (b"x-frame-options", settings.X_FRAME_OPTIONS.upper().encode()),
    ]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        answer.append((b"x-content-type-options", b"nosniff"))
    if policy := settings.SECURE_REFERRER_POLICY:
        # As SecurityMiddleware writes it: a string's parts stripped, a list's as they are, joined by commas.
        values = [value.strip() for value in policy.split(",")] if isinstance(policy, str) else policy
        answer.append((b"referrer-policy", ",".join(values).encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        answer.append((b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))
    if settings.SECURE_HSTS_SECONDS and _secure(scope, headers):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        answer.append((b"strict-transport-security", hsts.encode()))
    return answer


def _store_batch(events: list[WebhookEvent]) -> list[WebhookEvent]:
    """On the writer's thread: its connection is handled as a request's would be."""
    close_old_connections()
    stored = store_webhooks(events, wake=False)  # the drainer is woken after the answers (BatchWriter's then)
    try:
        close_old_connections()
    except Exception:  # committed already: the batch must not be reported failed and stored again
        logger.exception("Could not close the webhook writer's connection")
    return stored


def _wake_drainer() -> None:
    """On the writer's second thread; with tasks run eagerly (tests) the drain itself runs here too."""
    try:
        wake_drainer()
    finally:
        close_old_connections()


class WebhookIntake:
    """ASGI middleware in front of Django's HTTP application (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.writer: BatchWriter[WebhookEvent, WebhookEvent] = BatchWriter(
            _store_batch, then=_wake_drainer, max_bytes=4 * FAST_BODY_LIMIT, name="webhook-writer"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        evolution_contract = _evolution_contract(scope["path"]) if scope["type"] == "http" else None
        if evolution_contract is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        length = headers.get("content-length", "")
        if (
            len(headers) < len(scope["headers"])  # a repeated header: Django decides how to read it
            or any("_" in name for name in headers)  # WSGI reads "a_b" as "a-b": it would join them
            or any(NUL in value for value in headers.values())  # Django refuses it (config.nul)
            or "transfer-encoding" in headers
            or not _LENGTH.fullmatch(length)
            or int(length) > min(FAST_BODY_LIMIT, settings.WEBHOOK_MAX_BODY_BYTES)  # Django refuses above its limit
        ):
            await self.app(scope, receive, send)
            return
        body = await self._read(receive, int(length))
        if body is None:
            return  # the client went away: nothing to store, nobody to answer
        if len(body) == int(length) and _plain(scope, headers):
            token = set_request_id(headers.get("x-request-id"))
            try:
                answer = _response_headers(scope, headers)  # before the write: nothing may fail after it
                if await self._store(evolution_contract, scope.get("query_string", b""), headers, body):
                    await send({"type": "http.response.start", "status": 200, "headers": answer})
                    await send({"type": "http.response.body", "body": _ANSWER})
                    return
            finally:
                reset_request_id(token)
        await self.app(scope, replaying(body, receive), send)

    @staticmethod
    async def _read(receive: Receive, length: int) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body") or size > length:
                return b"".join(chunks)

    async def _store(self, evolution_contract: str, query: bytes, headers: dict[str, str], body: bytes) -> bool:
        """Whether the webhook was accepted and is stored; False leaves the request to Django."""
        accepted = _accept(evolution_contract, query, headers, body)
        if accepted is None:
            return False
        event = new_event(
            company=accepted.company,
            source=accepted.source,
            body=accepted.text,
            headers=CaseInsensitiveMapping(headers),
        )
        try:
            await self.writer.write(event, size=len(body))
        except Exception:  # logged once per batch by the writer; Django's view tries again
            return False
        return True
