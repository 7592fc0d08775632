"""Webhook endpoints: authenticate, store the request as it came, answer 200 at once.

Processing happens in Celery (``conversations.tasks.drain_webhook_events``). If the request
cannot be stored (the database is down) the answer is a 5xx, so the provider delivers it again: a
request is never acknowledged and then lost.

Under the ASGI server most Meta and Evolution POSTs never reach these views: ``webhook_intake`` accepts
them on the event loop with ``accept_meta`` and ``accept_evolution`` and stores them in batches. The
views answer the rest (every refusal among them) and are the whole path under WSGI and in tests.
"""

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from companies import cache as company_cache
from companies.models import Channel, Company
from config.errors import error_response, require_methods
from config.nul import MESSAGE as NUL_MESSAGE
from config.nul import has_nul
from conversations.chatwoot import signing
from conversations.models import WebhookEvent
from conversations.services.webhook_events import store_webhook
from conversations.whatsapp import cloud_webhook

ACCEPTED = {"status": "accepted"}


class Accepted(NamedTuple):
    """An authenticated webhook: whose it is, where from, and the body to store."""

    company: Company
    source: str
    text: str


class Rejected(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.response = error_response(status, code, message, details)


def _company(contract: str | None) -> Company:
    if not contract:
        raise Rejected(400, "invalid", "The contract is missing.", {"contract": ["This parameter is required."]})
    try:
        uuid.UUID(contract)
    except ValueError:
        raise Rejected(400, "invalid", "The contract is not a UUID.", {"contract": ["Must be a valid UUID."]}) from None
    company = company_cache.get_company_by_contract(contract)
    if company is None:
        raise Rejected(404, "unknown_contract", "No company has this contract.")
    return company


def _json(body: bytes) -> tuple[dict[str, Any], str]:
    """The parsed body and its text (stored as received)."""
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Rejected(400, "parse_error", "The body is not valid UTF-8 JSON.") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "parse_error", "The body must be a JSON object.")
    return payload, text


def _identifier(value: str, name: str) -> str:
    """A value a tenant is looked up by; one that no row can hold (a NUL) is refused as 400."""
    if has_nul(value):
        raise Rejected(400, "invalid", f"The {name} holds a NUL character.", {name: [NUL_MESSAGE]})
    return value


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _store(accepted: Accepted, headers: Mapping[str, str]) -> HttpResponse:
    store_webhook(company=accepted.company, source=accepted.source, body=accepted.text, headers=headers)
    return JsonResponse(ACCEPTED)


def _rejecting(view):
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Rejected as rejected:
            return rejected.response

    wrapper.__name__ = view.__name__
    return wrapper


# ------------------------------------------------------------------------------ Meta


