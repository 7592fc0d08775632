"""What the conversation API reads, always within one company: contacts, sessions, messages, tags, timelines."""

import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404

from companies.models import Company
from companies.phones import digits, whatsapp_numbers
from conversations.models import Contact, CustomerLink, Message, MessageStatusChange, Session, Tag

# A search made only of these is a phone number (or a piece of one); anything else is a name.
_PHONE_LIKE = re.compile(r"[\d\s()+\-./]+")
# A piece of a number shorter than this would match nearly every contact.
MIN_PHONE_DIGITS = 4


def is_phone_search(term: str) -> bool:
    return bool(_PHONE_LIKE.fullmatch(term)) and any(c.isdigit() for c in term)


def list_contacts(company: Company, *, search: str = "") -> QuerySet[Contact]:
    """The company's contacts, most recently heard from first; ``search`` is a phone (or part of one) or a name.

    A whole Brazilian number matches with or without +55 and with or without the ninth digit (contacts
    are stored with it); a shorter run of digits matches the numbers that contain it. A name matches the
    contact's WhatsApp name or the name in the business's address book, case-insensitively.
    """
    open_session = Session.objects.filter(contact=OuterRef("pk"), closed_at__isnull=True).values("pk")[:1]
    contacts = (
        Contact.objects.filter(company=company)
        .annotate(open_session_id=Subquery(open_session))
        .prefetch_related(Prefetch("customer_links", queryset=CustomerLink.objects.order_by("pk")))
        .order_by(F("last_inbound_at").desc(nulls_last=True), "-pk")
    )
    term = search.strip()
    if not term:
        return contacts
    if is_phone_search(term):
        return contacts.filter(Q(phone__in=whatsapp_numbers(term)) | Q(phone__contains=digits(term)))
    return contacts.filter(Q(name__icontains=term) | Q(saved_name__icontains=term))


def get_contact(company: Company, pk: int) -> Contact:
    """The company's contact ``pk``; Http404 when it is another company's or none."""
    contact = list_contacts(company).filter(pk=pk).first()
    if contact is None:
        raise Http404
    return contact


def _sessions(company: Company) -> QuerySet[Session]:
    return (
        Session.objects.filter(company=company)
        .select_related("customer")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    )


def list_sessions(contact: Contact) -> QuerySet[Session]:
    """A contact's sessions, newest first."""
    return _sessions(contact.company).filter(contact=contact).order_by("-created_at", "-pk")


def get_session(company: Company, pk: int) -> Session:
    """The company's session ``pk``; Http404 when it is another company's or none."""
    session = _sessions(company).filter(pk=pk).first()
    if session is None:
        raise Http404
    return session


@dataclass(frozen=True)
class MessageFilters:
    """What ``?since=&until=&direction=&status=`` asked for; None is no filter."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    direction: str | None = None
    status: str | None = None


def list_messages(
    company: Company, *, contact: Contact | None = None, session: Session | None = None, filters: MessageFilters
) -> QuerySet[Message]:
    """A contact's or a session's messages, newest first, with their status history."""
    history = Prefetch("status_changes", queryset=MessageStatusChange.objects.order_by("created_at", "pk"))
    messages = Message.objects.filter(company=company).prefetch_related(history)
    if contact is not None:
        messages = messages.filter(contact=contact)
    if session is not None:
        messages = messages.filter(session=session)
    if filters.since is not None:
        messages = messages.filter(created_at__gte=filters.since)
    if filters.until is not None:
        messages = messages.filter(created_at__lte=filters.until)
    if filters.direction:
        messages = messages.filter(direction=filters.direction)
    if filters.status:
        messages = messages.filter(status=filters.status)
    return messages.order_by("-created_at", "-pk")


def list_tags(company: Company) -> QuerySet[Tag]:
    return Tag.objects.filter(company=company).order_by("name", "pk")


@dataclass(frozen=True)
class Timeline:
    """A contact with its latest sessions (newest first) and latest messages (oldest first)."""

    contact: Contact
    sessions: list[Session]
    messages: list[Message]
    sessions_truncated: bool
    messages_truncated: bool


def get_timeline(contact: Contact, *, limit: int) -> Timeline:
    """The contact's ``limit`` newest sessions and ``limit`` newest messages, and whether there were more."""
    sessions = list(list_sessions(contact)[: limit + 1])
    newest = list(list_messages(contact.company, contact=contact, filters=MessageFilters())[: limit + 1])
    return Timeline(
        contact=contact,
        sessions=sessions[:limit],
        messages=newest[:limit][::-1],
        sessions_truncated=len(sessions) > limit,
        messages_truncated=len(newest) > limit,
    )
