"""The one door out: every outbound message (API, notices, campaigns, the bot, agents) is queued here.

``send_message`` resolves the channel by the company's routing policy, finds or creates the contact,
fills a template from the catalogue, applies the 24 h window rule and stores the message as ``queued``
in the caller's transaction: the messages table is the outbox, sent by the engine
(``conversations.sending``) once the transaction commits. What it refuses it raises as the domain
errors of ``conversations.exceptions`` (and ``templates_meta.exceptions``), which the API renders once.
"""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from companies.models import Channel, Company
from companies.phones import normalize_phone
from config import queues
from conversations import events
from conversations.exceptions import ChannelNotUsable, CompanyInactive, InvalidRecipient, NoChannel, WindowClosed
from conversations.models import Contact, Message
from conversations.services import statuses
from conversations.services.contacts import upsert_contact
from conversations.whatsapp import content as contents
from conversations.whatsapp.base import InboundContact
from templates_meta.services import fill_template

DISPATCH_TASK = "conversations.tasks.dispatch_outbox"
# A wake-up waiting longer than this is dropped: a dispatcher is running or the periodic one comes.
KICK_EXPIRES_SECONDS = 10
# At most one wake-up a second however many messages are queued; a dispatcher clears it as it starts.
KICK_TTL_SECONDS = 1


def _sending_channels(company: Company) -> list[Channel]:
    return list(company.channels.filter(is_active=True).order_by("pk"))


def reply_channel(company: Company, contact: Contact) -> Channel | None:
    """Replies go out on the channel the contact last wrote to; to one who never wrote, as notices do."""
    last = (
        Message.objects.filter(company=company, contact=contact, direction=Message.Direction.INBOUND)
        .exclude(channel=None)
        .select_related("channel")
        .order_by("-created_at")
        .first()
    )
    if last and last.channel.is_active:
        return last.channel
    return notice_channel(company)


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
    """Wake a dispatcher (one publish for a burst of queued messages when the cache is shared)."""
    queues.wake(DISPATCH_TASK, ttl=KICK_TTL_SECONDS, expires=KICK_EXPIRES_SECONDS)


def route(
    *, company: Company, to: Contact | str, purpose: str = Message.Purpose.NOTICE, channel: Channel | None = None
) -> tuple[Contact, Channel]:
    """The contact ``to`` names (created if new) and the channel a message of ``purpose`` to it goes out on.

    For callers that compose by channel (a bill: a PIX order on Cloud, plain text elsewhere; a template
    outside the window). Raises InvalidRecipient, ChannelNotUsable, NoChannel.
    """
    contact = _contact(company, to)
    return contact, _channel(company, channel, contact, purpose)


def _channel(company: Company, channel: Channel | None, contact: Contact | None, purpose: str) -> Channel:
    if channel is not None:
        if channel.company_id != company.pk or not channel.is_active:
            raise ChannelNotUsable
        return channel
    if purpose == Message.Purpose.REPLY and contact is not None:
        found = reply_channel(company, contact)
    else:
        found = notice_channel(company)
    if found is None:
        raise NoChannel
    return found


def _contact(company: Company, to: Contact | str) -> Contact:
    if isinstance(to, Contact):
        if to.company_id != company.pk:
            raise InvalidRecipient
        return to
    phone = normalize_phone(to)
    if not phone:
        raise InvalidRecipient
    return upsert_contact(company=company, incoming=InboundContact(wa_id=phone))


def _filled(company: Company, channel: Channel, content: dict[str, Any]) -> dict[str, Any]:
    """A template named with its values becomes the approved template filled for the channel."""
    if not contents.is_template(content) or "parameters" not in content:
        return content
    filled = fill_template(
        company=company,
        channel=channel,
        name=content["name"],
        language=content["language"],
        parameters=content["parameters"],
    )
    return contents.template(
        filled.name, filled.language, components=filled.components, rendered_text=filled.rendered_text
    )


