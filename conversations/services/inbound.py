"""Normalised webhook events → contacts, messages, statuses and channel state. Idempotent.

Processing the same webhook twice (a provider retry, a replay from the admin) creates nothing
twice: messages are unique per (company, provider id) and statuses only ever move forward.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from companies import cache as company_cache
from companies import services as company_services
from companies.models import Channel, Company
from conversations import locks
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
    Unsupported,
)

logger = logging.getLogger(__name__)

# Handlers for account notices, by Meta field (templates_meta registers its own on start-up).
ACCOUNT_NOTICE_HANDLERS: dict[str, Callable[[AccountNotice], None]] = {}


def contact_key(company: Company, incoming: InboundContact) -> str:
    return f"contact:{company.pk}:{normalize_phone(incoming.wa_id) or incoming.user_id or incoming.wa_id}"


def upsert_contact(*, company: Company, incoming: InboundContact) -> Contact:
    """The company's contact for this WhatsApp user (by phone, else user id), created or refreshed."""
    phone = normalize_phone(incoming.wa_id)
    # Documentation payloads and odd providers send ids that are not phones: key on them as user ids.
    user_id = incoming.user_id or ("" if phone else incoming.wa_id)
    lookup = Q(phone=phone) if phone else Q(pk__in=[])
    if user_id:
        lookup |= Q(user_id=user_id)
    contact = Contact.objects.filter(lookup, company=company).order_by("pk").first()
    if contact is None:
        try:
            with transaction.atomic():
                return Contact.objects.create(
                    company=company,
                    phone=phone,
                    wa_id=incoming.wa_id,
                    user_id=user_id,
                    name=incoming.name,
                    username=incoming.username,
                )
        except IntegrityError:  # created meanwhile by another worker
            contact = Contact.objects.filter(lookup, company=company).order_by("pk").first()
            if contact is None:
                raise
    changed = []
    for field, value in (("phone", phone), ("user_id", user_id), ("wa_id", incoming.wa_id), ("name", incoming.name)):
        if value and getattr(contact, field) != value and (field in ("wa_id", "name") or not getattr(contact, field)):
            setattr(contact, field, value)
            changed.append(field)
    if incoming.username and contact.username != incoming.username:
        contact.username = incoming.username
        changed.append("username")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    return contact


def _record_message(*, company: Company, channel: Channel | None, event: InboundMessage) -> str:
    if event.provider_id and Message.objects.filter(company=company, provider_id=event.provider_id).exists():
        return "duplicate"
    with locks.exclusive(contact_key(company, event.contact)):
        contact = upsert_contact(company=company, incoming=event.contact)
        from_customer = not event.from_me
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    company=company,
                    channel=channel,
                    contact=contact,
                    direction=Message.Direction.INBOUND if from_customer else Message.Direction.OUTBOUND,
                    author=Message.Author.CUSTOMER if from_customer else Message.Author.BUSINESS,
                    type=event.type,
                    text=event.text,
                    data=event.data,
                    raw=event.raw,
                    provider_id=event.provider_id,
                    reply_to_provider_id=event.reply_to,
                    provider_timestamp=event.timestamp,
                    status=Message.Status.RECEIVED if from_customer else Message.Status.SENT,
                    status_at=event.timestamp,
                    media=_media_dict(event),
                    media_status=Message.MediaStatus.PENDING if event.media and from_customer else "",
                )
        except IntegrityError:
            return "duplicate"
        if from_customer and event.type != "system":
            # The 24 h window runs from the customer's latest message; late deliveries never shorten it.
            Contact.objects.filter(pk=contact.pk).filter(
                Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=event.timestamp)
            ).update(last_inbound_at=event.timestamp)
    if not from_customer:
        statuses.apply_pending(message)
    if message.media_status == Message.MediaStatus.PENDING:
        from conversations import tasks  # tasks imports this module

        transaction.on_commit(lambda: tasks.download_media.delay(message.pk))
    return "message" if from_customer else "business_message"


def _media_dict(event: InboundMessage) -> dict | None:
    if event.media is None:
        return None
    media = event.media
    # Evolution may inline the file as base64: the download task reads it from the raw payload instead.
    return {
        "media_id": media.media_id,
        "url": media.url,
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "filename": media.filename,
        "size": media.size,
        "inline": bool(media.base64),
    }


def _update_connection(channel: Channel | None, event: ConnectionUpdate) -> str:
    if channel is None:
        return "unknown_channel"
    if event.state not in Channel.ConnectionState.values:
        return "unknown_state"
    if channel.connection_state != event.state or channel.connection_reason != event.reason:
        company_services.update_channel(
            channel=channel,
            data={
                "connection_state": event.state,
                "connection_reason": event.reason[:120],
                "connection_state_changed_at": timezone.now(),
            },
        )
    return "connection"


def _update_qr_code(channel: Channel | None, event: QrCodeUpdate) -> str:
    if channel is None:
        return "unknown_channel"
    company_services.update_channel(
        channel=channel,
        data={"qr_code": event.image_base64 or event.code, "qr_code_updated_at": timezone.now()},
    )
    return "qrcode"


def _store_notice(company: Company, channel: Channel | None, source: WebhookEvent | None, event: AccountEvent) -> str:
    notice = AccountNotice.objects.create(
        company=company, channel=channel, webhook_event=source, field=event.field, value=event.value
    )
    handler = ACCOUNT_NOTICE_HANDLERS.get(event.field)
    if handler is not None:
        handler(notice)
        AccountNotice.objects.filter(pk=notice.pk).update(handled=True)
    return "notice"


def channel_for(company: Company, kind: str, channel_ref: str) -> Channel | None:
    """The company's channel named by a webhook (phone_number_id or instance), if it is the company's."""
    if not channel_ref:
        return None
    if kind == Channel.Kind.EVOLUTION:
        channel = company_cache.get_channel_by_instance(channel_ref)
    else:
        channel = company_cache.get_channel_by_phone_number_id(channel_ref)
    return channel if channel is not None and channel.company_id == company.pk else None


def record_events(
    *, company: Company, kind: str, events: Iterable[Event], source: WebhookEvent | None = None
) -> Counter:
    """Apply every event; returns how many of each outcome (message, duplicate, status, ...)."""
    outcomes: Counter = Counter()
    for event in events:
        channel = channel_for(company, kind, getattr(event, "channel_ref", ""))
        if isinstance(event, InboundMessage):
            outcomes[_record_message(company=company, channel=channel, event=event)] += 1
        elif isinstance(event, StatusUpdate):
            outcomes[statuses.record_status(company=company, channel=channel, update=event)] += 1
        elif isinstance(event, ConnectionUpdate):
            outcomes[_update_connection(channel, event)] += 1
        elif isinstance(event, QrCodeUpdate):
            outcomes[_update_qr_code(channel, event)] += 1
        elif isinstance(event, AccountEvent):
            outcomes[_store_notice(company, channel, source, event)] += 1
        elif isinstance(event, Ignored):
            outcomes["ignored"] += 1
        elif isinstance(event, Unsupported):
            logger.info("Unsupported webhook content for company %s: %s", company.pk, event.reason)
            outcomes["unsupported"] += 1
    return outcomes
