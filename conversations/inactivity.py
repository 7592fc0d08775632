"""Idle sessions (Celery beat, one run at a time): a session quiet longer than its company's inactivity minutes.

In the bot: the customer is told it ended and it is closed (its flow cleared with it). In Chatwoot: the agent
gets a private note ("finalizada por inatividade"); the company's setting decides whether the conversation
is resolved and the session closed, or kept open (its idle time then starts again, so it is not looked at every
run, and it is noted once until a message comes either way). A session whose bot is paused is left alone until
the pause ends.
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from companies.models import Company
from config.exceptions import DomainError
from conversations.bot import texts
from conversations.chatwoot import bridge
from conversations.models import ChatwootDelivery, Message, Session
from conversations.services import outbound, sessions
from conversations.whatsapp import content as contents

logger = logging.getLogger(__name__)

BATCH = 200
MAX_BATCHES = 50  # per company and run: the next run takes the rest
NOTE_KEY = "inactivity:"


def idle_sessions(company: Company, *, now: dt.datetime, limit: int = BATCH) -> list[Session]:
    """The company's open sessions idle past its inactivity minutes, idlest first; paused ones left out."""
    cutoff = now - dt.timedelta(minutes=company.inactivity_minutes)
    return list(
        Session.objects.filter(company=company, closed_at__isnull=True, last_activity_at__lt=cutoff)
        .filter(Q(bot_paused_until__isnull=True) | Q(bot_paused_until__lte=now))
        .select_related("company", "contact", "customer")
        .order_by("last_activity_at")[:limit]
    )


def _tell(session: Session, key: str) -> None:
    try:
        outbound.send_message(
            company=session.company,
            to=session.contact,
            content=contents.text(texts.text(session.company, key, protocol=session.protocol)),
            author=Message.Author.BOT,
            purpose=Message.Purpose.REPLY,
            idempotency_key=f"inactivity:{session.pk}",
            reference=f"session:{session.pk}",
            session_id=session.pk,
        )
    except DomainError as exc:  # outside the 24 h window on Cloud, no channel: closed without a word
        logger.info("Session %s closed for inactivity without telling the customer: %s", session.pk, exc.code)


def _noted_since_last_message(session: Session) -> bool:
    """The agent already has this idle stretch's note: no message either way since the last one. A kept session's
    idle time restarts at each run that finds it idle, so its last activity cannot tell."""
    noted = ChatwootDelivery.objects.filter(
        session=session, kind=ChatwootDelivery.Kind.NOTE, key__startswith=NOTE_KEY
    ).aggregate(at=Max("created_at"))["at"]
    return noted is not None and not Message.objects.filter(session=session, created_at__gt=noted).exists()


def end_idle(session: Session, *, now: dt.datetime) -> str:
    """End one idle session; returns "closed", "resolved" or "kept"."""
    with transaction.atomic():
        locked = Session.objects.select_for_update().filter(pk=session.pk, closed_at__isnull=True).first()
        if locked is None or locked.last_activity_at != session.last_activity_at:
            return "skipped"  # it moved meanwhile
        if session.handoff == Session.Handoff.BOT:
            _tell(session, "inactivity_closed")
            sessions.close(session, reason=Session.CloseReason.INACTIVITY, at=now)
            return "closed"
        resolve = session.company.chatwoot_resolve_on_inactivity
        if resolve or not _noted_since_last_message(session):
            bridge.note(
                session,
                texts.text(session.company, "inactivity_note", protocol=session.protocol),
                key=f"{NOTE_KEY}{session.last_activity_at.isoformat()}",
            )
        if resolve:
            _tell(session, "inactivity_closed")
            bridge.resolve(session)
            sessions.close(session, reason=Session.CloseReason.INACTIVITY, at=now)
            return "resolved"
        sessions.touch(session, at=now)
        return "kept"


def close_idle_sessions(*, now: dt.datetime | None = None) -> dict[str, int]:
    """End every idle session; returns how many ended each way."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    companies = Company.objects.filter(
        status=Company.Status.ACTIVE, pk__in=Session.objects.filter(closed_at__isnull=True).values("company_id")
    )
    for company in companies:
        for _ in range(MAX_BATCHES):
            batch = idle_sessions(company, now=now)
            for session in batch:
                outcome = end_idle(session, now=now)
                counts[outcome] = counts.get(outcome, 0) + 1
            if len(batch) < BATCH:
                break
    return counts
