"""Normalised webhook events → contacts, messages, statuses and channel state. Idempotent.

Processing the same webhook twice (a provider retry, a replay from the admin) creates nothing
twice: messages are unique per (company, provider id), receipts per (message, status, time) and
notices per (webhook event, position); statuses only ever move forward. Each event is recorded in
its own savepoint, so one bad item never costs the others of the same request.
"""

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from companies import cache as company_cache
from companies import services as company_services
from companies.models import Channel, Company
from config import queues
from conversations import locks
from conversations.events import INBOUND_MESSAGE_RECORDED
from conversations.models import AccountNotice, Contact, Message, WebhookEvent
from conversations.services import media, statuses
from conversations.services.contacts import contact_key, mark_business_replied, sync_from_app, upsert_contact
from conversations.whatsapp import cloud_webhook, evolution_webhook
from conversations.whatsapp.base import (
    AccountEvent,
    ConnectionUpdate,
    ContactSync,
    Event,
    Ignored,
    InboundMessage,
    QrCodeUpdate,
    StatusUpdate,
)
from templates_meta import services as template_notices

logger = logging.getLogger(__name__)

# Each stored webhook's source: the kind of channel it names and the parser of its body.
PARSERS = {
    WebhookEvent.Source.META: (Channel.Kind.CLOUD, cloud_webhook.parse),
    WebhookEvent.Source.EVOLUTION: (Channel.Kind.EVOLUTION, evolution_webhook.parse),
}
# The type Meta gives a past media message whose file comes in a later webhook.
HISTORY_PLACEHOLDER = "media_placeholder"
# Column widths: provider values longer than these are cut, not refused.
MAX_TYPE, MAX_PROVIDER_ID = 24, 128


def _media_dict(event: InboundMessage) -> dict | None:
    if event.media is None:
        return None
    media = event.media
    # Evolution may inline the file as base64: the download task reads it from the raw payload.
    return {
        "media_id": media.media_id,
        "url": media.url,
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "filename": media.filename,
        "size": media.size,
        "inline": bool(media.base64),
    }


def new_message(
    *,
    company: Company,
    channel: Channel | None,
    contact: Contact,
    event: InboundMessage,
    source: WebhookEvent | None,
    position: int,
) -> Message:
    """The row for a message a webhook brought (not saved): the customer's, or the business's own echo.

    A message synced from the Business app's history is stored as it was and as already handled: the bot
    and the relay never answer the past.
    """
    from_customer = not event.from_me
    status = Message.Status.RECEIVED if from_customer else Message.Status.SENT
    if event.history and not from_customer and event.history_status in Message.Status.values:
        status = event.history_status
    return Message(
        company=company,
        channel=channel,
        contact=contact,
        direction=Message.Direction.INBOUND if from_customer else Message.Direction.OUTBOUND,
        author=Message.Author.CUSTOMER if from_customer else Message.Author.BUSINESS,
        type=event.type[:MAX_TYPE],
        text=event.text,
        data=event.data,
        raw=event.raw,
        provider_id=event.provider_id[:MAX_PROVIDER_ID],
        reply_to_provider_id=event.reply_to[:MAX_PROVIDER_ID],
        provider_timestamp=event.timestamp,
        source_event_id=source.pk if source else None,
        source_position=position,
        status=status,
        status_at=event.timestamp,
        media=_media_dict(event),
        media_status=Message.MediaStatus.PENDING if event.media and (from_customer or event.history) else "",
        handled_at=timezone.now() if event.history else None,
    )


def window_start(event: InboundMessage) -> dt.datetime | None:
    """The time a message opens the 24 h window at: a customer's own message (a system notice is not one,
    nor a past message synced from the Business app)."""
    return event.timestamp if not event.from_me and not event.history and event.type != "system" else None


def business_reply(event: InboundMessage) -> dt.datetime | None:
    """The time the business answered by hand (in the Business app, on its phone), if this message is that."""
    return event.timestamp if event.from_me and not event.history else None


def after_recorded(messages: list[Message]) -> None:
    """What follows new messages: receipts that came first (an echo's, a customer's deletion), downloads, the
    announcement."""
    statuses.apply_pending_for(messages)
    for message in messages:
        if message.media_status == Message.MediaStatus.PENDING:
            queues.publish_on_commit(media.DOWNLOAD_TASK, message.pk)
    INBOUND_MESSAGE_RECORDED.emit_many(
        [
            (m.company_id, {"message_id": m.pk, "contact_id": m.contact_id, "channel_id": m.channel_id, "type": m.type})
            for m in messages
            if m.direction == Message.Direction.INBOUND and m.handled_at is None
        ]
    )


def outcome_of(message: Message) -> str:
    return "message" if message.direction == Message.Direction.INBOUND else "business_message"


def _record_message(
    *, company: Company, channel: Channel | None, event: InboundMessage, source: WebhookEvent | None, position: int
) -> str:
    provider_id = event.provider_id[:MAX_PROVIDER_ID]
    # No look for a duplicate first: the unique (company, provider id) index finds it below, and a first
    # delivery, by far the common case, costs one query less.
    with locks.exclusive(contact_key(company, event.contact)):
        contact = upsert_contact(company=company, incoming=event.contact, inbound_at=window_start(event))
        message = new_message(
            company=company, channel=channel, contact=contact, event=event, source=source, position=position
        )
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except IntegrityError:
            # Only a concurrent copy of the same message is a duplicate; anything else is a real error.
            stored = Message.objects.filter(company=company, provider_id=provider_id).first() if provider_id else None
            if stored is None:
                raise
            return "history_media" if _fill_placeholder(stored, event) else "duplicate"
        if replied_at := business_reply(event):
            mark_business_replied(contact, at=replied_at)
    after_recorded([message])
    return outcome_of(message)


