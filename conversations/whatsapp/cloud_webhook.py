"""Meta Cloud API webhooks → normalised events.

One POST may carry up to 1,000 updates across ``entry[]`` and ``changes[]``; every one becomes an
event. Shapes: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components. Anything not
understood becomes ``Unsupported``.
"""

import functools
import logging
from collections.abc import Iterator
from dataclasses import replace as _replace
from typing import Any

from conversations.whatsapp.base import (
    AccountEvent,
    ContactSync,
    Event,
    InboundContact,
    InboundMessage,
    MediaRef,
    StatusUpdate,
    Unsupported,
)
from conversations.whatsapp.payloads import as_dict, as_list, clean, from_unix

logger = logging.getLogger(__name__)
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


def maps_link(latitude: Any, longitude: Any) -> str:
    return f"https://maps.google.com/?q={latitude},{longitude}"


def changes(payload: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(waba id, field, value) for every change of the payload; anything not shaped like one is skipped."""
    for entry in as_list(payload.get("entry")):
        if not isinstance(entry, dict):
            continue
        for change in as_list(entry.get("changes")):
            if isinstance(change, dict):
                yield str(entry.get("id", "")), str(change.get("field", "")), as_dict(change.get("value"))


def phone_number_id_of(value: dict[str, Any]) -> str:
    return str(as_dict(value.get("metadata")).get("phone_number_id", ""))


def _contacts_by_id(value: dict[str, Any]) -> dict[str, InboundContact]:
    found: dict[str, InboundContact] = {}
    for item in as_list(value.get("contacts")):
        if not isinstance(item, dict):
            continue
        profile = as_dict(item.get("profile"))
        contact = InboundContact(
            wa_id=str(item.get("wa_id", "")),
            user_id=str(item.get("user_id", "")),
            name=str(profile.get("name", "")),
            username=str(profile.get("username", "")),
        )
        for key in (contact.wa_id, contact.user_id):
            if key:
                found[key] = contact
    return found


def _text_and_data(message: dict[str, Any]) -> tuple[str, dict[str, Any], MediaRef | None]:
    """The readable text, the structured data and the media reference of one message."""
    kind = str(message.get("type", ""))
    body = as_dict(message.get(kind))
    if kind == "text":
        return body.get("body", ""), {}, None
    if kind in MEDIA_TYPES:
        media = MediaRef(
            media_id=str(body.get("id", "")),
            url=str(body.get("url", "")),
            mime_type=str(body.get("mime_type", "")),
            sha256=str(body.get("sha256", "")),
            filename=str(body.get("filename", "")),
        )
        data = {k: body[k] for k in ("voice", "animated") if k in body}
        return body.get("caption", ""), data, media
    if kind == "location":
        link = maps_link(body.get("latitude"), body.get("longitude"))
        label = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        return (f"{label}\n{link}" if label else link), dict(body, maps_url=link), None
    if kind == "contacts":
        cards = [c for c in as_list(message.get("contacts")) if isinstance(c, dict)]
        names = [str(as_dict(c.get("name")).get("formatted_name", "")) for c in cards]
        return ", ".join(n for n in names if n), {"contacts": cards}, None
    if kind == "interactive":
        reply_type = str(body.get("type", ""))
        reply = as_dict(body.get(reply_type))
        if reply_type == "nfm_reply":  # a WhatsApp Flow's answer: response_json is a JSON string
            return reply.get("body", ""), {"reply_type": reply_type, **reply}, None
        return reply.get("title", ""), {"reply_type": reply_type, **reply}, None
    if kind == "button":  # quick reply on a template
        return body.get("text", ""), dict(body), None
    if kind == "reaction":
        return body.get("emoji", ""), dict(body), None
    if kind == "order":
        return body.get("text", ""), dict(body), None
    if kind == "system":
        return body.get("body", ""), dict(body), None
    if kind in ("edit", "revoke"):
        return _edited_text(body), dict(body), None
    # unsupported, request_welcome, and types Meta adds later: keep what came.
    data = {"errors": message.get("errors") or []}
    if kind:
        data[kind] = body
    return "", data, None


def _edited_text(body: dict[str, Any]) -> str:
    edited = as_dict(body.get("message"))
    inner = as_dict(edited.get(str(edited.get("type", ""))))
    return str(inner.get("body") or inner.get("caption") or "")


def _inbound(message: dict[str, Any], contacts: dict[str, InboundContact], channel_ref: str) -> InboundMessage:
    sender = str(message.get("from", ""))
    sender_user_id = str(message.get("from_user_id", ""))
    contact = contacts.get(sender) or contacts.get(sender_user_id) or InboundContact()
    contact = InboundContact(
        wa_id=sender or contact.wa_id,
        user_id=sender_user_id or contact.user_id,
        name=contact.name,
        username=contact.username,
    )
    text, data, media = _text_and_data(message)
    if message.get("referral"):  # click-to-WhatsApp ad that started the chat
        data = dict(data, referral=message["referral"])
    if message.get("errors") and "errors" not in data:
        data = dict(data, errors=message["errors"])
    return InboundMessage(
        provider_id=str(message.get("id", "")),
        contact=contact,
        timestamp=from_unix(message.get("timestamp")),
        type=str(message.get("type") or "unsupported"),
        text=str(text or ""),
        media=media,
        reply_to=str(as_dict(message.get("context")).get("id", "")),
        data=data,
        channel_ref=channel_ref,
        raw=message,
    )


def error_text(error: dict[str, Any]) -> str:
    """A Meta error's title with its details (``error_data.details``), as an operator needs to read it."""
    title = str(error.get("title") or error.get("message") or "")
    details = str(as_dict(error.get("error_data")).get("details") or "")
    return f"{title}: {details}" if details and details != title else title


def _status(status: dict[str, Any], channel_ref: str) -> StatusUpdate:
    error = next((e for e in as_list(status.get("errors")) if isinstance(e, dict)), {})
    return StatusUpdate(
        provider_id=str(status.get("id", "")),
        status=str(status.get("status", "")).lower(),
        timestamp=from_unix(status.get("timestamp")),
        recipient=str(status.get("recipient_id") or status.get("recipient_user_id") or ""),
        error_code=str(error.get("code", "")),
        error_title=error_text(error),
        pricing=status.get("pricing") if isinstance(status.get("pricing"), dict) else None,
        conversation=status.get("conversation") if isinstance(status.get("conversation"), dict) else None,
        channel_ref=channel_ref,
        raw=status,
    )


# ------------------------------------------------------------------------------ coexistence (Business app)
# The same number on the WhatsApp Business app and the Cloud API: what the business types in the app comes
# back as echoes, its past chats as history, its address book as state sync.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_message_echoes/
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync/


def _echo(echo: dict[str, Any], channel_ref: str) -> InboundMessage | StatusUpdate:
    """A message the business sent from the Business app: its own outbound message (a deletion: a receipt)."""
    kind = str(echo.get("type", ""))
    if kind == "revoke":
        original = str(as_dict(echo.get("revoke")).get("original_message_id", ""))
        return StatusUpdate(
            provider_id=original, status="deleted", timestamp=from_unix(echo.get("timestamp")), channel_ref=channel_ref
        )
    customer = InboundContact(wa_id=str(echo.get("to", "")), user_id=str(echo.get("to_user_id", "")))
    message = _inbound({**echo, "from": customer.wa_id, "from_user_id": customer.user_id}, {}, channel_ref)
    return _replace(message, from_me=True, raw=echo)


# The Business app's words for a past message's state, as our statuses.
HISTORY_STATUSES = {
    "PENDING": "sent",
    "SERVER_ACK": "sent",
    "SENT": "sent",
    "DELIVERY_ACK": "delivered",
    "DELIVERED": "delivered",
    "READ": "read",
    "PLAYED": "played",
    "ERROR": "failed",
    "FAILED": "failed",
}


def _history_message(item: dict[str, Any], customer: str, business: str, channel_ref: str) -> InboundMessage:
    """A past message of one chat (``customer``'s); from the business when its sender is the business's number."""
    sender = str(item.get("from", ""))
    from_me = sender == business or (bool(customer) and sender != customer)
    message = _inbound({**item, "from": customer or sender}, {}, channel_ref)
    state = str(as_dict(item.get("history_context")).get("status", "")).upper()
    return _replace(message, from_me=from_me, history=True, history_status=HISTORY_STATUSES.get(state, ""), raw=item)


def _history(value: dict[str, Any], channel_ref: str, waba_id: str) -> list[Event]:
    events: list[Event] = []
    business = str(as_dict(value.get("metadata")).get("display_phone_number", ""))
    read = functools.partial(_history_message, business=business, channel_ref=channel_ref)
    for chunk in as_list(value.get("history")):
        if not isinstance(chunk, dict):
            continue
        for error in as_list(chunk.get("errors")):  # the business declined to share its history
            events.append(AccountEvent(field="history.errors", value={"error": error, "waba_id": waba_id}))
        for thread in as_list(chunk.get("threads")):
            customer = str(as_dict(thread).get("id", ""))
            for item in as_list(as_dict(thread).get("messages")):
                events.append(
                    _guarded(functools.partial(read, customer=customer), item, channel_ref, "history message")
                )
    # The files of past media messages come later, as messages of their own under the same field.
    for item in as_list(value.get("messages")):
        sender = str(as_dict(item).get("from", ""))
        customer = str(as_dict(item).get("to", "")) if sender == business else sender
        events.append(_guarded(functools.partial(read, customer=customer), item, channel_ref, "history message"))
    return events


def _contact_sync(item: dict[str, Any], channel_ref: str) -> Event:
    if item.get("type") != "contact":
        return Unsupported(reason=f"state sync of {item.get('type')!r}", channel_ref=channel_ref, raw=item)
    contact = as_dict(item.get("contact"))
    name = str(contact.get("full_name") or contact.get("first_name") or "")
    return ContactSync(
        action=str(item.get("action", "")).lower(),
        contact=InboundContact(wa_id=str(contact.get("phone_number", "")), name=name),
        timestamp=from_unix(as_dict(item.get("metadata")).get("timestamp")),
        channel_ref=channel_ref,
        raw=item,
    )


def _coexistence(field: str, value: dict[str, Any], channel_ref: str, waba_id: str) -> list[Event] | None:
    """The events of a Business app field, or None for a field that is not one."""
    if field == "smb_message_echoes":
        read = functools.partial(_echo, channel_ref=channel_ref)
        events = [_guarded(read, echo, channel_ref, "echo") for echo in as_list(value.get("message_echoes"))]
    elif field == "history":
        events = _history(value, channel_ref, waba_id)
    elif field == "smb_app_state_sync":
        read = functools.partial(_contact_sync, channel_ref=channel_ref)
        events = [_guarded(read, item, channel_ref, "contact sync") for item in as_list(value.get("state_sync"))]
    else:
        return None
    return events or [Unsupported(reason=f"{field} change without content", channel_ref=channel_ref, raw=value)]


def _guarded(build, item: Any, channel_ref: str, what: str) -> Event:
    """One item's event; an item we cannot read becomes Unsupported instead of failing its neighbours."""
    if not isinstance(item, dict):
        return Unsupported(reason=f"{what} is not an object", channel_ref=channel_ref, raw={"item": item})
    try:
        return build(item)
    except Exception as exc:  # a malformed item must not cost the other 999 in the same POST
        logger.warning("Unreadable Meta %s: %s", what, type(exc).__name__)
        return Unsupported(reason=f"unreadable {what}: {type(exc).__name__}", channel_ref=channel_ref, raw=item)


def only_receipts(payload: dict[str, Any]) -> bool:
    """Whether the body holds nothing but statuses and errors of messages: no customer's message in it."""
    found = list(changes(payload)) if isinstance(payload, dict) else []
    return bool(found) and all(field == "messages" and not value.get("messages") for _, field, value in found)


def parse(payload: dict[str, Any]) -> list[Event]:
    """Every event in a Meta webhook body, in the order Meta listed them."""
    payload = clean(payload)
    events: list[Event] = []
    if payload.get("object") != "whatsapp_business_account":
        return [Unsupported(reason=f"object {payload.get('object')!r}", raw=payload)]
    for waba_id, field, value in changes(payload):
        channel_ref = phone_number_id_of(value)
        if (app_events := _coexistence(field, value, channel_ref, waba_id)) is not None:
            events.extend(app_events)
            continue
        if field != "messages":
            events.append(AccountEvent(field=field, value={**value, "waba_id": waba_id}, channel_ref=channel_ref))
            continue
        contacts = _contacts_by_id(value)
        for message in as_list(value.get("messages")):
            read = functools.partial(_inbound, contacts=contacts, channel_ref=channel_ref)
            events.append(_guarded(read, message, channel_ref, "message"))
        for status in as_list(value.get("statuses")):
            events.append(_guarded(functools.partial(_status, channel_ref=channel_ref), status, channel_ref, "status"))
        for error in as_list(value.get("errors")):  # value-level errors: not tied to one message
            events.append(
                AccountEvent(
                    field="messages.errors", value={"error": error, "waba_id": waba_id}, channel_ref=channel_ref
                )
            )
        if not any(as_list(value.get(k)) for k in ("messages", "statuses", "errors")):
            events.append(Unsupported(reason="messages change without content", channel_ref=channel_ref, raw=value))
    return events
