"""A drained batch of webhook events recorded together: a few statements for the lot, not a few per item.

The same records as ``inbound.record_events`` makes item by item, and the same guarantees: a message
is stored once per provider id (ids already stored, or twice in the batch, count as duplicates), a
contact once per user (found by phone or user id in one query, the missing ones created in one
INSERT), the 24 h window only ever moves forward (``GREATEST`` in the UPDATE itself, so concurrent
drainers cannot move it back), and receipts go through ``statuses`` in one move, never backwards, those
for unknown messages kept pending. What this path does not take on it hands to ``inbound`` item by item
inside the same transaction: account notices, connection and QR updates, and a user whose phone and
user id name two different contacts (a merge). The caller runs it in one transaction and, if anything
raises, rolls it back and records the events one at a time instead, so one bad item is isolated there.
"""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from companies.models import Channel, Company
from config.bulk_sql import greatest, insert_rows, update_from_values
from conversations.models import Contact, Message, WebhookEvent
from conversations.services import contacts, inbound, statuses
from conversations.whatsapp import payloads
from conversations.whatsapp.base import Event, InboundMessage, StatusUpdate


@dataclass(frozen=True)
class Item:
    source: WebhookEvent
    position: int
    event: Event
    channel: Channel | None


def parse(events: Iterable[WebhookEvent]) -> dict[int, list[Item]]:
    """Every item of every event, by company; raises for a body that no longer parses (the caller isolates it)."""
    by_company: dict[int, list[Item]] = defaultdict(list)
    resolvers: dict[tuple[int, str], inbound.ChannelResolver] = {}
    for source in events:
        kind, parse_body = inbound.PARSERS[source.source]
        key = (source.company_id, kind)
        resolver = resolvers.get(key) or resolvers.setdefault(key, inbound.ChannelResolver(source.company, kind))
        for position, event in enumerate(parse_body(payloads.loads(source.body))):
            channel = resolver(getattr(event, "channel_ref", ""))
            by_company[source.company_id].append(Item(source, position, event, channel))
    return by_company


def record_batch(events: list[WebhookEvent]) -> dict[int, Counter]:
    """Record ``events`` (already claimed); returns each event's outcomes, as ``inbound.record_events`` counts them.

    Runs in the caller's transaction, which must roll it all back if this raises.
    """
    outcomes: dict[int, Counter] = {event.pk: Counter() for event in events}
    companies = {event.company_id: event.company for event in events}
    for company_id, items in parse(events).items():
        _record_company(companies[company_id], items, outcomes)
    return outcomes


def _record_company(company: Company, items: list[Item], outcomes: dict[int, Counter]) -> None:
    # A past media message's file fills in its placeholder: item by item, as the careful path does.
    messages = [item for item in items if isinstance(item.event, InboundMessage) and not _history_media(item.event)]
    receipts = [item for item in items if isinstance(item.event, StatusUpdate)]
    batched = {id(item) for item in messages} | {id(item) for item in receipts}
    others = [item for item in items if id(item) not in batched]
    for item, outcome in _record_messages(company, messages):
        outcomes[item.source.pk][outcome] += 1
    results = statuses.record_statuses(company=company, updates=[(item.channel, item.event) for item in receipts])
    for item, outcome in zip(receipts, results, strict=True):
        if outcome in inbound.RECEIPT_NOTICES:
            others.append(item)  # kept as a notice, item by item
        else:
            outcomes[item.source.pk][outcome] += 1
    for item in others:
        outcomes[item.source.pk][_one_by_one(company, item)] += 1


def _history_media(event: InboundMessage) -> bool:
    return event.history and event.media is not None


def _one_by_one(company: Company, item: Item) -> str:
    with transaction.atomic():
        return inbound.record_one(company, item.channel, item.source, item.position, item.event)


# ------------------------------------------------------------------------------ messages and their contacts


def _record_messages(company: Company, items: list[Item]) -> list[tuple[Item, str]]:
    if not items:
        return []
    done: list[tuple[Item, str]] = []
    fresh: list[Item] = []
    seen: set[str] = set()
    provider_ids = {item.event.provider_id[: inbound.MAX_PROVIDER_ID] for item in items} - {""}
    stored = set(
        Message.objects.filter(company=company, provider_id__in=provider_ids).values_list("provider_id", flat=True)
    )
    for item in items:
        provider_id = item.event.provider_id[: inbound.MAX_PROVIDER_ID]
        if provider_id and (provider_id in stored or provider_id in seen):
            done.append((item, "duplicate"))  # a provider's retry, a replay, or the same message twice here
        else:
            seen.add(provider_id)
            fresh.append(item)
    # Phone and user id naming two contacts: the careful path merges them, under the contact's lock, before
    # the rest of the batch looks its contacts up (other items may name either of the two).
    keys, phones, user_ids = _identities(fresh)
    existing = _existing(company, phones, user_ids)
    merges = {id(item) for item in fresh if _lookup(existing, *keys[id(item)]) is MERGE}
    if merges:
        done += [(item, _one_by_one(company, item)) for item in fresh if id(item) in merges]
        fresh = [item for item in fresh if id(item) not in merges]
        existing = None  # read again: the merges changed them
    found = _contacts(company, fresh, existing)
    rows: list[tuple[Item, Message]] = []
    for item in fresh:
        contact = found.get(id(item))
        if contact is None:  # no usable identity: item by item (the careful path says why it fails)
            done.append((item, _one_by_one(company, item)))
            continue
        message = inbound.new_message(
            company=company,
            channel=item.channel,
            contact=contact,
            event=item.event,
            source=item.source,
            position=item.position,
        )
        rows.append((item, message))
    created = insert_rows([message for _, message in rows])
    inbound.after_recorded(created)
    done += [(item, inbound.outcome_of(message)) for (item, _), message in zip(rows, created, strict=True)]
    return done


