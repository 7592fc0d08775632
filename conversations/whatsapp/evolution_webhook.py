"""Evolution API v2 webhooks → normalised events.

Envelope: ``{"event", "instance", "data", "date_time", "sender", "apikey", ...}``, one event per
request. Shapes from Evolution 2.3.x (https://doc.evolution-api.com/v2/en/configuration/webhooks and the
webhook controller of https://github.com/EvolutionAPI/evolution-api).
"""

import datetime as dt
import json
import logging
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from conversations.whatsapp.base import (
    AccountEvent,
    ConnectionUpdate,
    Event,
    Ignored,
    InboundContact,
    InboundMessage,
    MediaRef,
    QrCodeUpdate,
    StatusUpdate,
    Unsupported,
)
from conversations.whatsapp.cloud_webhook import maps_link
from conversations.whatsapp.payloads import as_dict, believable, clean, from_unix

logger = logging.getLogger(__name__)

# src/utils/renderStatus.ts: numeric (legacy) and named statuses → ours.
STATUSES = {
    0: "failed",
    1: "queued",
    2: "sent",
    3: "delivered",
    4: "read",
    5: "read",
    "ERROR": "failed",
    "PENDING": "queued",
    "SERVER_ACK": "sent",
    "DELIVERY_ACK": "delivered",
    "READ": "read",
    "PLAYED": "read",
    "DELETED": "deleted",
}
MEDIA_KINDS = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
# Containers whose .message holds the real content.
WRAPPERS = ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "documentWithCaptionMessage")
IGNORED_EVENTS = ("presence.update", "chats.upsert", "chats.update", "chats.delete", "groups.upsert", "call")


def _envelope_time(payload: dict[str, Any]) -> dt.datetime:
    """When Evolution sent the webhook (receipts carry no time of their own)."""
    parsed = parse_datetime(str(payload.get("date_time") or ""))
    if parsed is None or parsed.tzinfo is None:
        return timezone.now()
    return believable(parsed)


def _jid_user(jid: str) -> str:
    return jid.split("@", 1)[0].split(":", 1)[0]


def _unwrap(message: dict[str, Any]) -> dict[str, Any]:
    for _ in range(3):  # wrappers can nest (ephemeral view-once)
        wrapper = next((w for w in WRAPPERS if isinstance(message.get(w), dict)), None)
        if wrapper is None:
            break
        message = as_dict(message[wrapper].get("message"))
    return message


def _content(message: dict[str, Any], key_id: str) -> tuple[str, str, dict[str, Any], MediaRef | None, str]:
    """(type, text, data, media, reply_to) of a Baileys message."""
    for kind, body in message.items():
        if not isinstance(body, dict) and kind != "conversation":
            continue
        if kind == "conversation":
            return "text", str(body), {}, None, ""
        context = as_dict(body.get("contextInfo"))
        reply_to = str(context.get("stanzaId", ""))
        if kind == "extendedTextMessage":
            return "text", body.get("text", ""), {}, None, reply_to
        if kind in MEDIA_KINDS:
            media = MediaRef(
                media_id=key_id,  # Evolution downloads media by message id (getBase64FromMediaMessage)
                url=str(body.get("url", "")),
                mime_type=str(body.get("mimetype", "")),
                filename=str(body.get("fileName", "")),
                size=int(body["fileLength"]) if str(body.get("fileLength", "")).isdigit() else None,
                base64=str(message.get("base64", "")),
            )
            data = {"voice": True} if body.get("ptt") else {}
            return MEDIA_KINDS[kind], body.get("caption", ""), data, media, reply_to
        if kind in ("locationMessage", "liveLocationMessage"):
            latitude, longitude = body.get("degreesLatitude"), body.get("degreesLongitude")
            link = maps_link(latitude, longitude)
            label = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
            data = {"latitude": latitude, "longitude": longitude, "name": body.get("name", ""), "maps_url": link}
            return "location", (f"{label}\n{link}" if label else link), data, None, reply_to
        if kind in ("contactMessage", "contactsArrayMessage"):
            cards = body.get("contacts") or [body]
            names = [c.get("displayName", "") for c in cards]
            return (
                "contacts",
                ", ".join(n for n in names if n),
                {"vcards": [c.get("vcard", "") for c in cards]},
                None,
                "",
            )
        if kind == "reactionMessage":
            data = {"message_id": (body.get("key") or {}).get("id", ""), "emoji": body.get("text", "")}
            return "reaction", body.get("text", ""), data, None, ""
        if kind == "buttonsResponseMessage":
            data = {"reply_type": "button_reply", "id": body.get("selectedButtonId", "")}
            return "interactive", body.get("selectedDisplayText", ""), data, None, reply_to
        if kind == "listResponseMessage":
            row = (body.get("singleSelectReply") or {}).get("selectedRowId", "")
            data = {"reply_type": "list_reply", "id": row, "description": body.get("description", "")}
            return "interactive", body.get("title", ""), data, None, reply_to
        if kind == "templateButtonReplyMessage":
            data = {"payload": body.get("selectedId", ""), "index": body.get("selectedIndex")}
            return "button", body.get("selectedDisplayText", ""), data, None, reply_to
        if kind == "interactiveResponseMessage":
            params = (body.get("nativeFlowResponseMessage") or {}).get("paramsJson") or "{}"
            try:
                reply_id = json.loads(params).get("id", "")
            except (ValueError, AttributeError):
                reply_id = ""
            text = (body.get("body") or {}).get("text", "")
            return "interactive", text, {"reply_type": "button_reply", "id": reply_id}, None, reply_to
    return "unsupported", "", {"keys": sorted(message)}, None, ""


