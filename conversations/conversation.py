"""The conversation: a contact's inbound messages, taken in order, go to the bot or to the agent in Chatwoot.

``on_inbound`` hears of every recorded customer message (``INBOUND_MESSAGE_RECORDED``) and schedules
``converse`` for its contact: at once when an agent holds the conversation, after the company's grouping
window when the bot will answer, so a burst ("oi", "tudo bem?", "quero a segunda via") is read as one
turn. ``converse`` takes the contact's released messages from the inbound lane in one transaction with
everything done about them (the bot's replies queued, the relay to Chatwoot queued): a worker that dies
takes nothing, and the sweeper (``sweep``) schedules contacts whose messages waited too long.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from config import queues
from config.exceptions import DomainError
from conversations.bot import flow
from conversations.chatwoot import bridge
from conversations.models import Contact, Message, Session
from conversations.services import inbox, sessions

logger = logging.getLogger(__name__)

CONVERSE_TASK = "conversations.tasks.converse"
# An attachment still downloading holds its contact's lane this long at most (then it is read as it is).
MEDIA_WAIT = dt.timedelta(seconds=60)
MEDIA_POLL_SECONDS = 0.5
# Messages held for an earlier webhook still being processed are looked at again this soon.
LANE_POLL_SECONDS = 0.25
# What the bot does not answer: the provider's notices and a reaction to one of its messages.
NOT_FOR_THE_BOT = frozenset({"system", "reaction", "unsupported"})
# A contact whose messages waited this long past their grouping window is scheduled again by the sweeper.
OVERDUE = dt.timedelta(seconds=15)


@dataclass(frozen=True)
class Turn:
    """What ``converse`` did: how many messages it took, and where they went."""

    taken: int = 0
    to: str = ""  # "bot", "agent", "quiet", "inactive"; "" when it took nothing
    wait: float | None = None  # run the contact's turn again in this many seconds


def on_inbound(events) -> None:
    """``INBOUND_MESSAGE_RECORDED`` handler: schedule each contact's turn (after the grouping window for the bot)."""
    contact_ids = {event.payload["contact_id"] for event in events}
    held_by_agent = set(
        Session.objects.filter(
            contact_id__in=contact_ids, closed_at__isnull=True, handoff=Session.Handoff.AGENT
        ).values_list("contact_id", flat=True)
    )
    windows = dict(Contact.objects.filter(pk__in=contact_ids).values_list("pk", "company__message_grouping_seconds"))
    # The window runs from a message's arrival, not from when its event reached this handler.
    arrived: dict[int, dt.datetime] = {}
    message_ids = [event.payload["message_id"] for event in events]
    for contact_id, created_at in Message.objects.filter(pk__in=message_ids).values_list("contact_id", "created_at"):
        arrived[contact_id] = max(created_at, arrived.get(contact_id, created_at))
    now = timezone.now()
    for contact_id in contact_ids:
        delay = 0.0
        if contact_id not in held_by_agent and contact_id in arrived:
            window_ends = arrived[contact_id] + dt.timedelta(seconds=windows.get(contact_id, 0))
            delay = max(0.0, (window_ends - now).total_seconds())
        queues.publish_on_commit(CONVERSE_TASK, contact_id, countdown=delay or None)


def _too_early(contact: Contact, session: Session | None, now: dt.datetime) -> float | None:
    """Seconds to wait before taking the contact's messages: the grouping window, or an attachment downloading."""
    pending = list(inbox.unhandled(contact.pk).values_list("created_at", "media_status"))
    if not pending:
        return None
    first_at, first_media = pending[0]
    if first_media == Message.MediaStatus.PENDING and now - first_at < MEDIA_WAIT:
        return MEDIA_POLL_SECONDS
    if session is not None and session.handoff == Session.Handoff.AGENT:
        return None
    window = dt.timedelta(seconds=contact.company.message_grouping_seconds)
    last_at = max(created for created, _ in pending)
    left = (last_at + window - now).total_seconds()
    return left if left > 0 else None


