"""Normalised webhook events → contacts, messages, statuses and channel state. Idempotent.

Processing the same webhook twice (a provider retry, a replay from the admin) creates nothing
twice: messages are unique per (company, provider id), receipts per (message, status, time) and
notices per (webhook event, position); statuses only ever move forward. Each event is recorded in
its own savepoint, so one bad item never costs the others of the same request.
"""

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction

from companies import cache as company_cache
from companies import services as company_services
from companies.models import Channel, Company
from conversations import locks, tasks
from conversations.models import AccountNotice, Contact, Message, WebhookEvent
from conversations.phones import normalize_phone
from conversations.services import statuses
from conversations.whatsapp.base import (
    AccountEvent,
    ConnectionUpdate,
    Event,
    Ignored,
    InboundContact,
    InboundMessage,
    QrCodeUpdate,
    StatusUpdate,
)

logger = logging.getLogger(__name__)

# Handlers for account notices, by Meta field (templates_meta registers its own on start-up).
ACCOUNT_NOTICE_HANDLERS: dict[str, Callable[[AccountNotice], None]] = {}
# Column widths: provider values longer than these are cut, not refused.
MAX_TYPE, MAX_PROVIDER_ID, MAX_NAME = 24, 128, 200


def contact_key(company: Company, incoming: InboundContact) -> str:
    return f"contact:{company.pk}:{normalize_phone(incoming.wa_id) or incoming.user_id or incoming.wa_id}"


def _merge_contacts(keep: Contact, other: Contact) -> None:
    """``other`` turned out to be ``keep`` (a user id seen alone, then with a phone): one contact remains."""
    other.messages.update(contact=keep)
    if other.last_inbound_at and (not keep.last_inbound_at or other.last_inbound_at > keep.last_inbound_at):
        keep.last_inbound_at = other.last_inbound_at
    other.delete()


def upsert_contact(*, company: Company, incoming: InboundContact, inbound_at: dt.datetime | None = None) -> Contact:
    """The company's contact for this WhatsApp user (by phone, else user id), created or refreshed.

    ``inbound_at``, the time of a message the customer sent, moves the 24 h window's start forward, never
    back (a late delivery of an older message never shortens the window). Callers that pass it hold the
    contact's lock (``contact_key``), so the read and the write below see no other writer in between.
    """
    phone = normalize_phone(incoming.wa_id)
    # Documentation payloads and odd providers send ids that are not phones: key on them as user ids.
    user_id = (incoming.user_id or ("" if phone else incoming.wa_id))[:128]
    by_phone = Contact.objects.filter(company=company, phone=phone).first() if phone else None
    by_user = Contact.objects.filter(company=company, user_id=user_id).first() if user_id else None
    changed = []
    if by_phone and by_user and by_phone.pk != by_user.pk:
        if by_user.phone:  # two people claim the id: keep the phone match, leave the id where it is
            user_id = ""
        else:
            _merge_contacts(by_phone, by_user)
            changed.append("last_inbound_at")
    contact = by_phone or by_user
    if contact is None:
        try:
            with transaction.atomic():
                return Contact.objects.create(
                    company=company,
                    phone=phone,
                    wa_id=incoming.wa_id[:64],
                    user_id=user_id,
                    name=incoming.name[:MAX_NAME],
                    username=incoming.username[:100],
                    last_inbound_at=inbound_at,
                )
        except IntegrityError:
            # Created meanwhile by a caller without the contact lock (the send API): refresh that one.
            return upsert_contact(company=company, incoming=incoming, inbound_at=inbound_at)
    updates = (
        ("phone", phone, False),
        ("user_id", user_id, False),
        ("wa_id", incoming.wa_id[:64], True),
        ("name", incoming.name[:MAX_NAME], True),
        ("username", incoming.username[:100], True),
    )
    for field, value, replaces in updates:
        if value and getattr(contact, field) != value and (replaces or not getattr(contact, field)):
            setattr(contact, field, value)
            changed.append(field)
    if inbound_at and (contact.last_inbound_at is None or contact.last_inbound_at < inbound_at):
        contact.last_inbound_at = inbound_at
        changed.append("last_inbound_at")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    return contact


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


def _record_message(*, company: Company, channel: Channel | None, event: InboundMessage) -> str:
    provider_id = event.provider_id[:MAX_PROVIDER_ID]
    from_customer = not event.from_me
    # The 24 h window runs from the customer's latest message (a system notice is not one).
    inbound_at = event.timestamp if from_customer and event.type != "system" else None
    # No look for a duplicate first: the unique (company, provider id) index finds it below, and a first
    # delivery, by far the common case, costs one query less.
    with locks.exclusive(contact_key(company, event.contact)):
        contact = upsert_contact(company=company, incoming=event.contact, inbound_at=inbound_at)
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    company=company,
                    channel=channel,
                    contact=contact,
                    direction=Message.Direction.INBOUND if from_customer else Message.Direction.OUTBOUND,
                    author=Message.Author.CUSTOMER if from_customer else Message.Author.BUSINESS,
                    type=event.type[:MAX_TYPE],
                    text=event.text,
                    data=event.data,
                    raw=event.raw,
                    provider_id=provider_id,
                    reply_to_provider_id=event.reply_to[:MAX_PROVIDER_ID],
                    provider_timestamp=event.timestamp,
                    status=Message.Status.RECEIVED if from_customer else Message.Status.SENT,
                    status_at=event.timestamp,
                    media=_media_dict(event),
                    media_status=Message.MediaStatus.PENDING if event.media and from_customer else "",
                )
        except IntegrityError:
            # Only a concurrent copy of the same message is a duplicate; anything else is a real error.
            if provider_id and Message.objects.filter(company=company, provider_id=provider_id).exists():
                return "duplicate"
            raise
    if not from_customer:
        statuses.apply_pending(message)
    if message.media_status == Message.MediaStatus.PENDING:
        transaction.on_commit(lambda: tasks.download_media.delay(message.pk))
    return "message" if from_customer else "business_message"


def _store_notice(
    company: Company, channel: Channel | None, source: WebhookEvent | None, position: int, event: AccountEvent
) -> str:
    defaults = {"company": company, "channel": channel, "field": event.field[:64], "value": event.value}
    if source:
        notice, created = AccountNotice.objects.get_or_create(
            webhook_event=source, position=position, defaults=defaults
        )
    else:
        notice, created = AccountNotice.objects.create(**defaults), True
    if not created:
        return "duplicate_notice"
    handler = ACCOUNT_NOTICE_HANDLERS.get(event.field)
    if handler is not None:
        handler(notice)
        AccountNotice.objects.filter(pk=notice.pk).update(handled=True)
    return "notice"


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


def _record_one(
    company: Company, channel: Channel | None, source: WebhookEvent | None, position: int, event: Event
) -> str:
    if isinstance(event, InboundMessage):
        return _record_message(company=company, channel=channel, event=event)
    if isinstance(event, StatusUpdate):
        outcome = statuses.record_status(company=company, channel=channel, update=event)
        if outcome == "unsupported":  # a receipt we cannot place is still kept, as a notice
            notice = AccountEvent(field="status.unreadable", value=event.raw or {"status": event.status})
            _store_notice(company, channel, source, position, notice)
        return outcome
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
                outcomes[_record_one(company, channel, source, position, event)] += 1
        except locks.LockTimeout:
            raise
        except Exception:
            logger.exception("Could not record event %s of webhook %s", position, getattr(source, "pk", None))
            outcomes["failed"] += 1
    return outcomes