def send_message(
    *,
    company: Company,
    to: Contact | str,
    content: dict[str, Any],
    channel: Channel | None = None,
    author: str = Message.Author.SYSTEM,
    purpose: str = Message.Purpose.NOTICE,
    idempotency_key: str = "",
    reference: str = "",
    session_id: int | None = None,
) -> Message:
    """Queue one message to ``to`` (a contact, or a phone number with country code); returns it.

    ``content`` is built with ``conversations.whatsapp.content`` (text, media, location, buttons, list,
    or ``template_request`` with its values). Without ``channel``, a reply goes out on the channel the
    contact last wrote to and a notice or campaign on the company's notice channel. The same
    ``idempotency_key`` for the company returns the message queued first instead of a second one.
    ``reference`` says what produced it, as ``kind:id``; ``session_id`` the conversation it belongs to.

    Raises CompanyInactive, InvalidRecipient, ChannelNotUsable, NoChannel, TemplateNotUsable, and
    WindowClosed for a free-form message to a Cloud contact outside the 24 h window.
    """
    if idempotency_key and (queued := _already_queued(company, idempotency_key)) is not None:
        return queued
    if not company.is_active:
        raise CompanyInactive
    with transaction.atomic():  # a refusal leaves nothing behind, not even a contact it created
        return _queue(company, to, content, channel, author, purpose, idempotency_key, reference, session_id)


def _queue(
    company: Company,
    to: Contact | str,
    content: dict[str, Any],
    channel: Channel | None,
    author: str,
    purpose: str,
    idempotency_key: str,
    reference: str,
    session_id: int | None,
) -> Message:
    contact = _contact(company, to)
    channel = _channel(company, channel, contact, purpose)
    content = _filled(company, channel, content)
    if contents.needs_template(channel, contact, content):
        raise WindowClosed(details={"contact": contact.phone or contact.user_id, "channel": channel.pk})
    now = timezone.now()
    message = Message(
        company=company,
        channel=channel,
        contact=contact,
        session_id=session_id,
        direction=Message.Direction.OUTBOUND,
        author=author,
        purpose=purpose,
        reference=reference[:64],
        type=contents.message_type(content),
        text=contents.readable_text(content),
        data={"content": content},
        status=Message.Status.QUEUED,
        status_at=now,
        next_attempt_at=now,
        idempotency_key=idempotency_key[:128],
    )
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        if idempotency_key and (queued := _already_queued(company, idempotency_key)) is not None:
            return queued  # queued meanwhile by a concurrent call with the same key
        raise
    statuses.queued([message])
    announce_queued([(message, contact, content)])
    transaction.on_commit(kick_outbox)
    return message


def announce_queued(queued: list[tuple[Message, Contact, dict[str, Any]]]) -> None:
    """Tell the apps above (spend) of messages just queued on Cloud channels, from what the door has in hand."""
    events.MESSAGE_QUEUED.emit_many(
        [
            (message.company_id, _queued_payload(message, contact, content))
            for message, contact, content in queued
            if message.channel.kind == Channel.Kind.CLOUD
        ]
    )


def _queued_payload(message: Message, contact: Contact, content: dict[str, Any]) -> dict[str, Any]:
    template = contents.is_template(content)
    return {
        "message_id": message.pk,
        "channel_id": message.channel_id,
        "at": message.status_at.isoformat(),
        "template": content["name"] if template else "",
        "language": content["language"] if template else "",
        "category": "" if template else "service",  # a template's category is the catalogue's
        "in_window": contact.window_open,
        "purpose": message.purpose,
        "author": message.author,
    }


def _already_queued(company: Company, idempotency_key: str) -> Message | None:
    return Message.objects.filter(company=company, idempotency_key=idempotency_key[:128]).first()


def retry_message(*, message: Message) -> bool:
    """Queue a failed or cancelled message again (from the admin or the API); returns whether it was.

    One whose channel was deleted is not: nothing would ever send it.
    """
    if message.channel_id is None:
        return False
    now = timezone.now()
    retried = statuses.Change(
        message.pk,
        Message.Status.QUEUED,
        now,
        from_statuses=frozenset({Message.Status.FAILED, Message.Status.CANCELLED}),
        fields={"next_attempt_at": now, "attempts": 0},
    )
    with transaction.atomic():
        moved = bool(statuses.move([retried]))
        if moved:
            transaction.on_commit(kick_outbox)
    return moved


def cancel_message(*, message: Message) -> bool:
    """Cancel a message still waiting in the outbox; returns whether it was (one being sent cannot be)."""
    return bool(cancel_messages(message_ids=[message.pk]))


def cancel_messages(*, message_ids: list[int], reason: str = "cancelled by an operator") -> list[int]:
    """Cancel the messages among ``message_ids`` still waiting in the outbox; returns those that were."""
    now = timezone.now()
    cancelled = [
        statuses.Change(
            pk, Message.Status.CANCELLED, now, error_title=reason, from_statuses=frozenset({Message.Status.QUEUED})
        )
        for pk in message_ids
    ]
    return [change.message_id for change in statuses.move(cancelled)]
