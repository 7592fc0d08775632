"""What the conversation owes Chatwoot, queued in order in the caller's transaction (``ChatwootDelivery``).

A handoff queues: find or open the conversation, each line of the bot's transcript (the customer's as
incoming, the bot's as outgoing), and a private note for the agent with the customer's code, masked
CPF/CNPJ and the protocol. Later customer messages are queued as they are taken. ``delivery`` posts them
after commit, one session at a time and in order; while Chatwoot is down they wait, nothing is lost.
"""

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q

from companies.models import Company
from config import queues
from config.exceptions import DomainError
from config.masking import mask_document
from conversations.bot import texts
from conversations.exceptions import WindowClosed
from conversations.models import ChatwootDelivery, Message, Session
from conversations.services import outbound, sessions

DELIVER_TASK = "conversations.tasks.deliver_to_chatwoot"


def configured(company: Company) -> bool:
    """Whether the company works in Chatwoot; without it a handoff only silences the bot (agents answer from
    the WhatsApp Business app, or read the session in the admin)."""
    return bool(
        company.chatwoot_base_url
        and company.chatwoot_account_id
        and company.chatwoot_inbox_id
        and company.chatwoot_api_token
    )


def _queue(session: Session, rows: list[ChatwootDelivery]) -> None:
    if not configured(session.company):
        return
    for row in rows:
        row.company_id, row.session = session.company_id, session
    ChatwootDelivery.objects.bulk_create(rows)
    kick(session.pk)


def kick(session_id: int) -> None:
    queues.publish_on_commit(DELIVER_TASK, session_id)


def handoff_note(session: Session, *, reason: str) -> str:
    """The private note an agent reads first: who the customer is (CPF/CNPJ masked), the protocol, why."""
    lines = [f"Protocolo: {session.protocol}"]
    if session.customer is not None:
        lines.append(f"Cliente: {session.customer.name} (código {session.customer.customer_code})")
        if session.customer.document:
            lines.append(f"CPF/CNPJ: {mask_document(session.customer.document)}")
    else:
        lines.append("Cliente não identificado pelo bot.")
    if reason:
        lines.append(f"Motivo: {reason}")
    return "\n".join(lines)


def hand_off(session: Session, *, reason: str = "") -> bool:
    """Give the session to an agent: queue the conversation, the transcript and the agent's note; False when
    it was already with one."""
    if not sessions.hand_off(session):
        return False
    rows = [ChatwootDelivery(kind=ChatwootDelivery.Kind.OPEN)]
    rows += [
        ChatwootDelivery(
            kind=ChatwootDelivery.Kind.MESSAGE, text=line["text"], outgoing=line["author"] != Message.Author.CUSTOMER
        )
        for line in session.transcript
        if line.get("text")
    ]
    rows.append(ChatwootDelivery(kind=ChatwootDelivery.Kind.NOTE, text=handoff_note(session, reason=reason)))
    _queue(session, rows)
    return True


def relay(session: Session, messages: list[Message]) -> None:
    """Queue the customer's ``messages`` for the session's conversation, in order, each once."""
    for message in messages:
        try:
            with transaction.atomic():
                _queue(session, [ChatwootDelivery(kind=ChatwootDelivery.Kind.MESSAGE, message=message)])
        except IntegrityError:  # already queued: its event was handled twice
            continue


def note(session: Session, text: str, *, key: str = "") -> None:
    """Queue a private note for the agent of the session's conversation; with a ``key`` (what it answers), once
    however often its cause is handled."""
    try:
        with transaction.atomic():
            _queue(session, [ChatwootDelivery(kind=ChatwootDelivery.Kind.NOTE, text=text, key=key)])
    except IntegrityError:  # noted before
        pass


def send_or_note(
    session: Session, content: dict[str, Any], *, key: str, reference: str = "", author: str = Message.Author.AGENT
) -> bool:
    """Send ``content`` to the session's customer through the door; False when refused, and the refusal a private
    note for the agent saying why (and, outside the 24 h window, what to do)."""
    try:
        outbound.send_message(
            company=session.company,
            to=session.contact,
            content=content,
            author=author,
            purpose=Message.Purpose.REPLY,
            idempotency_key=key,
            reference=reference or f"session:{session.pk}",
            session_id=session.pk,
        )
    except WindowClosed:
        note(session, texts.text(session.company, "agent_window_closed"), key=f"refused:{key}")
        return False
    except DomainError as exc:
        note(session, texts.text(session.company, "agent_not_sent", reason=exc.message), key=f"refused:{key}")
        return False
    return True


def resolve(session: Session) -> None:
    """Queue resolving the session's conversation in Chatwoot."""
    _queue(session, [ChatwootDelivery(kind=ChatwootDelivery.Kind.RESOLVE)])


def on_session_closed(events) -> None:
    """``SESSION_CLOSED`` handler: a session closed through the API resolves its Chatwoot conversation too,
    also one its handoff has yet to open (Chatwoot down): the resolve is queued behind the opening."""
    ids = [e.payload["session_id"] for e in events if e.payload.get("reason") == Session.CloseReason.CLOSED]
    opening = ChatwootDelivery.objects.filter(session=OuterRef("pk"), kind=ChatwootDelivery.Kind.OPEN)
    in_chatwoot = Q(chatwoot_conversation_id__isnull=False) | Exists(opening)
    for session in Session.objects.filter(in_chatwoot, pk__in=ids):
        try:
            with transaction.atomic():
                ChatwootDelivery.objects.create(
                    company_id=session.company_id, session=session, kind=ChatwootDelivery.Kind.RESOLVE, key="closed"
                )
        except IntegrityError:  # its event was handled before
            continue
        kick(session.pk)


def is_failure(payload: dict) -> bool:
    """What ``on_status_changed`` wants of the status changes: the failures (an agent's among them)."""
    return payload.get("status") == Message.Status.FAILED and payload.get("direction") == Message.Direction.OUTBOUND


def on_status_changed(events) -> None:
    """``MESSAGE_STATUS_CHANGED`` handler: an agent's message WhatsApp did not deliver becomes a private note."""
    failed = [e.payload for e in events if is_failure(e.payload)]
    if not failed:
        return
    reasons = {p["message_id"]: (p.get("error_code") or "", p.get("error_title") or "") for p in failed}
    agents = Message.objects.filter(
        pk__in=reasons, author=Message.Author.AGENT, session__chatwoot_conversation_id__isnull=False
    ).select_related("session", "session__company")
    for message in agents:
        code, title = reasons[message.pk]
        text = texts.text(
            message.session.company,
            "agent_message_failed",
            text=message.text[:200],
            reason=" ".join(part for part in (title, f"({code})" if code else "") if part) or "erro desconhecido",
        )
        note(message.session, text, key=f"failed:{message.pk}")
