"""Posting what a session owes Chatwoot (``ChatwootDelivery``), one session at a time and strictly in order.

A row that Chatwoot does not take (down, timing out, refusing) stops its session's queue with a retry time,
so nothing after it overtakes it; ``sweep`` schedules the sessions whose head came due. The first time a
handoff cannot open its conversation the customer is told a person will answer soon. Every message we
create carries our ``source_id``, so its webhook echo is ignored (``webhook``).
"""

import datetime as dt
import logging
import mimetypes
from dataclasses import dataclass

from django.db.models import Min
from django.utils import timezone

from config import queues
from config.exceptions import DomainError
from conversations import locks
from conversations.bot import texts
from conversations.chatwoot.bridge import DELIVER_TASK
from conversations.chatwoot.client import Attachment, ChatwootClient, own_source_id
from conversations.chatwoot.errors import ChatwootError
from conversations.models import ChatwootDelivery, Contact, Message, Session
from conversations.services import outbound, sessions

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 60  # with the backoff below, about two days of trying before a row is failed for an operator
BACKOFF_CAP = dt.timedelta(hours=1)
LOCK_TTL = 120
# A session another worker is posting is looked at again this soon (what it queued meanwhile may have missed it).
BUSY_RETRY_SECONDS = 1.0
OPEN_STATUSES = ("open", "pending")
# A row this fresh has its task on the way: the sweeper leaves it to that task.
SWEEP_GRACE = dt.timedelta(seconds=10)


def backoff(attempts: int) -> dt.timedelta:
    return min(BACKOFF_CAP, dt.timedelta(seconds=2 ** min(attempts, 12)))


def _pending(session_id: int):
    return ChatwootDelivery.objects.filter(session_id=session_id, state=ChatwootDelivery.State.PENDING).order_by("pk")


@dataclass(frozen=True)
class Run:
    """What ``deliver`` did: how many rows went, and in how many seconds the session's next row is due."""

    delivered: int = 0
    wait: float | None = None


def deliver(session_id: int) -> Run:
    """Post the session's pending rows in order until none is left or one must wait."""
    try:
        with locks.exclusive(f"chatwoot-session:{session_id}", ttl=LOCK_TTL, wait=0):
            return _deliver(session_id)
    except locks.LockTimeout:  # another worker is posting this session's rows: look again once it is done
        return Run(wait=BUSY_RETRY_SECONDS)


def _deliver(session_id: int) -> Run:
    session = Session.objects.select_related("company", "contact", "customer").filter(pk=session_id).first()
    if session is None:
        return Run()
    delivered = 0
    client: ChatwootClient | None = None
    while (row := _pending(session_id).select_related("message").first()) is not None:
        now = timezone.now()
        if row.next_attempt_at > now:
            return Run(delivered, (row.next_attempt_at - now).total_seconds())
        try:
            client = client or ChatwootClient.for_company(session.company)
            chatwoot_id = _post(client, session, row)
        except ChatwootError as exc:
            return Run(delivered, _wait(session, row, exc))
        ChatwootDelivery.objects.filter(pk=row.pk).update(
            state=ChatwootDelivery.State.DELIVERED, delivered_at=timezone.now(), chatwoot_message_id=chatwoot_id
        )
        delivered += 1
    return Run(delivered)


def _wait(session: Session, row: ChatwootDelivery, exc: ChatwootError) -> float | None:
    """Put the row back with its retry time (or fail it for good); the seconds until it is due."""
    attempts = row.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        state, next_at = ChatwootDelivery.State.FAILED, row.next_attempt_at
        logger.error("Chatwoot delivery %s for session %s failed for good: %s", row.pk, session.pk, exc)
    else:
        state, next_at = ChatwootDelivery.State.PENDING, timezone.now() + backoff(attempts)
        logger.warning("Chatwoot delivery %s for session %s waits (attempt %d): %s", row.pk, session.pk, attempts, exc)
    ChatwootDelivery.objects.filter(pk=row.pk).update(
        attempts=attempts, next_attempt_at=next_at, state=state, error=str(exc)[:255]
    )
    if row.kind == ChatwootDelivery.Kind.OPEN and row.attempts == 0:
        _tell_customer_to_wait(session)
    return backoff(attempts).total_seconds() if state == ChatwootDelivery.State.PENDING else None


def _tell_customer_to_wait(session: Session) -> None:
    """Chatwoot did not take the handoff: the customer hears a person will answer soon (once per session)."""
    try:
        outbound.send_message(
            company=session.company,
            to=session.contact,
            content={"kind": "text", "text": texts.text(session.company, "handoff_delayed", protocol=session.protocol)},
            author=Message.Author.BOT,
            purpose=Message.Purpose.REPLY,
            idempotency_key=f"chatwoot-delayed:{session.pk}",
            reference=f"session:{session.pk}",
            session_id=session.pk,
        )
    except DomainError as exc:  # outside the window, no channel: the agent answers when Chatwoot is back
        logger.info("Could not tell session %s's customer to wait: %s", session.pk, exc.code)


