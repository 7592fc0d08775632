"""Contacts: one per WhatsApp user of a company, found by phone (with and without the ninth digit) or user id."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Q

from companies.models import Company
from companies.phones import normalize_phone
from conversations.models import Contact
from conversations.whatsapp.base import ContactSync, InboundContact

MAX_NAME = 200


def contact_key(company: Company, incoming: InboundContact) -> str:
    return f"contact:{company.pk}:{normalize_phone(incoming.wa_id) or incoming.user_id or incoming.wa_id}"


def _merge_contacts(keep: Contact, other: Contact) -> None:
    """``other`` turned out to be ``keep`` (a user id seen alone, then with a phone): one contact remains."""
    other.messages.update(contact=keep)
    if other.last_inbound_at:
        open_window(keep, at=other.last_inbound_at)
    other.delete()


def open_window(contact: Contact, *, at: dt.datetime) -> None:
    """Move the 24 h window's start to ``at`` if that is later: one conditional UPDATE, so two writers of
    one contact at once (two drainers, the send API) can never move it back."""
    later = Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at)
    if Contact.objects.filter(later, pk=contact.pk).update(last_inbound_at=at):
        contact.last_inbound_at = at
    elif contact.last_inbound_at is None or contact.last_inbound_at < at:
        contact.refresh_from_db(fields=["last_inbound_at"])


def mark_business_replied(contact: Contact, *, at: dt.datetime) -> None:
    """Record that the business answered ``contact`` by hand at ``at`` (forward only, as ``open_window``)."""
    later = Q(business_replied_at__isnull=True) | Q(business_replied_at__lt=at)
    if Contact.objects.filter(later, pk=contact.pk).update(business_replied_at=at):
        contact.business_replied_at = at


def sync_from_app(*, company: Company, sync: ContactSync) -> bool:
    """A contact the business added, edited or removed in the Business app's address book; returns whether
    the entry named someone (a phone or a user id).

    The address book's name is kept beside the one the customer gave WhatsApp; removing the entry forgets
    that name, never the contact (its messages stay). Callers hold the contact's lock (``contact_key``).
    """
    phone, user_id = identity(sync.contact)
    if not phone and not user_id:
        return False
    if sync.action == "remove":
        contact = Contact.objects.filter(
            company=company, **({"phone": phone} if phone else {"user_id": user_id})
        ).first()
        if contact is not None and contact.saved_name:
            contact.saved_name = ""
            contact.save(update_fields=["saved_name", "updated_at"])
        return True
    contact = upsert_contact(
        company=company, incoming=InboundContact(wa_id=sync.contact.wa_id, user_id=sync.contact.user_id)
    )
    name = sync.contact.name[:MAX_NAME]
    if name and contact.saved_name != name:
        contact.saved_name = name
        contact.save(update_fields=["saved_name", "updated_at"])
    return True


def identity(incoming: InboundContact) -> tuple[str, str]:
    """The (phone, user id) a provider's contact is keyed on: E.164 digits, else the id it gave."""
    phone = normalize_phone(incoming.wa_id)
    # Documentation payloads and odd providers send ids that are not phones: key on them as user ids.
    user_id = (incoming.user_id or ("" if phone else incoming.wa_id))[:128]
    return phone, user_id


def refreshed_fields(contact: Contact, incoming: InboundContact, *, phone: str, user_id: str) -> list[str]:
    """Set on ``contact`` what ``incoming`` says anew; returns the fields that changed (not saved).

    A phone or user id fills a blank one and never replaces it; the provider's current id, name and
    username replace the old ones.
    """
    changed = []
    updates = (
        ("phone", phone, False),
        ("user_id", user_id, False),
        ("wa_id", incoming.wa_id[:64], True),
        ("name", incoming.name[:MAX_NAME], True),
        ("username", incoming.username[:100], True),
    )
    for field, value, replaces in updates:
        if value and getattr(contact, field) != value and (replaces or not getattr(contact, field)):
            setattr(contact, field, value)
            changed.append(field)
    return changed


def upsert_contact(*, company: Company, incoming: InboundContact, inbound_at: dt.datetime | None = None) -> Contact:
    """The company's contact for this WhatsApp user (by phone, else user id), created or refreshed.

    ``inbound_at``, the time of a message the customer sent, moves the 24 h window's start forward, never
    back (a late delivery of an older message never shortens the window). Callers that pass it hold the
    contact's lock (``contact_key``), so the merge of two contacts found for one user sees no other
    writer in between.
    """
    phone, user_id = identity(incoming)
    by_phone = Contact.objects.filter(company=company, phone=phone).first() if phone else None
    by_user = Contact.objects.filter(company=company, user_id=user_id).first() if user_id else None
    if by_phone and by_user and by_phone.pk != by_user.pk:
        if by_user.phone:  # two people claim the id: keep the phone match, leave the id where it is
            user_id = ""
        else:
            _merge_contacts(by_phone, by_user)
    contact = by_phone or by_user
    if contact is None:
        try:
            with transaction.atomic():
                return Contact.objects.create(
                    company=company,
                    phone=phone,
                    wa_id=incoming.wa_id[:64],
                    user_id=user_id,
                    name=incoming.name[:MAX_NAME],
                    username=incoming.username[:100],
                    last_inbound_at=inbound_at,
                )
        except IntegrityError:
            # Created meanwhile by a caller without the contact lock (the send API): refresh that one.
            return upsert_contact(company=company, incoming=incoming, inbound_at=inbound_at)
    changed = refreshed_fields(contact, incoming, phone=phone, user_id=user_id)
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    if inbound_at and (contact.last_inbound_at is None or contact.last_inbound_at < inbound_at):
        open_window(contact, at=inbound_at)
    return contact
