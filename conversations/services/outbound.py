"""Outbound messages: stored as ``queued`` (the outbox) in the caller's transaction, sent by the engine."""

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from companies.models import Channel, Company
from config.exceptions import Conflict, DomainError
from conversations import tasks
from conversations.models import Contact, Message, MessageStatusChange
from conversations.sending import content as contents

KICK_KEY = "outbox:kick"


class WindowClosed(Conflict):
    code = "window_closed"
    message = (
        "The contact's last message is older than 24 hours: on the WhatsApp Cloud API only an approved "
        "template can be sent now."
    )


class NoChannel(DomainError):
    status = 409
    code = "no_channel"
    message = "The company has no channel that can send this message."


def _sending_channels(company: Company) -> list[Channel]:
    return list(company.channels.filter(is_active=True).order_by("pk"))


def reply_channel(company: Company, contact: Contact) -> Channel | None:
    """Replies go out on the channel the contact last wrote to."""
    last = (
        Message.objects.filter(company=company, contact=contact, direction=Message.Direction.INBOUND)
        .exclude(channel=None)
        .select_related("channel")
        .order_by("-created_at")
        .first()
    )
    if last and last.channel.is_active:
        return last.channel
    return next(iter(_sending_channels(company)), None)


def notice_channel(company: Company) -> Channel | None:
    """The channel for notices the ISP starts, per the company's routing policy (seed: official and
    unofficial at once: unofficial for active notices, since it costs nothing per message)."""
    channels = [c for c in _sending_channels(company) if c.sends_notices]
    evolution = [c for c in channels if c.kind == Channel.Kind.EVOLUTION]
    cloud = [c for c in channels if c.kind == Channel.Kind.CLOUD]
    others = [c for c in channels if c.kind == Channel.Kind.CONSOLE]
    policy = company.active_channel_policy
    if policy == Company.ActiveChannelPolicy.CLOUD_ONLY:
        return next(iter(cloud + others), None)
    connected = [c for c in evolution if c.connection_state == Channel.ConnectionState.OPEN]
    if policy == Company.ActiveChannelPolicy.EVOLUTION_ONLY:
        return next(iter(connected + evolution + others), None)
    if connected:
        return connected[0]
    if evolution and not company.evolution_fallback_to_cloud:
        return evolution[0]  # waits for the connection to come back rather than paying for templates
    return next(iter(cloud + evolution + others), None)


def kick_outbox() -> None:
    """Wake a dispatcher; at most one wake-up a second however many messages are queued."""
    if cache.add(KICK_KEY, 1, timeout=1):
        try:
            tasks.dispatch_outbox.apply_async(retry=False)
        except Exception:  # the broker is down: the periodic dispatcher finds the rows anyway
            cache.delete(KICK_KEY)


def queue_message(
    *,
    company: Company,
    contact: Contact,
    channel: Channel,
    content: dict[str, Any],
    author: str = Message.Author.BUSINESS,
    idempotency_key: str = "",
    refuse_closed_window: bool = True,
) -> Message:
    """Store an outbound message as queued and wake the engine after commit; returns it.

    Raises WindowClosed for a free-form message to a Cloud contact outside the 24 h window (unless
    ``refuse_closed_window`` is False: the engine then fails it with ``window_closed``).
    """
    if refuse_closed_window and contents.needs_template(channel, contact, content):
        raise WindowClosed(details={"contact": contact.phone or contact.user_id, "channel": channel.pk})
    now = timezone.now()
    message = Message.objects.create(
        company=company,
        channel=channel,
        contact=contact,
        direction=Message.Direction.OUTBOUND,
        author=author,
        type=contents.message_type(content),
        text=contents.readable_text(content),
        data={"content": content},
        status=Message.Status.QUEUED,
        status_at=now,
        next_attempt_at=now,
        idempotency_key=idempotency_key,
    )
    MessageStatusChange.objects.create(message=message, status=Message.Status.QUEUED, at=now)
    transaction.on_commit(kick_outbox)
    return message


@transaction.atomic
def retry_message(*, message: Message) -> bool:
    """Queue a failed or cancelled message again (from the admin or the API); returns whether it was."""
    now = timezone.now()
    updated = Message.objects.filter(
        pk=message.pk,
        direction=Message.Direction.OUTBOUND,
        status__in=[Message.Status.FAILED, Message.Status.CANCELLED],
    ).update(
        status=Message.Status.QUEUED, status_at=now, next_attempt_at=now, attempts=0, error_code="", error_reason=""
    )
    if updated:
        MessageStatusChange.objects.create(message=message, status=Message.Status.QUEUED, at=now)
        transaction.on_commit(kick_outbox)
    return bool(updated)


@transaction.atomic
def cancel_message(*, message: Message) -> bool:
    """Cancel a message still waiting in the outbox; returns whether it was (one being sent cannot be)."""
    now = timezone.now()
    updated = Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(
        status=Message.Status.CANCELLED, status_at=now, error_reason="cancelled by an operator"
    )
    if updated:
        MessageStatusChange.objects.create(message=message, status=Message.Status.CANCELLED, at=now)
    return bool(updated)