def _upsert(data: dict[str, Any], instance: str) -> Event:
    key = as_dict(data.get("key"))
    remote = str(key.get("remoteJid", ""))
    if remote.endswith("@g.us"):
        return Ignored("group message", channel_ref=instance)
    if remote.endswith("@broadcast") or remote.endswith("@newsletter"):
        return Ignored("status or broadcast message", channel_ref=instance)
    # Baileys 7 addresses some chats by LID; the phone then travels in remoteJidAlt.
    phone_jid = (
        remote
        if remote.endswith("@s.whatsapp.net") or remote.endswith("@c.us")
        else key.get("remoteJidAlt") or key.get("senderPn") or ""
    )
    lid = remote if remote.endswith("@lid") else ""
    kind, text, content, media, reply_to = _content(_unwrap(data.get("message") or {}), str(key.get("id", "")))
    context = data.get("contextInfo") or {}
    from_me = bool(key.get("fromMe"))
    return InboundMessage(
        provider_id=str(key.get("id", "")),
        contact=InboundContact(
            wa_id=_jid_user(phone_jid) if phone_jid else "",
            user_id=lid,
            name="" if from_me else str(data.get("pushName") or ""),
        ),
        timestamp=from_unix(data.get("messageTimestamp")),
        type=kind,
        text=str(text or ""),
        media=media,
        reply_to=reply_to or str(context.get("stanzaId") or ""),
        data=content,
        channel_ref=instance,
        raw=data,
        from_me=from_me,
    )


def _updates(data: Any, instance: str, at: dt.datetime) -> list[Event]:
    items = data if isinstance(data, list) else [data]
    events: list[Event] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        key = as_dict(item.get("key"))
        provider_id = item.get("keyId") or key.get("id") or ""
        raw_status = item.get("status", as_dict(item.get("update")).get("status", "DELETED"))
        status = STATUSES.get(raw_status) if isinstance(raw_status, str | int) else None
        if not provider_id or status is None:
            events.append(Unsupported(reason=f"messages.update status {raw_status!r}", channel_ref=instance, raw=item))
            continue
        events.append(
            StatusUpdate(
                provider_id=str(provider_id),
                status=status,
                timestamp=at,
                recipient=_jid_user(str(item.get("remoteJid") or key.get("remoteJid") or "")),
                error_code="evolution_error" if status == "failed" else "",
                error_title="WhatsApp reported an error for this message" if status == "failed" else "",
                channel_ref=instance,
                raw=item,
            )
        )
    return events


