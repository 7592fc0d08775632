"""Webhook bodies in the shape Meta sends them, and their signature.

Shapes from Meta's webhook reference (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages):
one ``whatsapp_business_account`` object, one entry per WABA, one ``messages`` change whose value
carries ``metadata``, ``contacts`` and ``messages`` (inbound) or ``statuses`` (what became of a send).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from fakes.media import SAMPLE_IMAGE, SAMPLE_IMAGE_MIME

INBOUND_KINDS = ("text", "image", "location", "button")


def sign(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256``: HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def wamid() -> str:
    return "wamid.fake." + secrets.token_hex(12)


def _envelope(waba_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}],
    }


def _metadata(phone_number_id: str, display_number: str) -> dict[str, Any]:
    digits = "".join(ch for ch in display_number if ch.isdigit())
    return {"display_phone_number": digits, "phone_number_id": phone_number_id}


def status(
    *,
    waba_id: str,
    phone_number_id: str,
    display_number: str,
    message_id: str,
    state: str,
    recipient: str,
    category: str = "service",
    at: float | None = None,
) -> dict[str, Any]:
    """A status of an outbound message: sent and delivered carry the per-message pricing, read none."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": state,
        "timestamp": str(int(at if at is not None else time.time())),
        "recipient_id": recipient,
    }
    if state in ("sent", "delivered"):
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": category}
    metadata = _metadata(phone_number_id, display_number)
    return _envelope(waba_id, {"messaging_product": "whatsapp", "metadata": metadata, "statuses": [item]})


def inbound(
    kind: str,
    *,
    waba_id: str,
    phone_number_id: str,
    display_number: str,
    sender: str,
    name: str = "Maria Cliente",
    text: str = "Oi! Quero a segunda via da minha fatura.",
    media_id: str = "",
    reply_to: str = "",
    at: float | None = None,
) -> dict[str, Any]:
    """A customer's message of ``kind`` (one of ``INBOUND_KINDS``)."""
    timestamp = str(int(at if at is not None else time.time()))
    message: dict[str, Any] = {"from": sender, "id": wamid(), "timestamp": timestamp}
    if kind == "text":
        message |= {"type": "text", "text": {"body": text}}
    elif kind == "image":
        media_id = media_id or str(10**15 + secrets.randbelow(10**15))
        image = {"caption": text, "mime_type": SAMPLE_IMAGE_MIME, "id": media_id}
        image["sha256"] = base64.b64encode(hashlib.sha256(SAMPLE_IMAGE).digest()).decode()
        image["url"] = f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}"
        message |= {"type": "image", "image": image}
    elif kind == "location":
        message |= {
            "type": "location",
            "location": {
                "latitude": -23.4205,
                "longitude": -51.9333,
                "name": "Catedral de Maringá",
                "address": "Praça da Catedral, Maringá - PR",
                "url": "https://www.maringa.pr.gov.br/",
            },
        }
    elif kind == "button":
        reply_to = reply_to or wamid()  # a reply button answers one of the business's messages
        message |= {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "second-copy", "title": "Segunda via"}},
        }
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(INBOUND_KINDS)}")
    if reply_to:
        business = _metadata(phone_number_id, display_number)["display_phone_number"]
        message["context"] = {"from": business, "id": reply_to}
    value = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(phone_number_id, display_number),
        "contacts": [{"profile": {"name": name}, "wa_id": sender}],
        "messages": [message],
    }
    return _envelope(waba_id, value)