def _open_session_first(contact: Contact) -> Session | None:
    """The contact's open session; one with messages waiting and none gets it before its turn, in a transaction
    of its own.

    Drawing the protocol locks the company's counter: inside the turn it would stay locked through the bot's
    first answer (its ERP calls), and every other new customer of the company would wait on it.
    """
    session = sessions.open_session_of(contact)
    if session is None and contact.company.is_active and inbox.unhandled(contact.pk).exists():
        session, _ = sessions.open_session(contact)
    return session


def converse(contact_id: int) -> Turn:
    """Take the contact's released messages in order and hand them to the bot or the agent.

    Too early (the grouping window still open, an attachment downloading) or with messages still held by
    earlier webhooks, the turn says in how many seconds to run it again (``Turn.wait``).
    """
    contact = Contact.objects.select_related("company").filter(pk=contact_id).first()
    if contact is None:
        return Turn()
    session = _open_session_first(contact)
    with transaction.atomic():
        now = timezone.now()
        wait = _too_early(contact, session, now)
        if wait is not None:
            return Turn(wait=wait)
        taken = inbox.take_unhandled(contact_id=contact_id)
        later = LANE_POLL_SECONDS if taken.waiting else None
        if not taken.messages:
            return Turn(wait=later)
        if not contact.company.is_active:
            return Turn(len(taken.messages), "inactive", wait=later)
        if session is None:
            session, _ = sessions.open_session(contact, at=now)
        sessions.attach(session, taken.messages)
        sessions.touch(session, at=now)
        return Turn(len(taken.messages), _route(contact, session, taken.messages, now), wait=later)


def _bot_quiet(contact: Contact, session: Session, now: dt.datetime) -> bool:
    """The bot says nothing while paused, or for a while after the business answered from the Business app."""
    if session.bot_paused_until and session.bot_paused_until > now:
        return True
    quiet = dt.timedelta(minutes=contact.company.bot_quiet_after_business_minutes)
    return bool(contact.business_replied_at and now - contact.business_replied_at < quiet)


def _route(contact: Contact, session: Session, messages: list[Message], now: dt.datetime) -> str:
    if session.handoff == Session.Handoff.AGENT:
        bridge.relay(session, messages)
        return "agent"
    if _bot_quiet(contact, session, now):
        if session.chatwoot_conversation_id:
            bridge.relay(session, messages)
        else:
            sessions.add_to_transcript(session, [(Message.Author.CUSTOMER, m.text) for m in messages])
        return "quiet"
    if not contact.company.bot_enabled:
        sessions.add_to_transcript(session, [(Message.Author.CUSTOMER, m.text) for m in messages])
        bridge.hand_off(session, reason="bot turned off")
        return "agent"
    said = [m for m in messages if m.type not in NOT_FOR_THE_BOT]
    if not said:
        return "bot"
    try:
        with transaction.atomic():
            outcome = flow.answer(session, said)
    except DomainError as exc:  # the door refused the reply (company inactive, no channel): taken, unanswered
        logger.warning("The bot could not answer contact %s: %s", contact.pk, exc.code)
        return "refused"
    if outcome.handoff:
        bridge.hand_off(session, reason=outcome.reason)
        return "agent"
    return "bot"


def overdue_contacts(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Contacts with messages no turn took long after they came (a lost task, a worker that died)."""
    cutoff = (now or timezone.now()) - OVERDUE
    return list(
        Message.objects.filter(direction=Message.Direction.INBOUND, handled_at__isnull=True, created_at__lt=cutoff)
        .values_list("contact_id", flat=True)
        .distinct()[:limit]
    )


def sweep() -> int:
    """Schedule a turn for every overdue contact; returns how many."""
    contact_ids = overdue_contacts()
    for contact_id in contact_ids:
        queues.publish(CONVERSE_TASK, contact_id)
    return len(contact_ids)