def _edited(data: dict[str, Any], instance: str) -> Event:
    key = as_dict(data.get("key"))
    edited = as_dict(data.get("editedMessage"))
    kind, text, _, _, _ = _content(_unwrap(edited), str(key.get("id", "")))
    stamp = str(data.get("timestampMs", ""))
    if data.get("type") == 0:  # REVOKE goes through the same event
        return StatusUpdate(
            provider_id=str(key.get("id", "")),
            status="deleted",
            timestamp=from_unix(stamp),
            channel_ref=instance,
            raw=data,
        )
    return InboundMessage(
        provider_id=f"{key.get('id', '')}:edit:{stamp}",
        contact=InboundContact(wa_id=_jid_user(str(key.get("remoteJid", "")))),
        timestamp=from_unix(stamp),
        type="edit",
        text=text,
        data={"original_message_id": str(key.get("id", "")), "type": kind},
        channel_ref=instance,
        raw=data,
        from_me=bool(key.get("fromMe")),
    )


# Events that never carry a customer's message: receipts and the echoes of our own sends.
RECEIPT_EVENTS = frozenset({"messages.update", "send.message", "send.message.update"})


def event_name(payload: dict[str, Any]) -> str:
    """The webhook's event, as ``messages.upsert`` whether Evolution spelt it so or ``MESSAGES_UPSERT``."""
    return str(payload.get("event", "")).lower().replace("_", ".")


def only_receipts(payload: dict[str, Any]) -> bool:
    """Whether the body holds nothing but receipts or echoes of our sends: no customer's message in it."""
    return isinstance(payload, dict) and event_name(payload) in RECEIPT_EVENTS


def parse(payload: dict[str, Any]) -> list[Event]:
    """The events of one Evolution webhook (one event per request, sometimes a list of updates)."""
    payload = clean(payload)
    event = event_name(payload)
    instance = str(payload.get("instance", ""))
    try:
        return _parse_event(event, instance, payload)
    except Exception as exc:  # malformed content is kept as Unsupported, never a failed event
        logger.warning("Unreadable Evolution %s: %s", event, type(exc).__name__)
        return [Unsupported(reason=f"unreadable {event}: {type(exc).__name__}", channel_ref=instance, raw=payload)]


def _parse_event(event: str, instance: str, payload: dict[str, Any]) -> list[Event]:
    data = payload.get("data")
    if event == "messages.upsert" and isinstance(data, dict):
        return [_upsert(data, instance)]
    if event == "messages.update":
        return _updates(data, instance, _envelope_time(payload))
    if event == "messages.delete" and isinstance(data, dict):
        key = as_dict(data.get("key")) or data
        return [
            StatusUpdate(
                provider_id=str(key.get("id", "")),
                status="deleted",
                timestamp=_envelope_time(payload),
                channel_ref=instance,
                raw=data,
            )
        ]
    if event == "messages.edited" and isinstance(data, dict):
        return [_edited(data, instance)]
    if event == "connection.update" and isinstance(data, dict):
        state = str(data.get("state", ""))
        reason = str(data.get("statusReason", ""))
        if state == "refused":  # QR code limit: closed until someone scans a new code
            state, reason = "close", f"refused ({reason})"
        return [ConnectionUpdate(state=state, reason=reason, channel_ref=instance, raw=data)]
    if event == "qrcode.updated" and isinstance(data, dict):
        qrcode = data.get("qrcode")
        if isinstance(qrcode, dict):
            return [
                QrCodeUpdate(
                    code=str(qrcode.get("code") or ""),
                    image_base64=str(qrcode.get("base64") or ""),
                    channel_ref=instance,
                    raw=data,
                )
            ]
        return [
            ConnectionUpdate(
                state="close", reason=str(data.get("message", "QR code limit")), channel_ref=instance, raw=data
            )
        ]
    if event in ("contacts.upsert", "contacts.update"):
        return [
            AccountEvent(field=event, value={"items": data if isinstance(data, list) else [data]}, channel_ref=instance)
        ]
    if event in ("send.message", "send.message.update"):
        return [Ignored("echo of a message sent through the API", channel_ref=instance)]
    if event in IGNORED_EVENTS or event.startswith("groups.") or event.startswith("group."):
        return [Ignored(f"event {event} is not used", channel_ref=instance)]
    return [Unsupported(reason=f"event {event or '(none)'}", channel_ref=instance, raw=payload)]
