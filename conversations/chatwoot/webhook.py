"""What Chatwoot's webhooks mean for a session: an agent's reply goes to WhatsApp, a resolve closes it, an
assignment may be told to the customer, a conversation an agent opens is linked to the contact.

``on_chatwoot_event`` handles ``CHATWOOT_EVENT_RECEIVED``. Every action is idempotent (the door's
idempotency key for messages, the delivery's key for notes, a closed session stays closed), so a
webhook delivered twice, or replayed, changes nothing twice. Our own messages come back as webhooks
too: their ``source_id`` carries our prefix and they are ignored.
"""

import hashlib
import json
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from companies.events import RetryLater, handler_path
from companies.models import Channel, Company, EventDelivery
from companies.phones import normalize_phone
from config.exceptions import DomainError
from conversations.bot import texts
from conversations.chatwoot import bridge, commands
from conversations.chatwoot.client import is_own
from conversations.events import CHATWOOT_EVENT_RECEIVED
from conversations.models import Contact, Message, Session, WebhookEvent
from conversations.services import inbox, outbound, sessions
from conversations.whatsapp import content as contents
from templates_meta.models import TemplatePurpose
from templates_meta.services import purpose_call

logger = logging.getLogger(__name__)

# An earlier webhook still being recorded holds the later ones as long as the inbound lane's (one that keeps
# failing is an operator's); held ones look again this soon.
ORDER_RETRY_SECONDS = 0.2
# Chatwoot's attachment file types and WhatsApp's media kinds.
MEDIA_KINDS = {"image": "image", "audio": "audio", "video": "video", "file": "document"}


def _webhook_id(event) -> int:
    return int(event.payload["event_id"])


