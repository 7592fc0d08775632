"""The interface of a WhatsApp channel provider and the data that crosses it.

Implementers (``cloud``, ``evolution``, ``console``): take credentials and base URLs from the
Channel row, send HTTP only through ``config.http``, return the dataclasses below (provider JSON
never leaves the module) and raise :class:`SendError` with the :class:`ErrorKind` that tells the
sending engine what to do. Parsing a webhook never raises for content: unknown shapes become
``Unsupported`` events so nothing is silently dropped.
"""

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.utils.module_loading import import_string

from config.provider_errors import RETRYABLE_KINDS, ErrorKind

if TYPE_CHECKING:
    from companies.models import Channel
    from config.async_http import AsyncOutgoing


# ------------------------------------------------------------------------------ errors


class SendError(Exception):
    """A provider refused or failed a request. ``code`` is the provider's own code, as text."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        code: str = "",
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code
        self.retry_after = retry_after
        self.details = details or {}

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __repr__(self) -> str:
        return f"SendError({self.kind}, code={self.code!r}, {self.message!r})"


# ------------------------------------------------------------------------------ outgoing


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message (not yet delivered)."""

    provider_id: str  # WhatsApp wamid or Evolution key id
    wa_id: str = ""  # the recipient as the provider normalised it (Meta may drop the 9th digit)
    status: str = "accepted"  # Meta's message_status for templates: accepted, held_for_quality_assessment, paused


@dataclass(frozen=True)
class OutgoingMedia:
    kind: str  # image, audio, video, document, sticker
    url: str = ""  # a public link, or
    media_id: str = ""  # an id already uploaded to the provider
    caption: str = ""
    filename: str = ""  # documents
    mime_type: str = ""


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


@dataclass(frozen=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True)
class ListRow:
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class ListSection:
    title: str
    rows: tuple[ListRow, ...]


@dataclass(frozen=True)
class PixOrder:
    """A bill to pay by PIX, shown by WhatsApp with a "copy" button (Meta's Brazil payments, ``order_details``).

    https://developers.facebook.com/documentation/business-messaging/whatsapp/payments/payments-br/offsite-pix
    """

    reference_id: str  # unique per order: the business tracks the payment by it
    body: str
    code: str  # the PIX copy-and-paste code (dynamic BR Code)
    amount_cents: int
    merchant_name: str
    key: str
    key_type: str  # CPF, CNPJ, EMAIL, PHONE or EVP


@dataclass(frozen=True)
class TemplateCall:
    """An approved template and its filled-in components, in Cloud API shape."""

    name: str
    language: str  # e.g. pt_BR
    components: tuple[dict[str, Any], ...] = ()
    # How to show it where templates do not exist (Evolution): the rendered text.
    rendered_text: str = ""


# ------------------------------------------------------------------------------ incoming


@dataclass(frozen=True)
class InboundContact:
    """Who wrote: a phone (wa_id) and/or, since 2026, a business-scoped user id (BSUID)."""

    wa_id: str = ""  # digits, as the provider sent them
    user_id: str = ""  # Meta BSUID, e.g. "BR.123..."; Evolution LID jid
    name: str = ""
    username: str = ""


@dataclass(frozen=True)
class MediaRef:
    media_id: str = ""  # Cloud media id (GET /{media-id} for the URL)
    url: str = ""  # direct URL (Evolution)
    mime_type: str = ""  # as declared by the sender: never trusted for safety
    sha256: str = ""
    filename: str = ""
    size: int | None = None
    base64: str = ""  # Evolution can inline the bytes


@dataclass(frozen=True)
class FetchedMedia:
    content: bytes
    mime_type: str  # declared by the provider's download response


@dataclass(frozen=True)
class InboundMessage:
    provider_id: str
    contact: InboundContact
    timestamp: dt.datetime
    type: str  # text, image, audio, video, document, sticker, location, contacts, interactive, button, ...
    text: str = ""  # normalised text: body, caption, button title, reply title, maps link, ...
    media: MediaRef | None = None
    reply_to: str = ""  # provider id of the message this one answers (context)
    data: dict[str, Any] = field(default_factory=dict)  # structured content per type
    channel_ref: str = ""  # phone_number_id (Cloud) or instance name (Evolution)
    raw: dict[str, Any] = field(default_factory=dict)
    from_me: bool = False  # typed by the business in the WhatsApp Business app or on its phone, not by a customer
    # Synced from the Business app's past chats (coexistence): kept as it was, never answered, no window.
    history: bool = False
    history_status: str = ""  # what the app had for it: sent, delivered, read, played, failed