def _identities(items: list[Item]) -> tuple[dict[int, tuple[str, str]], set[str], set[str]]:
    keys = {id(item): contacts.identity(item.event.contact) for item in items}
    return keys, {phone for phone, _ in keys.values() if phone}, {user for _, user in keys.values() if user}


def _contacts(
    company: Company, items: list[Item], existing: dict[str, dict[str, Contact]] | None
) -> dict[int, Contact]:
    """Each item's contact (by ``id(item)``), found (in ``existing`` when given) or created, refreshed, its
    window moved forward. Left out, for the careful path: items with neither phone nor user id.
    """
    keys, phones, user_ids = _identities(items)
    if existing is None:
        existing = _existing(company, phones, user_ids)
    missing: dict[tuple[str, str], Contact] = {}
    for item in items:
        phone, user_id = keys[id(item)]
        if (phone or user_id) and _lookup(existing, phone, user_id) is None and (phone, user_id) not in missing:
            incoming = item.event.contact
            missing[(phone, user_id)] = Contact(
                company=company,
                phone=phone,
                wa_id=incoming.wa_id[:64],
                user_id=user_id,
                name=incoming.name[: contacts.MAX_NAME],
                username=incoming.username[:100],
            )
    if missing:
        # Created meanwhile by another drainer or the send API: the conflict leaves theirs, read below.
        insert_rows(list(missing.values()), ignore_conflicts=True)
        existing = _existing(company, phones, user_ids)
    found: dict[int, Contact] = {}
    changed: dict[int, set[str]] = defaultdict(set)
    windows: dict[int, dt.datetime] = {}
    replies: dict[int, dt.datetime] = {}
    for item in items:
        phone, user_id = keys[id(item)]
        contact = _lookup(existing, phone, user_id) if phone or user_id else None
        if contact is None or contact is MERGE:  # a merge made by another writer meanwhile: next time
            continue
        if user_id and existing["user_id"].get(user_id, contact).pk != contact.pk:
            user_id = ""  # two people claim the id: it stays with the contact that has it (as upsert_contact)
        found[id(item)] = contact
        changed[contact.pk] |= set(contacts.refreshed_fields(contact, item.event.contact, phone=phone, user_id=user_id))
        for latest, at in ((windows, inbound.window_start(item.event)), (replies, inbound.business_reply(item.event))):
            if at and (contact.pk not in latest or latest[contact.pk] < at):
                latest[contact.pk] = at
    _save(
        {contact.pk: contact for contact in found.values()},
        changed,
        {"last_inbound_at": windows, "business_replied_at": replies},
    )
    return found


def _existing(company: Company, phones: set[str], user_ids: set[str]) -> dict[str, dict[str, Contact]]:
    by: dict[str, dict[str, Contact]] = {"phone": {}, "user_id": {}}
    if not phones and not user_ids:
        return by
    for contact in Contact.objects.filter(Q(phone__in=phones) | Q(user_id__in=user_ids), company=company):
        if contact.phone:
            by["phone"][contact.phone] = contact
        if contact.user_id:
            by["user_id"][contact.user_id] = contact
    return by


# ``_lookup``'s answer for a user whose phone and user id name two contacts that are one person.
MERGE = Contact()


def _lookup(existing: dict[str, dict[str, Contact]], phone: str, user_id: str) -> Contact | None:
    """The one contact of this user, None when there is none, or MERGE when its phone and user id name two."""
    by_phone = existing["phone"].get(phone) if phone else None
    by_user = existing["user_id"].get(user_id) if user_id else None
    if by_phone and by_user and by_phone.pk != by_user.pk:
        return by_phone if by_user.phone else MERGE  # two people claim the id: the phone match keeps it
    return by_phone or by_user


def _save(found: dict[int, Contact], changed: dict[int, set[str]], latest: dict[str, dict[int, dt.datetime]]) -> None:
    """The refreshed fields and the times of the batch's contacts (the window's start, the business's last
    reply by hand, by field): one UPDATE per set of fields changed.

    A time only ever moves forward (``GREATEST`` against the stored value), whatever another writer stored
    meanwhile; a field that did not change is not written.
    """
    now = timezone.now()
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    timed = {pk for times in latest.values() for pk in times}
    for pk in sorted(timed | {pk for pk, names in changed.items() if names}):
        contact = found[pk]
        names = set(changed.get(pk, ()))
        for name, times in latest.items():
            if pk in times:
                names.add(name)
                if getattr(contact, name) is None or getattr(contact, name) < times[pk]:
                    setattr(contact, name, times[pk])
        fields = (*sorted(names), "updated_at")
        groups[fields].append({"pk": pk, **{name: getattr(contact, name) for name in names}, "updated_at": now})
    forward = {name: greatest(f"{{table}}.{name}", "{value}") for name in latest}
    for fields, rows in groups.items():
        update_from_values(Contact, rows, fields=fields, expressions=forward)
