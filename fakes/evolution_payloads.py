"""Webhook bodies in the shape Evolution API v2 sends them (one event per POST, the instance key in it).

Shapes from Evolution's webhook events (https://doc.evolution-api.com/v2/en/configuration/webhooks):
``{"event", "instance", "data", "destination", "date_time", "sender", "server_url", "apikey"}``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

INBOUND_KINDS = ("text", "image", "location", "button")
# Evolution's names for what became of a sent message, in the order a phone reports them.
ACKS = ("SERVER_ACK", "DELIVERY_ACK", "READ")


def message_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


def jid(number: str) -> str:
    return number if "@" in number else "".join(ch for ch in number if ch.isdigit()) + "@s.whatsapp.net"


def envelope(event: str, *, instance: str, data: Any, api_key: str, destination: str, sender: str, server_url: str):
    return {
        "event": event,
        "instance": instance,
        "data": data,
        "destination": destination,
        "date_time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sender": jid(sender) if sender else "",
        "server_url": server_url,
        "apikey": api_key,
    }


def inbound_data(
    kind: str,
    *,
    sender: str,
    name: str = "Maria Cliente",
    text: str = "Oi! Quero a segunda via da minha fatura.",
    at: float | None = None,
) -> dict[str, Any]:
    """``data`` of a ``messages.upsert`` for a customer's message of ``kind`` (one of ``INBOUND_KINDS``)."""
    if kind == "text":
        message, message_type = {"conversation": text}, "conversation"
    elif kind == "image":
        message = {"imageMessage": {"mimetype": "image/png", "caption": text, "fileLength": "0"}}
        message_type = "imageMessage"
    elif kind == "location":
        location = {"degreesLatitude": -23.4205, "degreesLongitude": -51.9333, "name": "Catedral de Maringá"}
        message = {"locationMessage": location | {"address": "Praça da Catedral, Maringá - PR"}}
        message_type = "locationMessage"
    elif kind == "button":
        message = {"buttonsResponseMessage": {"selectedButtonId": "1", "selectedDisplayText": "Segunda via", "type": 1}}
        message_type = "buttonsResponseMessage"
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(INBOUND_KINDS)}")
    return {
        "key": {"remoteJid": jid(sender), "fromMe": False, "id": message_id()},
        "pushName": name,
        "status": "DELIVERY_ACK",
        "message": message,
        "contextInfo": None,
        "messageType": message_type,
        "messageTimestamp": int(at if at is not None else time.time()),
        "source": "android",
    }


def status_data(*, message_id: str, recipient: str, ack: str) -> dict[str, Any]:
    """``data`` of a ``messages.update``: what became of a message sent from the instance."""
    return {"keyId": message_id, "remoteJid": jid(recipient), "fromMe": True, "participant": None, "status": ack}


def connection_data(*, instance: str, state: str, number: str) -> dict[str, Any]:
    return {"instance": instance, "wuid": jid(number) if number else "", "state": state, "statusReason": 200}