@dataclass(frozen=True)
class StatusUpdate:
    provider_id: str
    status: str  # sent, delivered, read, failed, deleted, played
    timestamp: dt.datetime
    recipient: str = ""
    error_code: str = ""
    error_title: str = ""
    pricing: dict[str, Any] | None = None
    conversation: dict[str, Any] | None = None
    channel_ref: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactSync:
    """A contact the business added, edited or removed in the WhatsApp Business app's address book."""

    action: str  # add, edit, remove
    contact: InboundContact
    timestamp: dt.datetime
    channel_ref: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionUpdate:
    state: str  # open, connecting, close
    reason: str = ""
    channel_ref: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QrCodeUpdate:
    code: str = ""
    image_base64: str = ""
    channel_ref: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountEvent:
    """Account-level notices (templates, quality, account updates) routed to their handlers by ``field``."""

    field: str  # Meta's changes[].field, e.g. message_template_status_update
    value: dict[str, Any]
    channel_ref: str = ""


@dataclass(frozen=True)
class Unsupported:
    """A part of a webhook we do not understand: kept, never dropped."""

    reason: str
    channel_ref: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ignored:
    """A part we understood and deliberately skip (groups, broadcasts, presence, echoes of our sends)."""

    reason: str
    channel_ref: str = ""


Event = (
    InboundMessage | StatusUpdate | ContactSync | ConnectionUpdate | QrCodeUpdate | AccountEvent | Unsupported | Ignored
)


# ------------------------------------------------------------------------------ the interface


@dataclass(frozen=True)
class SendRuntime:
    """What the sending engine lends a provider for a send made from its event loop."""

    http: "AsyncOutgoing"  # the loop's HTTP client: hundreds of calls in flight without a thread each
    run_sync: Callable[[Callable[[], Sent]], Awaitable[Sent]]  # a blocking call, run on the engine's threads


T = TypeVar("T", covariant=True)


class MessageSender(Protocol[T]):
    """The send methods of a provider (``T`` is ``Sent``), or of something that builds what it would post."""

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> T: ...
    def send_media(self, *, to: str, media: OutgoingMedia, reply_to: str = "") -> T: ...
    def send_location(self, *, to: str, location: Location) -> T: ...
    def send_buttons(self, *, to: str, body: str, buttons: tuple[Button, ...], footer: str = "") -> T: ...
    def send_list(
        self, *, to: str, body: str, button: str, sections: tuple[ListSection, ...], footer: str = ""
    ) -> T: ...
    def send_template(self, *, to: str, template: TemplateCall) -> T: ...
    def send_pix_order(self, *, to: str, order: PixOrder) -> T: ...


class WhatsAppProvider(MessageSender[Sent], Protocol):
    """A channel's WhatsApp number. The engine calls only ``send_async``; the rest serve everyone else."""

    async def send_async(self, *, to: str, content: dict[str, Any], runtime: SendRuntime) -> Sent:
        """Send an outbox message's content (``conversations.whatsapp.content``) from the engine's event loop,
        calling ``before_send`` first; raises SendError."""
        ...

    def before_send(self, *, to: str) -> None:
        """What the provider does before each message the engine sends (Evolution: "typing…")."""
        ...

    def mark_read(self, *, message_id: str, remote: str = "") -> None: ...
    def fetch_media(self, *, media: MediaRef) -> FetchedMedia: ...


PROVIDERS: dict[str, str] = {
    "cloud": "conversations.whatsapp.cloud.CloudProvider",
    "evolution": "conversations.whatsapp.evolution.EvolutionProvider",
    "console": "conversations.whatsapp.console.ConsoleProvider",
}


def provider_for(channel: "Channel") -> WhatsAppProvider:
    """The provider that talks to ``channel``'s WhatsApp number."""
    return import_string(PROVIDERS[channel.kind])(channel)
