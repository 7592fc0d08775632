"""A company's contact with a session and messages, as the conversation API reads them."""

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import Contact, Message, Session
from conversations.services import sessions


def make_contact(company, phone: str = "5544998887777", **fields) -> Contact:
    fields.setdefault("name", "Maria Souza")
    fields.setdefault("last_inbound_at", timezone.now())
    return Contact.objects.create(company=company, phone=phone, **fields)


def make_message(
    contact: Contact, *, session: Session | None = None, at: dt.datetime | None = None, **fields
) -> Message:
    """A message row of ``contact`` (inbound text by default), created at ``at``."""
    fields = {
        "direction": Message.Direction.INBOUND,
        "author": Message.Author.CUSTOMER,
        "type": "text",
        "text": "oi",
        "status": Message.Status.RECEIVED,
        **fields,
    }
    message = Message.objects.create(company=contact.company, contact=contact, session=session, **fields)
    if at is not None:
        Message.objects.filter(pk=message.pk).update(created_at=at)
        message.created_at = at
    return message


@pytest.fixture
def contact(company) -> Contact:
    return make_contact(company)


@pytest.fixture
def session(contact) -> Session:
    return sessions.open_session(contact)[0]


@pytest.fixture
def other_contact(other_company) -> Contact:
    return make_contact(other_company, name="Outra Empresa")


@pytest.fixture
def other_session(other_contact) -> Session:
    return sessions.open_session(other_contact)[0]