# ------------------------------------------------------------------------------ posting one row


def _post(client: ChatwootClient, session: Session, row: ChatwootDelivery) -> int | None:
    source_id = own_source_id("delivery", row.pk)
    if row.kind == ChatwootDelivery.Kind.OPEN:
        _conversation(client, session, reopen=True)
        return None
    conversation_id = _conversation(client, session, reopen=False)
    if row.kind == ChatwootDelivery.Kind.RESOLVE:
        client.toggle_status(conversation_id, "resolved")
        return None
    if row.kind == ChatwootDelivery.Kind.NOTE:
        return client.create_message(
            conversation_id, content=row.text, message_type="outgoing", private=True, source_id=source_id
        )
    if row.message is None:
        return client.create_message(
            conversation_id,
            content=row.text,
            message_type="outgoing" if row.outgoing else "incoming",
            source_id=source_id,
        )
    content, attachments = relayed_content(row.message)
    return client.create_message(
        conversation_id, content=content, message_type="incoming", source_id=source_id, attachments=attachments
    )


def relayed_content(message: Message) -> tuple[str, list[Attachment]]:
    """What Chatwoot shows for a customer's message: its text (a location's is its Maps link) and the
    attachment, only when it passed the safety check."""
    text = message.text
    if message.media_status == Message.MediaStatus.STORED and message.media_file:
        with message.media_file.open("rb") as handle:
            data = handle.read()
        extension = mimetypes.guess_extension(message.media_mime or "") or ""
        filename = (message.data or {}).get("filename") or f"{message.type}-{message.pk}{extension}"
        return text, [Attachment(filename=filename, content=data, content_type=message.media_mime)]
    if message.media_status == Message.MediaStatus.QUARANTINED:
        return f"{text}\n[anexo recusado pela verificação de segurança: {message.media_rejection}]".strip(), []
    if message.media_status in (Message.MediaStatus.PENDING, Message.MediaStatus.FAILED):
        return f"{text}\n[anexo não recebido]".strip(), []
    return text or f"[{message.type}]", []


def _chatwoot_contact(client: ChatwootClient, contact: Contact, name: str) -> tuple[int, str]:
    fields = []
    if not contact.chatwoot_contact_id:
        contact.chatwoot_contact_id = client.find_or_create_contact(
            phone=contact.phone, name=name or contact.phone, identifier=""
        )
        fields.append("chatwoot_contact_id")
    if not contact.chatwoot_source_id:
        contact.chatwoot_source_id = client.ensure_contact_inbox(
            contact_id=contact.chatwoot_contact_id, source_id=f"ponte-{contact.pk}"
        )
        fields.append("chatwoot_source_id")
    if fields:
        Contact.objects.filter(pk=contact.pk).update(**{f: getattr(contact, f) for f in fields})
    return contact.chatwoot_contact_id, contact.chatwoot_source_id


def attributes(session: Session) -> dict[str, str]:
    """The conversation's custom attributes: what an agent filters and reports on."""
    found = {"protocolo": session.protocol}
    if session.customer is not None:
        found |= {"codigo_cliente": session.customer.customer_code, "cliente": session.customer.name}
    return found


def _conversation(client: ChatwootClient, session: Session, *, reopen: bool) -> int:
    """The session's Chatwoot conversation: its own (reopened when asked), the contact's open one in our inbox,
    or a new one."""
    if session.chatwoot_conversation_id:
        if reopen and client.get_conversation(session.chatwoot_conversation_id).get("status") not in OPEN_STATUSES:
            client.toggle_status(session.chatwoot_conversation_id, "open")
        return session.chatwoot_conversation_id
    contact = session.contact
    name = contact.name or (session.customer.name if session.customer else "")
    contact_id, source_id = _chatwoot_contact(client, contact, name)
    inbox_id = session.company.chatwoot_inbox_id
    open_ones = [
        c
        for c in client.contact_conversations(contact_id=contact_id)
        if c.get("inbox_id") == inbox_id and c.get("status") in OPEN_STATUSES
    ]
    if open_ones:
        conversation_id = int(max(open_ones, key=lambda c: c["id"])["id"])
        client.set_custom_attributes(conversation_id, attributes(session))
    else:
        conversation_id = client.create_conversation(
            contact_id=contact_id, source_id=source_id, custom_attributes=attributes(session)
        )
    sessions.link_conversation(session, conversation_id)
    return conversation_id


def due_sessions(*, limit: int = 500) -> list[int]:
    """Sessions whose first pending row is due (their task was lost, or their retry time came)."""
    return list(
        ChatwootDelivery.objects.filter(state=ChatwootDelivery.State.PENDING)
        .values("session_id")
        .annotate(first_due=Min("next_attempt_at"))
        .filter(first_due__lte=timezone.now() - SWEEP_GRACE)
        .values_list("session_id", flat=True)[:limit]
    )


def sweep() -> int:
    session_ids = due_sessions()
    for session_id in session_ids:
        queues.publish(DELIVER_TASK, session_id)
    return len(session_ids)
