"""Sessions: the one place their state is written (opened, moved along the bot flow, handed off, paused,
closed), so the bot, the Chatwoot bridge, the API and the inactivity job agree on what a session is.

A contact has at most one open session (a partial unique constraint); ``open_session`` returns it or
opens one with the company's next protocol number. Closing announces ``SESSION_CLOSED`` so the apps
that keep something per session (the Chatwoot bridge) follow without being called from here.
"""

import datetime as dt
import zoneinfo
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.masking import mask_text
from conversations.events import SESSION_CLOSED
from conversations.models import Contact, CustomerLink, Message, ProtocolCounter, Session, Tag

# Where a new session's bot flow starts (the bot's state table names the rest).
START = "start"
TRANSCRIPT_LINES = 200


def open_session_of(contact: Contact) -> Session | None:
    return Session.objects.filter(contact=contact, closed_at__isnull=True).first()


def next_protocol(company_id: int, tz: str, *, at: dt.datetime | None = None) -> str:
    """The company's next protocol number: the day in its time zone and that day's count (``202612040007``)."""
    day = (at or timezone.now()).astimezone(zoneinfo.ZoneInfo(tz)).date()
    with transaction.atomic():
        counter, _ = ProtocolCounter.objects.select_for_update().get_or_create(
            company_id=company_id, defaults={"day": day}
        )
        value = counter.value + 1 if counter.day == day else 1
        ProtocolCounter.objects.filter(pk=company_id).update(day=day, value=value)
    return f"{day:%Y%m%d}{value:04d}"


def open_session(contact: Contact, *, at: dt.datetime | None = None) -> tuple[Session, bool]:
    """The contact's open session, or a new one in the bot flow's first state; and whether it is new."""
    current = open_session_of(contact)
    if current is not None:
        return current, False
    now = at or timezone.now()
    company = contact.company
    try:
        with transaction.atomic():
            session = Session.objects.create(
                company=company,
                contact=contact,
                protocol=next_protocol(company.pk, company.timezone, at=now),
                state=START,
                last_activity_at=now,
                created_at=now,
            )
    except IntegrityError:  # another worker opened it first
        return Session.objects.get(contact=contact, closed_at__isnull=True), False
    return session, True


def move(session: Session, *, state: str, data: dict[str, Any] | None = None) -> None:
    """The bot flow went to ``state``; ``data`` replaces what it keeps between answers when given."""
    session.state = state
    fields = ["state", "last_activity_at"]
    if data is not None:
        session.data = data
        fields.append("data")
    session.last_activity_at = timezone.now()
    session.save(update_fields=fields)


def touch(session: Session, *, at: dt.datetime | None = None) -> None:
    """Something happened in the session (a message either way): its idle time starts again."""
    session.last_activity_at = at or timezone.now()
    Session.objects.filter(pk=session.pk).update(last_activity_at=session.last_activity_at)


def add_to_transcript(session: Session, lines: list[tuple[str, str]]) -> None:
    """Append ``(author, text)`` lines said in the bot flow; CPF/CNPJ masked, the oldest dropped past a limit."""
    now = timezone.now().isoformat()
    session.transcript = (
        list(session.transcript) + [{"at": now, "author": author, "text": mask_text(text)} for author, text in lines]
    )[-TRANSCRIPT_LINES:]
    Session.objects.filter(pk=session.pk).update(transcript=session.transcript)


def link_customer(
    session: Session, *, customer_code: str, name: str, document: str = "", confirmed: bool
) -> CustomerLink:
    """Link the session's contact to an ERP customer (created or updated) and the session to that link."""
    link, _ = CustomerLink.objects.update_or_create(
        contact=session.contact,
        customer_code=customer_code,
        defaults={"company": session.company, "name": name, "document": document, "confirmed": confirmed},
    )
    session.customer = link
    Session.objects.filter(pk=session.pk).update(customer=link)
    return link


def hand_off(session: Session) -> bool:
    """The session goes to an agent; False when it already had."""
    if session.handoff == Session.Handoff.AGENT:
        return False
    session.handoff, session.handed_off_at = Session.Handoff.AGENT, timezone.now()
    session.last_activity_at = session.handed_off_at
    session.save(update_fields=["handoff", "handed_off_at", "last_activity_at"])
    return True


def link_conversation(session: Session, conversation_id: int) -> None:
    """The session is the Chatwoot conversation ``conversation_id`` (created, reopened or opened by an agent)."""
    session.chatwoot_conversation_id = conversation_id
    Session.objects.filter(pk=session.pk).update(chatwoot_conversation_id=conversation_id)


def pause_bot(session: Session, *, until: dt.datetime | None) -> None:
    """The bot answers nothing in this session until ``until`` (``None``: resume now)."""
    session.bot_paused_until = until
    Session.objects.filter(pk=session.pk).update(bot_paused_until=until)


def lift_expired_pauses(*, now: dt.datetime | None = None) -> int:
    """Resume the bot where its pause ran out; returns how many sessions were resumed."""
    return Session.objects.filter(bot_paused_until__lte=now or timezone.now()).update(bot_paused_until=None)


def close(session: Session, *, reason: str, at: dt.datetime | None = None) -> bool:
    """Close the session (announced as ``SESSION_CLOSED``); False when it was already closed."""
    now = at or timezone.now()
    updated = Session.objects.filter(pk=session.pk, closed_at__isnull=True).update(
        closed_at=now, close_reason=reason, bot_paused_until=None
    )
    if not updated:
        return False
    session.closed_at, session.close_reason, session.bot_paused_until = now, reason, None
    SESSION_CLOSED.emit(
        company_id=session.company_id,
        payload={"session_id": session.pk, "contact_id": session.contact_id, "reason": reason},
    )
    return True


def tag(session: Session, names: list[str]) -> list[Tag]:
    """Put the company's tags ``names`` on the session (created if new); returns them."""
    tags = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        try:
            with transaction.atomic():
                found, _ = Tag.objects.get_or_create(company_id=session.company_id, name=name)
        except IntegrityError:  # created by another request meanwhile
            found = Tag.objects.get(company_id=session.company_id, name=name)
        tags.append(found)
    session.tags.add(*tags)
    return tags


def untag(session: Session, names: list[str]) -> None:
    session.tags.remove(*Tag.objects.filter(company_id=session.company_id, name__in=names))


def purge_bot_transcripts(*, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Empty the transcripts of sessions that closed without a handoff (seed: purged daily); returns how many."""
    cutoff = timezone.now() - older_than
    return (
        Session.objects.filter(handoff=Session.Handoff.BOT, closed_at__lt=cutoff)
        .exclude(transcript=[])
        .update(transcript=[])
    )


def attach(session: Session, messages: list[Message]) -> None:
    """The customer's ``messages`` were taken in ``session``: they belong to its thread."""
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(session=session)
    for message in messages:
        message.session = session
