"""A provider that logs and records instead of sending (like Django's console and locmem mail backends).

Each message is logged and kept in ``outbox``, in the memory of the process that sent it (the outbox
worker's under ``make run``). Nothing reports back, so a message sent on a console channel stays ``sent``.
"""

import base64
import binascii
import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from config.provider_errors import ErrorKind
from conversations.whatsapp.base import (
    Button,
    FetchedMedia,
    ListSection,
    Location,
    MediaRef,
    OutgoingMedia,
    PixOrder,
    SendError,
    Sent,
    TemplateCall,
)
from conversations.whatsapp.blocking import SendsOnThreads

if TYPE_CHECKING:
    from companies.models import Channel

logger = logging.getLogger("conversations.console")

# A valid 1x1 transparent PNG: what every "downloaded" console media contains.
CONSOLE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class ConsoleMessage:
    """One recorded call: ``type`` is text, image, …, location, buttons, list, template or read."""

    channel_id: int
    to: str
    type: str
    payload: dict[str, Any]
    provider_id: str = ""  # the id the send returned ("" for read receipts)


outbox: list[ConsoleMessage] = []
_sequence: dict[int, int] = {}  # per channel, so ids do not depend on other tests' channels


def reset_outbox() -> None:
    """Empty the outbox, restart the ids at 1 and clear a class-level ``fail_with`` (for tests)."""
    outbox.clear()
    _sequence.clear()
    ConsoleProvider.fail_with = None


class ConsoleProvider(SendsOnThreads):
    """Records every send in ``outbox``; set ``fail_with`` (on the class or an instance) to make sends fail."""

    fail_with: SendError | None = None

    def __init__(self, channel: "Channel") -> None:
        self.channel = channel

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> Sent:
        return self._record(to, "text", text, {"text": text, "reply_to": reply_to})

    def send_media(self, *, to: str, media: OutgoingMedia, reply_to: str = "") -> Sent:
        summary = media.caption or media.filename or media.url or media.media_id
        return self._record(to, media.kind, summary, asdict(media) | {"reply_to": reply_to})

    def send_location(self, *, to: str, location: Location) -> Sent:
        summary = location.name or f"{location.latitude},{location.longitude}"
        return self._record(to, "location", summary, asdict(location))

    def send_buttons(self, *, to: str, body: str, buttons: tuple[Button, ...], footer: str = "") -> Sent:
        payload = {"body": body, "buttons": buttons, "footer": footer}
        return self._record(to, "buttons", f"{body} [{' | '.join(b.title for b in buttons)}]", payload)

    def send_list(
        self, *, to: str, body: str, button: str, sections: tuple[ListSection, ...], footer: str = ""
    ) -> Sent:
        payload = {"body": body, "button": button, "sections": sections, "footer": footer}
        return self._record(to, "list", f"{body} [{button}]", payload)

    def send_template(self, *, to: str, template: TemplateCall) -> Sent:
        summary = template.rendered_text or f"{template.name} ({template.language})"
        return self._record(to, "template", summary, asdict(template))

    def send_pix_order(self, *, to: str, order: PixOrder) -> Sent:
        return self._record(to, "pix_order", order.code, asdict(order))

    def mark_read(self, *, message_id: str, remote: str = "") -> None:
        self._check_failure()
        outbox.append(ConsoleMessage(self.channel.pk, remote, "read", {"message_id": message_id}))
        logger.info("console channel=%s read %s", self.channel.pk, message_id)

    def fetch_media(self, *, media: MediaRef) -> FetchedMedia:
        self._check_failure()
        if media.base64:
            try:
                return FetchedMedia(content=base64.b64decode(media.base64, validate=True), mime_type=media.mime_type)
            except (binascii.Error, ValueError):
                raise SendError("Media is not valid base64", kind=ErrorKind.PERMANENT, code="bad_media") from None
        if media.media_id or media.url:
            return FetchedMedia(content=CONSOLE_PNG, mime_type="image/png")
        raise SendError("Media has neither bytes, an id nor a URL", kind=ErrorKind.PERMANENT, code="no_media")

    def _check_failure(self) -> None:
        if self.fail_with is not None:
            logger.info("console channel=%s failing as told: %r", self.channel.pk, self.fail_with)
            raise self.fail_with

    def _record(self, to: str, type_: str, summary: str, payload: dict[str, Any]) -> Sent:
        # A failing send records nothing, as a refused message never left.
        self._check_failure()
        _sequence[self.channel.pk] = _sequence.get(self.channel.pk, 0) + 1
        provider_id = f"console.{self.channel.pk}.{_sequence[self.channel.pk]}"
        # Stored JSON-shaped (dataclasses as dicts, tuples as lists), like the body a real provider posts.
        payload = json.loads(json.dumps(payload, default=asdict))
        outbox.append(ConsoleMessage(self.channel.pk, to, type_, payload, provider_id))
        logger.info("console channel=%s to=%s type=%s %s", self.channel.pk, to, type_, summary.replace("\n", " "))
        return Sent(provider_id=provider_id, wa_id="".join(ch for ch in to if ch.isdigit()))