def _first_held(company_id: int, batch_ids: list[int]) -> int | None:
    """The id of the company's earliest Chatwoot webhook that is not handled yet and not in this batch: still
    being recorded by a drainer, or announced to another deliverer (or waiting its turn)."""
    announced = [
        int(event_id)
        for event_id in EventDelivery.objects.filter(
            topic=CHATWOOT_EVENT_RECEIVED.name,
            handler=handler_path(on_chatwoot_event),
            company_id=company_id,
            state=EventDelivery.State.PENDING,
        )
        .exclude(pk__in=batch_ids)
        .values_list("payload__event_id", flat=True)
    ]
    recording = (
        WebhookEvent.objects.filter(
            company_id=company_id,
            source=WebhookEvent.Source.CHATWOOT,
            state__in=(WebhookEvent.State.PENDING, WebhookEvent.State.PROCESSING),
            received_at__gte=timezone.now() - inbox.ORDER_WAIT,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    held = [*announced, *([recording] if recording is not None else [])]
    return min(held) if held else None


def _ready(events) -> tuple[list, list]:
    """The batch's events that may be handled now, in the order their webhooks came, and those that must wait:
    for each company, its events from the first that a webhook it received earlier (elsewhere) still holds."""
    batch_ids = [event.id for event in events]
    ready, later = [], []
    held: dict[int, int | None] = {}
    for event in sorted(events, key=_webhook_id):  # the order the webhooks came in, not the order recorded
        company_id = event.company_id
        if company_id not in held:
            held[company_id] = _first_held(company_id, batch_ids)
        first = held[company_id]
        if first is not None and first < _webhook_id(event):
            later.append(event)
        else:
            ready.append(event)
    return ready, later


def on_chatwoot_event(events) -> None:
    """``CHATWOOT_EVENT_RECEIVED`` handler: each stored webhook, read by its id, in the order they came.

    Two agent replies must reach the customer in the order they were written, though two drainers may record
    their webhooks at once and two deliverers hand them out at once. The events an earlier webhook holds wait:
    announced again for later when others in the batch could be handled, or the whole batch retried shortly.
    """
    ready, later = _ready(events)
    if not ready:
        raise RetryLater(ORDER_RETRY_SECONDS, "an earlier Chatwoot webhook of the company is not handled yet")
    for event in ready:
        _handle_stored(event.payload["event_id"])
    if later:
        CHATWOOT_EVENT_RECEIVED.emit_many((event.company_id, event.payload) for event in later)


def _handle_stored(event_id: int) -> None:
    stored = WebhookEvent.objects.select_related("company").filter(pk=event_id).first()
    if stored is None:  # purged before it was handled: nothing left to do
        return
    try:
        payload = json.loads(stored.body)
    except ValueError:
        return
    if isinstance(payload, dict):
        with transaction.atomic():
            handle(stored.company, payload, fingerprint=hashlib.sha256(stored.body.encode()).hexdigest()[:16])


def handle(company: Company, payload: dict[str, Any], *, fingerprint: str = "") -> str:
    """Act on one Chatwoot webhook; returns what it did, in a word (for logs and tests)."""
    if not company.is_active:
        return "inactive"
    kind = payload.get("event")
    if kind == "message_created":
        return _message_created(company, payload)
    if kind == "conversation_status_changed":
        return _status_changed(company, payload)
    if kind == "conversation_updated":
        return _conversation_updated(company, payload, fingerprint)
    if kind == "conversation_created":
        conversation = payload
        session = _session_for(company, conversation, link=True)
        return "linked" if session else "unknown contact"
    return "ignored"


# ------------------------------------------------------------------------------ finding the session


def _conversation_of(payload: dict[str, Any]) -> dict[str, Any]:
    conversation = payload.get("conversation")
    return conversation if isinstance(conversation, dict) else payload


def _conversation_id(conversation: dict[str, Any]) -> int | None:
    value = conversation.get("id")
    return value if isinstance(value, int) else None


def _contact_of(company: Company, conversation: dict[str, Any]) -> Contact | None:
    sender = (conversation.get("meta") or {}).get("sender") or {}
    chatwoot_id = sender.get("id")
    if isinstance(chatwoot_id, int):
        found = Contact.objects.filter(company=company, chatwoot_contact_id=chatwoot_id).first()
        if found is not None:
            return found
    phone = normalize_phone(str(sender.get("phone_number") or ""))
    if not phone:
        return None
    contact, _ = outbound.route(company=company, to=phone, purpose=Message.Purpose.REPLY)
    if isinstance(chatwoot_id, int) and not contact.chatwoot_contact_id:
        Contact.objects.filter(pk=contact.pk).update(chatwoot_contact_id=chatwoot_id)
        contact.chatwoot_contact_id = chatwoot_id
    return contact


def _session_for(company: Company, conversation: dict[str, Any], *, link: bool) -> Session | None:
    """The open session linked to the conversation; with ``link``, the contact's session linked to it (an
    agent opened or reopened the conversation from Chatwoot, seed: "não está vinculada ao cliente")."""
    conversation_id = _conversation_id(conversation)
    if conversation_id is None:
        return None
    session = (
        Session.objects.select_related("contact", "company", "customer")
        .filter(company=company, chatwoot_conversation_id=conversation_id, closed_at__isnull=True)
        .first()
    )
    if session is not None or not link:
        return session
    try:
        contact = _contact_of(company, conversation)
    except DomainError:
        return None
    if contact is None:
        return None
    session, _ = sessions.open_session(contact)
    sessions.hand_off(session)
    sessions.link_conversation(session, conversation_id)
    _greet_from_agent(session, conversation_id)
    return session


def _greet_from_agent(session: Session, conversation_id: int) -> None:
    """On Cloud outside the window an agent's first words cannot reach the customer: the company's template for
    a conversation an agent starts goes first, and the agent is told if there is none."""
    contact = session.contact
    channel = outbound.reply_channel(session.company, contact)
    if channel is None or channel.kind != Channel.Kind.CLOUD or contact.window_open:
        return
    call = purpose_call(
        company=session.company,
        purpose=TemplatePurpose.Purpose.REOPEN_CONVERSATION,
        values={"customer_name": contact.name, "protocol": session.protocol},
    )
    if call is None:
        bridge.note(
            session, texts.text(session.company, "agent_no_reopen_template"), key=f"no-reopen:{conversation_id}"
        )
        return
    bridge.send_or_note(
        session,
        contents.template_request(call.name, call.language, call.parameters),
        key=f"chatwoot-reopen:{session.pk}:{conversation_id}",
        author=Message.Author.SYSTEM,
    )


# ------------------------------------------------------------------------------ messages


def _from_an_agent(payload: dict[str, Any]) -> bool:
    """An outgoing, public message typed in Chatwoot (by an agent, or an agent bot there), not our own echo."""
    if payload.get("message_type") not in ("outgoing", 1) or payload.get("private"):
        return False
    if is_own(str(payload.get("source_id") or "")):
        return False
    sender = payload.get("sender") or {}
    return sender.get("type") in ("user", "agent_bot")


def _message_created(company: Company, payload: dict[str, Any]) -> str:
    if not _from_an_agent(payload):
        return "not for the customer"
    conversation = _conversation_of(payload)
    session = _session_for(company, conversation, link=True)
    if session is None:
        return "unknown contact"
    message_id = payload.get("id")
    text = str(payload.get("content") or "").strip()
    if text.split(" ", 1)[0] == commands.TEMPLATE_COMMAND:
        return commands.template_command(session, text, message_id=message_id)
    attachments = [a for a in payload.get("attachments") or [] if isinstance(a, dict) and a.get("data_url")]
    outgoing = [
        contents.media(
            MEDIA_KINDS.get(str(a.get("file_type")), "document"),
            url=str(a["data_url"]),
            caption=text if i == 0 else "",
            filename=str(a.get("data_url")).rsplit("/", 1)[-1] if a.get("file_type") == "file" else "",
        )
        for i, a in enumerate(attachments)
    ]
    if not outgoing and text:
        outgoing = [contents.text(text)]
    sent = 0
    for position, content in enumerate(outgoing):
        if not bridge.send_or_note(
            session, content, key=f"chatwoot:{message_id}:{position}", reference=f"chatwoot:{message_id}"
        ):
            break
        sent += 1
    sessions.touch(session)
    return f"sent {sent}"


# ------------------------------------------------------------------------------ conversations


def _status_changed(company: Company, payload: dict[str, Any]) -> str:
    status = payload.get("status")
    if status == "resolved":
        session = _session_for(company, payload, link=False)
        if session is None:
            return "not linked"
        if sessions.close(session, reason=Session.CloseReason.RESOLVED):
            bridge.send_or_note(
                session,
                contents.text(texts.text(company, "closed_by_agent", protocol=session.protocol)),
                key=f"chatwoot-resolved:{session.pk}",
                author=Message.Author.SYSTEM,
            )
        return "closed"
    if status == "open":
        return "linked" if _session_for(company, payload, link=True) else "unknown contact"
    return "ignored"


def _changed(payload: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for change in payload.get("changed_attributes") or []:
        if isinstance(change, dict):
            found |= change
    return found


def _conversation_updated(company: Company, payload: dict[str, Any], fingerprint: str) -> str:
    changed = _changed(payload)
    if not ({"assignee_id", "team_id"} & changed.keys()) or not company.chatwoot_tell_assignment:
        return "ignored"
    session = _session_for(company, payload, link=False)
    if session is None:
        return "not linked"
    meta = payload.get("meta") or {}
    told = []  # a new team first, then who in it answers
    if "team_id" in changed and isinstance(meta.get("team"), dict):
        told.append(texts.text(company, "assigned_team", team=meta["team"].get("name", ""), protocol=session.protocol))
    if "assignee_id" in changed and isinstance(meta.get("assignee"), dict):
        assignee = meta["assignee"]
        name = assignee.get("available_name") or assignee.get("name") or ""
        told.append(texts.text(company, "assigned_agent", agent=name, protocol=session.protocol))
    if not told:
        return "ignored"
    text = "\n".join(told)
    stamp = (changed.get("updated_at") or {}).get("current_value") or fingerprint or timezone.now().isoformat()
    bridge.send_or_note(
        session, contents.text(text), key=f"chatwoot-assign:{session.pk}:{stamp}"[:128], author=Message.Author.SYSTEM
    )
    return "told"
