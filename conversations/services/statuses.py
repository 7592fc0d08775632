"""Delivery statuses: applied in order of progress, never backwards, never dropped.

Meta and Evolution deliver receipts out of order (a ``read`` can arrive before its ``delivered``)
and sometimes before we know the message. Every receipt is kept in the history; only progress
moves ``Message.status``. A receipt for an unknown message waits as a PendingStatus.
"""

import datetime as dt

from django.db import transaction

from companies.models import Channel, Company
from conversations.models import Message, MessageStatusChange, PendingStatus
from conversations.whatsapp.base import StatusUpdate

# How far along a message is; a receipt applies only when it goes further.
PROGRESS = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.RECEIVED: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}
# Terminal outcomes: ``failed`` ends a message not yet delivered; ``deleted`` always applies.
FAILED_APPLIES_UP_TO = PROGRESS[Message.Status.SENT]


def moves_forward(current: str, new: str) -> bool:
    if current in (Message.Status.DELETED, Message.Status.FAILED) and new != Message.Status.DELETED:
        return False
    if new == Message.Status.DELETED:
        return current != Message.Status.DELETED
    if new == Message.Status.FAILED:
        return PROGRESS.get(current, 0) <= FAILED_APPLIES_UP_TO
    return PROGRESS.get(new, -1) > PROGRESS.get(current, 0)


def apply_status(
    *,
    message: Message,
    status: str,
    at: dt.datetime,
    error_code: str = "",
    error_title: str = "",
    pricing: dict | None = None,
    raw: dict | None = None,
) -> bool:
    """Add the receipt to the message's history and move its status if it is progress; returns whether it moved."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if MessageStatusChange.objects.filter(message=locked, status=status, at=at).exists():
            return False  # the same receipt again (provider retry, replay)
        applied = moves_forward(locked.status, status)
        MessageStatusChange.objects.create(
            message=locked,
            status=status,
            at=at,
            error_code=error_code[:32],
            error_title=error_title[:255],
            applied=applied,
            raw=raw or {},
        )
        fields = []
        if applied:
            locked.status, locked.status_at = status, at
            fields += ["status", "status_at"]
            if status == Message.Status.FAILED:
                locked.error_code, locked.error_reason = error_code[:32], error_title[:255]
                fields += ["error_code", "error_reason"]
        if pricing and not locked.pricing:  # Meta repeats pricing on sent and delivered: keep the first
            locked.pricing, locked.pricing_category = pricing, str(pricing.get("category", ""))[:32]
            fields += ["pricing", "pricing_category"]
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
    message.status, message.status_at = locked.status, locked.status_at
    return applied


def record_status(*, company: Company, channel: Channel | None, update: StatusUpdate) -> str:
    """Apply a provider receipt, or keep it pending until its message appears."""
    status = update.status if update.status in Message.Status.values else None
    if status is None or not update.provider_id:
        return "unsupported"
    message = Message.objects.filter(company=company, provider_id=update.provider_id).first()
    if message is None:
        PendingStatus.objects.get_or_create(
            company=company,
            provider_id=update.provider_id[:128],
            status=status,
            at=update.timestamp,
            defaults={
                "channel": channel,
                "error_code": update.error_code[:32],
                "error_title": update.error_title[:255],
                "pricing": update.pricing,
                "raw": update.raw,
            },
        )
        # The message may have been stored while this receipt was being written: apply it now then.
        message = Message.objects.filter(company=company, provider_id=update.provider_id).first()
        if message is not None:
            apply_pending(message)
            return "status"
        return "pending_status"
    apply_status(
        message=message,
        status=status,
        at=update.timestamp,
        error_code=update.error_code,
        error_title=update.error_title,
        pricing=update.pricing,
        raw=update.raw,
    )
    return "status"


def apply_pending(message: Message) -> int:
    """Apply the receipts that arrived before ``message`` was known; returns how many."""
    if not message.provider_id:
        return 0
    pending = list(
        PendingStatus.objects.filter(company=message.company_id, provider_id=message.provider_id).order_by("at", "pk")
    )
    for receipt in pending:
        apply_status(
            message=message,
            status=receipt.status,
            at=receipt.at,
            error_code=receipt.error_code,
            error_title=receipt.error_title,
            pricing=receipt.pricing,
            raw=receipt.raw,
        )
    PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()
    return len(pending)