def _verify_meta_signature(company: Company, signature: str, body: bytes) -> None:
    """X-Hub-Signature-256 is HMAC-SHA256 of the raw body with the app secret (Meta's webhook docs)."""
    if not signature:
        raise Rejected(401, "missing_signature", "The X-Hub-Signature-256 header is missing.")
    if not company.meta_app_secret:
        raise Rejected(403, "not_configured", "This company has no Meta app secret configured.")
    expected = "sha256=" + hmac.new(company.meta_app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        raise Rejected(403, "invalid_signature", "The signature does not match the body.")


def _check_meta_ownership(company: Company, payload: dict[str, Any]) -> None:
    """Every change must concern one of the company's numbers (or, for account notices, its WABAs)."""
    waba_ids: set[str] | None = None
    for waba_id, _field, value in cloud_webhook.changes(payload):
        phone_number_id = _identifier(cloud_webhook.phone_number_id_of(value), "phone_number_id")
        if phone_number_id:
            channel = company_cache.get_channel_by_phone_number_id(phone_number_id)
            if channel is None or channel.company_id != company.pk:
                raise Rejected(
                    403,
                    "foreign_phone_number",
                    "A change concerns a phone number of another company.",
                    {"phone_number_id": phone_number_id},
                )
            continue
        if waba_ids is None:
            company_cache.needs_database()
            waba_ids = set(
                company.channels.filter(kind=Channel.Kind.CLOUD).exclude(waba_id="").values_list("waba_id", flat=True)
            )
        if waba_id not in waba_ids:
            raise Rejected(
                403, "foreign_account", "A change concerns a WhatsApp account of another company.", {"waba_id": waba_id}
            )


def accept_meta(*, contract: str | None, signature: str, body: bytes) -> Accepted:
    """Authenticate a Meta webhook POST: the company, and the body as it is to be stored; or Rejected."""
    company = _company(contract)
    _verify_meta_signature(company, signature, body)
    payload, text = _json(body)
    if payload.get("object") != "whatsapp_business_account":
        raise Rejected(
            400, "invalid", "Not a WhatsApp Business Account webhook.", {"object": [str(payload.get("object"))]}
        )
    _check_meta_ownership(company, payload)
    return Accepted(company, WebhookEvent.Source.META, text)


@csrf_exempt
@require_methods("GET", "POST")
@_rejecting
def meta(request: HttpRequest) -> HttpResponse:
    contract = request.GET.get("contract")
    if request.method == "GET":
        company = _company(contract)
        # Verification handshake: echo hub.challenge only for the company's verify token.
        if request.GET.get("hub.mode") != "subscribe" or not _same(
            request.GET.get("hub.verify_token", ""), company.meta_verify_token
        ):
            raise Rejected(403, "invalid_verify_token", "The verify token does not match.")
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    accepted = accept_meta(
        contract=contract, signature=request.headers.get("X-Hub-Signature-256", ""), body=request.body
    )
    return _store(accepted, request.headers)


# ------------------------------------------------------------------------------ Evolution


def accept_evolution(*, contract: str, apikey: str, body: bytes) -> Accepted:
    """Authenticate an Evolution webhook (``apikey`` is the header's, if any); or Rejected."""
    company = _company(contract)
    payload, text = _json(body)
    key = apikey or str(payload.get("apikey") or "")
    if not key:
        raise Rejected(401, "missing_api_key", "The apikey header (or body field) is missing.")
    instance = _identifier(str(payload.get("instance") or ""), "instance")
    channel = company_cache.get_channel_by_instance(instance)
    if channel is None or channel.company_id != company.pk:
        raise Rejected(403, "foreign_instance", "The instance does not belong to this company.", {"instance": instance})
    if not _same(key, channel.api_key):
        raise Rejected(403, "invalid_api_key", "The apikey does not match the instance's key.")
    # Evolution echoes the instance key in every body: the stored copy must not keep it.
    stored = text.replace(json.dumps(key)[1:-1], "***") if payload.get("apikey") else text
    return Accepted(company, WebhookEvent.Source.EVOLUTION, stored)


@csrf_exempt
@require_methods("POST")
@_rejecting
def evolution(request: HttpRequest, contract: str) -> HttpResponse:
    accepted = accept_evolution(contract=contract, apikey=request.headers.get("apikey") or "", body=request.body)
    return _store(accepted, request.headers)


# ------------------------------------------------------------------------------ Chatwoot


@csrf_exempt
@require_methods("POST")
@_rejecting
def chatwoot(request: HttpRequest, contract: str, secret: str) -> HttpResponse:
    company = _company(contract)
    if not _same(secret, company.chatwoot_webhook_secret):
        raise Rejected(403, "invalid_secret", "The webhook secret does not match.")
    if company.chatwoot_signing_secret and not signing.verify(
        company.chatwoot_signing_secret,
        request.headers.get("X-Chatwoot-Timestamp", ""),
        request.body,
        request.headers.get("X-Chatwoot-Signature", ""),
    ):
        raise Rejected(401, "invalid_signature", "X-Chatwoot-Signature is missing, stale or does not match.")
    _, text = _json(request.body)
    return _store(Accepted(company, WebhookEvent.Source.CHATWOOT, text), request.headers)
