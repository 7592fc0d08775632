"""What an outbound message says, stored in ``Message.data["content"]``, and how a provider sends it.

The content is plain JSON so the outbox row alone says everything needed to send it, on any worker,
after any restart.
"""

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

from companies.models import Channel
from conversations.whatsapp.base import (
    Button,
    ListRow,
    ListSection,
    Location,
    MessageSender,
    OutgoingMedia,
    PixOrder,
    TemplateCall,
)

if TYPE_CHECKING:
    from conversations.models import Contact

T = TypeVar("T")

TEMPLATE = "template"
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")


def text(body: str, *, reply_to: str = "") -> dict[str, Any]:
    return {"kind": "text", "text": body, "reply_to": reply_to}


def media(kind: str, *, url: str, caption: str = "", filename: str = "") -> dict[str, Any]:
    return {"kind": "media", "media": {"kind": kind, "url": url, "caption": caption, "filename": filename}}


def location(latitude: float, longitude: float, *, name: str = "", address: str = "") -> dict[str, Any]:
    return {"kind": "location", "latitude": latitude, "longitude": longitude, "name": name, "address": address}


def template(name: str, language: str, *, components: list[dict] | None = None, rendered_text: str = "") -> dict:
    return {
        "kind": TEMPLATE,
        "name": name,
        "language": language,
        "components": components or [],
        "rendered_text": rendered_text,
    }


def template_request(name: str, language: str, parameters: list | dict | None = None) -> dict[str, Any]:
    """An approved template named with its values: the door (``outbound.send_message``) fills it for the channel."""
    values = [] if parameters is None else parameters
    return {"kind": TEMPLATE, "name": name, "language": language, "parameters": values}


def buttons(body: str, options: list[tuple[str, str]], *, footer: str = "") -> dict[str, Any]:
    return {"kind": "buttons", "body": body, "buttons": [{"id": i, "title": t} for i, t in options], "footer": footer}


def choice_list(
    body: str, button: str, sections: list[tuple[str, list[tuple[str, str, str]]]], *, footer: str = ""
) -> dict[str, Any]:
    """A list message: sections of (id, title, description) rows behind one button."""
    return {
        "kind": "list",
        "body": body,
        "button": button,
        "sections": [
            {"title": title, "rows": [{"id": i, "title": t, "description": d} for i, t, d in rows]}
            for title, rows in sections
        ],
        "footer": footer,
    }


def pix_order(
    *, reference_id: str, body: str, code: str, amount_cents: int, merchant_name: str, key: str, key_type: str
) -> dict[str, Any]:
    """A PIX bill with WhatsApp's "copy" button (Cloud channels enabled for Brazil payments)."""
    order = PixOrder(reference_id, body, code, amount_cents, merchant_name, key, key_type)
    return {"kind": "pix_order", "order": asdict(order)}


def message_type(content: dict[str, Any]) -> str:
    """``Message.type`` for this content."""
    kind = content["kind"]
    if kind == "media":
        return content["media"]["kind"]
    if kind in ("buttons", "list", "pix_order"):
        return "interactive"
    return kind


def readable_text(content: dict[str, Any]) -> str:
    """What the message says, for people (admin, API, Chatwoot)."""
    kind = content["kind"]
    if kind == "text":
        return content["text"]
    if kind == "media":
        return content["media"].get("caption", "")
    if kind == "location":
        return ", ".join(str(content[k]) for k in ("name", "address") if content.get(k))
    if kind == TEMPLATE:
        return content.get("rendered_text") or f"[template {content['name']}]"
    if kind == "pix_order":
        return content["order"]["code"]
    return content.get("body", "")


def is_template(content: dict[str, Any]) -> bool:
    return content["kind"] == TEMPLATE


def needs_template(channel: Channel, contact: "Contact", content: dict[str, Any]) -> bool:
    """Cloud channels only send free-form messages inside the customer service window (24 h)."""
    return channel.kind == Channel.Kind.CLOUD and not is_template(content) and not contact.window_open


def send(provider: MessageSender[T], *, to: str, content: dict[str, Any]) -> T:
    """Send ``content`` to ``to`` through ``provider``; raises the provider's SendError.

    Given ``cloud.MESSAGE_BODIES`` instead, it returns the Cloud API request the send would post (the Cloud
    provider posts it from the engine's event loop).
    """
    kind = content["kind"]
    if kind == "text":
        return provider.send_text(to=to, text=content["text"], reply_to=content.get("reply_to", ""))
    if kind == "media":
        spec = content["media"]
        return provider.send_media(
            to=to,
            media=OutgoingMedia(
                kind=spec["kind"], url=spec["url"], caption=spec.get("caption", ""), filename=spec.get("filename", "")
            ),
        )
    if kind == "location":
        return provider.send_location(
            to=to,
            location=Location(
                latitude=float(content["latitude"]),
                longitude=float(content["longitude"]),
                name=content.get("name", ""),
                address=content.get("address", ""),
            ),
        )
    if kind == TEMPLATE:
        return provider.send_template(
            to=to,
            template=TemplateCall(
                name=content["name"],
                language=content["language"],
                components=tuple(content.get("components") or ()),
                rendered_text=content.get("rendered_text", ""),
            ),
        )
    if kind == "buttons":
        options = tuple(Button(id=b["id"], title=b["title"]) for b in content["buttons"])
        return provider.send_buttons(to=to, body=content["body"], buttons=options, footer=content.get("footer", ""))
    if kind == "list":
        sections = tuple(
            ListSection(title=s["title"], rows=tuple(ListRow(**row) for row in s["rows"])) for s in content["sections"]
        )
        return provider.send_list(
            to=to, body=content["body"], button=content["button"], sections=sections, footer=content.get("footer", "")
        )
    if kind == "pix_order":
        return provider.send_pix_order(to=to, order=PixOrder(**content["order"]))
    raise ValueError(f"Unknown content kind {kind!r}")