def _fill_placeholder(stored: Message, event: InboundMessage) -> bool:
    """The file of a past media message, sent by Meta after the history that had only its placeholder."""
    if not (event.history and event.media and stored.type == HISTORY_PLACEHOLDER):
        return False
    stored.type, stored.text, stored.data = event.type[:MAX_TYPE], event.text, {**stored.data, **event.data}
    stored.media, stored.media_status = _media_dict(event), Message.MediaStatus.PENDING
    stored.save(update_fields=["type", "text", "data", "media", "media_status", "updated_at"])
    queues.publish_on_commit(media.DOWNLOAD_TASK, stored.pk)
    return True


def _record_contact_sync(company: Company, event: ContactSync) -> str:
    with locks.exclusive(contact_key(company, event.contact)):
        return "contact_sync" if sync_from_app(company=company, sync=event) else "unsupported"


def _store_notice(
    company: Company,
    channel: Channel | None,
    source: WebhookEvent | None,
    position: int,
    event: AccountEvent,
    summary: str = "",
) -> str:
    defaults = {
        "company": company,
        "channel": channel,
        "field": event.field[:64],
        "value": event.value,
        "summary": summary[:255],
    }
    if source:
        notice, created = AccountNotice.objects.get_or_create(
            webhook_event=source, position=position, defaults=defaults
        )
    else:
        notice, created = AccountNotice.objects.create(**defaults), True
    if not created:
        return "duplicate_notice"
    handler = template_notices.NOTICE_HANDLERS.get(event.field)
    if handler is not None:
        result = handler(company=company, value=event.value)
        done = {"handled": bool(result)}
        if getattr(result, "summary", ""):
            done["summary"] = result.summary[:255]
        AccountNotice.objects.filter(pk=notice.pk).update(**done)
    return "notice"


# Receipts that name no message, kept as notices that say why.
RECEIPT_NOTICES = {
    "unsupported": (
        "status.unreadable",
        "A receipt ({status}) without a message id, or of a status Meta does not document: it moved nothing.",
    ),
}


class ChannelResolver:
    """The company's channel named by a webhook (phone_number_id or instance), memoised per batch."""

    def __init__(self, company: Company, kind: str) -> None:
        self.company, self.kind = company, kind
        self._seen: dict[str, Channel | None] = {}

    def __call__(self, channel_ref: str) -> Channel | None:
        if not channel_ref:
            return None
        if channel_ref not in self._seen:
            if self.kind == Channel.Kind.EVOLUTION:
                channel = company_cache.get_channel_by_instance(channel_ref)
            else:
                channel = company_cache.get_channel_by_phone_number_id(channel_ref)
            self._seen[channel_ref] = channel if channel is not None and channel.company_id == self.company.pk else None
        return self._seen[channel_ref]


def record_one(
    company: Company, channel: Channel | None, source: WebhookEvent | None, position: int, event: Event
) -> str:
    if isinstance(event, InboundMessage):
        return _record_message(company=company, channel=channel, event=event, source=source, position=position)
    if isinstance(event, StatusUpdate):
        outcome = statuses.record_status(company=company, channel=channel, update=event)
        if outcome in RECEIPT_NOTICES:  # a receipt we cannot place is still kept, as a notice
            field, summary = RECEIPT_NOTICES[outcome]
            notice = AccountEvent(field=field, value=event.raw or {"id": event.provider_id, "status": event.status})
            _store_notice(company, channel, source, position, notice, summary.format(status=event.status or "?"))
        return outcome
    if isinstance(event, ContactSync):
        return _record_contact_sync(company, event)
    if isinstance(event, ConnectionUpdate):
        if channel is None or event.state not in Channel.ConnectionState.values:
            return "unsupported"
        company_services.record_connection_state(channel=channel, state=event.state, reason=event.reason[:120])
        return "connection"
    if isinstance(event, QrCodeUpdate):
        if channel is None:
            return "unsupported"
        company_services.record_qr_code(channel=channel, qr_code=event.image_base64 or event.code)
        return "qrcode"
    if isinstance(event, AccountEvent):
        return _store_notice(company, channel, source, position, event)
    if isinstance(event, Ignored):
        return "ignored"
    logger.info("Unsupported webhook content for company %s: %s", company.pk, getattr(event, "reason", event))
    return "unsupported"


def record_events(
    *, company: Company, kind: str, events: Iterable[Event], source: WebhookEvent | None = None
) -> Counter:
    """Apply every event; returns how many of each outcome (message, duplicate, status, failed, ...).

    An event that raises is rolled back alone and counted as ``failed``; lock timeouts propagate so
    the whole webhook is retried later.
    """
    outcomes: Counter = Counter()
    channel_for = ChannelResolver(company, kind)
    for position, event in enumerate(events):
        channel = channel_for(getattr(event, "channel_ref", ""))
        try:
            with transaction.atomic():
                outcomes[record_one(company, channel, source, position, event)] += 1
        except locks.LockTimeout:
            raise
        except Exception:
            logger.exception("Could not record event %s of webhook %s", position, getattr(source, "pk", None))
            outcomes["failed"] += 1
    return outcomes
