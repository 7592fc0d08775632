"""Message statuses: the one place that moves them, appends their history and announces the change.

Every status write goes through :func:`move`: the outbox's claims and hand-backs, the engine's outcomes,
operators' retries and cancellations, the recovery of stuck sends and the providers' receipts. A change
applies when the message is in one of the statuses it may come from, or, for a receipt, when it is
progress: Meta and Evolution deliver receipts out of order (a ``read`` can arrive before its
``delivered``), so a late one is kept in the history but never moves the status back. A receipt for a
message we do not know (yet) waits as a PendingStatus and is applied when the message appears. Receipts
tell how our messages fared, so one naming a customer's message is an orphan: kept in that message's
history as not applied, it moves nothing. Only a deletion applies to both (a customer may delete what
they wrote).

What applies and is part of the history is announced after commit as "message status changed"
(``conversations.events``), with Meta's pricing object, for the apps above (spend, notices).
"""

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from companies.models import Channel, Company
from config.bulk_sql import insert_rows, update_from_values
from conversations import events
from conversations.models import Message, MessageStatusChange, PendingStatus
from conversations.whatsapp.base import StatusUpdate

Status = Message.Status

# How far along a message is; a receipt applies only when it goes further.
PROGRESS = {
    Status.QUEUED: 0,
    Status.SENDING: 1,
    Status.SENT: 2,
    Status.RECEIVED: 2,
    Status.DELIVERED: 3,
    Status.READ: 4,
    Status.PLAYED: 5,  # a voice message played after it was read
}
# Terminal outcomes: ``failed`` ends a message not yet delivered; ``deleted`` always applies.
FAILED_APPLIES_UP_TO = PROGRESS[Status.SENT]
KNOWN = frozenset(Status.values)
MAX_CODE, MAX_REASON = 32, 255


def is_orphan(change: "Change", direction: str) -> bool:
    """A provider's receipt that names a customer's message: nothing of ours it could tell about."""
    return change.from_statuses is None and direction == Message.Direction.INBOUND and change.status != Status.DELETED


def moves_forward(current: str, new: str) -> bool:
    if current in (Status.DELETED, Status.FAILED) and new != Status.DELETED:
        return False
    if new == Status.DELETED:
        return current != Status.DELETED
    if new == Status.FAILED:
        return PROGRESS.get(current, 0) <= FAILED_APPLIES_UP_TO
    return PROGRESS.get(new, -1) > PROGRESS.get(current, 0)


@dataclass(frozen=True)
class Change:
    """A status one message is to move to, and what is written with it when it applies."""

    message_id: int
    status: str
    at: dt.datetime
    error_code: str = ""
    error_title: str = ""
    pricing: dict[str, Any] | None = None  # kept from the first receipt that has it
    raw: dict[str, Any] | None = None
    # The statuses it may come from; None for a provider's receipt, which applies when it is progress.
    from_statuses: frozenset[str] | None = None
    # Other columns written when it applies (the engine's provider id, attempts, next attempt).
    fields: Mapping[str, Any] = field(default_factory=dict)
    # Kept in the history and announced; the outbox's own claims and hand-backs are not.
    recorded: bool = True

    def applies_to(self, current: str) -> bool:
        if self.from_statuses is not None:
            return current in self.from_statuses
        return moves_forward(current, self.status)


@dataclass
class Held:
    """A message's row as the writer needs it, read under a lock its caller holds."""

    company_id: int
    direction: str
    status: str
    has_pricing: bool
    purpose: str = ""
    channel_kind: str = ""  # "" where the caller did not read it (the engine's own moves)
    values: dict[str, Any] = field(default_factory=dict)


_COLUMNS = ("id", "company_id", "direction", "status", "pricing", "purpose", "channel__kind")


def lock(messages: QuerySet[Message], *, limit: int | None = None, skip_locked: bool = False) -> dict[int, Held]:
    """Lock and read ``messages`` (in id order, as every writer does, so two never wait on each other in a
    circle) for a caller that picks what to move under the lock; give the result to ``move``."""
    # The channel's kind is read along (the receipts' subscribers filter on it); only the messages are locked.
    locked = messages.select_for_update(skip_locked=skip_locked, of=("self",)).order_by("pk").values_list(*_COLUMNS)
    if limit is not None:
        locked = locked[:limit]
    return {
        pk: Held(
            company_id=company_id,
            direction=direction,
            status=status,
            has_pricing=pricing is not None,
            purpose=purpose,
            channel_kind=channel_kind or "",
        )
        for pk, company_id, direction, status, pricing, purpose, channel_kind in locked
    }


def held(messages: Iterable[Message]) -> dict[int, Held]:
    """``lock``'s answer for messages the caller locked and read whole."""
    channel = Message._meta.get_field("channel")
    return {
        # The channel's kind where its row came with the message (the door's); never a query per message.
        m.pk: Held(m.company_id, m.direction, m.status, m.pricing is not None, m.purpose, _kind(m, channel))
        for m in messages
    }


def _kind(message: Message, channel) -> str:
    return message.channel.kind if message.channel_id and channel.is_cached(message) else ""


def move(
    changes: Sequence[Change], *, locked: Mapping[int, Held] | None = None, unless_moved: frozenset[str] = frozenset()
) -> list[Change]:
    """Apply ``changes`` in order (several may name one message); returns those that applied.

    The messages are locked and read first, unless the caller holds them already and gives what
    ``lock`` or ``held`` read as ``locked``. A caller that read them without a lock but owns them (the
    engine, its claimed messages) gives their statuses as ``locked`` and, as ``unless_moved``, the
    statuses they must still be in for the write to happen. Runs in the caller's transaction, or in its own.
    """
    if not changes:
        return []
    with transaction.atomic(savepoint=False):
        if locked is None:
            rows = lock(Message.objects.filter(pk__in={c.message_id for c in changes}))
        else:  # copies: what is written is collected on them
            rows = {pk: dataclasses.replace(h, values={}) for pk, h in locked.items()}
        applied: list[Change] = []
        history: list[MessageStatusChange] = []
        for change in changes:
            row = rows.get(change.message_id)
            if row is None:  # deleted meanwhile
                continue
            orphan = is_orphan(change, row.direction)
            moved = change.applies_to(row.status) and not orphan
            if moved:
                row.status = change.status
                row.values.update(
                    status=change.status,
                    status_at=change.at,
                    error_code=change.error_code[:MAX_CODE],
                    error_reason=change.error_title[:MAX_REASON],
                    **change.fields,
                )
                applied.append(change)
            if change.pricing and not row.has_pricing and not orphan:
                row.has_pricing = True
                category = str(change.pricing.get("category", ""))[:32]
                row.values.update(pricing=change.pricing, pricing_category=category)
            # A provider's receipt is a fact, kept even when it came late; one of our own moves that did not
            # apply (a refused retry or cancellation) never happened.
            if change.recorded and (moved or change.from_statuses is None):
                history.append(
                    MessageStatusChange(
                        message_id=change.message_id,
                        status=change.status,
                        at=change.at,
                        error_code=change.error_code[:MAX_CODE],
                        error_title=change.error_title[:MAX_REASON],
                        applied=moved,
                        raw=change.raw or {},
                    )
                )
        _write(rows, unless_moved)
        # A receipt delivered twice (provider retry, replay) is one history entry.
        insert_rows(history, ignore_conflicts=True)
        announced = [change for change in applied if change.recorded]
        events.MESSAGE_STATUS_CHANGED.emit_many(
            [
                (rows[c.message_id].company_id, _announcement(c, rows[c.message_id]))
                for c in announced
                if rows[c.message_id].company_id
            ]
        )
    return applied


def _write(rows: Mapping[int, Held], unless_moved: frozenset[str]) -> None:
    """One UPDATE per set of columns (a round's outcomes share a few), not one per message."""
    still = ", ".join(f"'{status}'" for status in sorted(unless_moved))  # our own choices' values, never input
    where = f"{{table}}.status IN ({still})" if unless_moved else ""
    now = timezone.now()
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for pk, row in rows.items():
        if row.values:
            columns = (*sorted(row.values), "updated_at")
            by_columns.setdefault(columns, []).append({"pk": pk, **row.values, "updated_at": now})
    for columns, values in by_columns.items():
        update_from_values(Message, values, fields=columns, where=where)


def _announcement(change: Change, row: Held) -> dict[str, Any]:
    return {
        "message_id": change.message_id,
        "direction": row.direction,
        "purpose": row.purpose,
        "channel_kind": row.channel_kind,
        "status": change.status,
        "at": change.at.isoformat(),
        "error_code": change.error_code[:MAX_CODE],
        "error_title": change.error_title[:MAX_REASON],
        "pricing": change.pricing,
    }


# ------------------------------------------------------------------------------ receipts


def receipt(message_id: int, update: StatusUpdate | PendingStatus) -> Change:
    """A provider's receipt (or one that waited for its message) as a change."""
    return Change(
        message_id=message_id,
        status=update.status,
        at=update.timestamp if isinstance(update, StatusUpdate) else update.at,
        error_code=update.error_code,
        error_title=update.error_title,
        pricing=update.pricing,
        raw=update.raw,
    )


def apply_status(
    *,
    message: Message,
    status: str,
    at: dt.datetime,
    error_code: str = "",
    error_title: str = "",
    pricing: dict | None = None,
    raw: dict | None = None,
) -> bool:
    """One receipt for ``message``; returns whether it moved the status (``message`` is refreshed)."""
    change = Change(message.pk, status, at, error_code, error_title, pricing, raw)
    moved = bool(move([change]))
    message.refresh_from_db(fields=["status", "status_at", "error_code", "error_reason"])
    return moved


def record_statuses(*, company: Company, updates: Iterable[tuple[Channel | None, StatusUpdate]]) -> list[str]:
    """Apply provider receipts in order, or keep them pending until their message appears.

    Returns one outcome per update: ``status``, ``pending_status``, ``orphan`` (it names a customer's
    message: kept in its history, applied to nothing) or ``unsupported`` (no id, or a status Meta does
    not document).
    """
    updates = list(updates)
    outcomes = ["unsupported"] * len(updates)
    known = [
        (index, channel, update)
        for index, (channel, update) in enumerate(updates)
        if update.status in KNOWN and update.provider_id
    ]
    provider_ids = {update.provider_id[:128] for _, _, update in known}
    with transaction.atomic(savepoint=False):
        # Found and locked in one query (in id order, as ``lock`` does): ``move`` then reads them no more.
        found = (
            Message.objects.filter(company=company, provider_id__in=provider_ids)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("provider_id", *_COLUMNS)
        )
        messages, locked = {}, {}
        for provider_id, pk, company_id, direction, status, pricing, purpose, channel_kind in found:
            messages[provider_id] = pk
            locked[pk] = Held(company_id, direction, status, pricing is not None, purpose, channel_kind or "")
        _record_receipts(company, known, messages, locked, outcomes)
    return outcomes


def _record_receipts(company, known, messages, locked, outcomes) -> None:
    changes, waiting = [], []
    for index, channel, update in known:
        message_id = messages.get(update.provider_id[:128])
        if message_id is None:
            waiting.append(_pending(company, channel, update))
            outcomes[index] = "pending_status"
        else:
            changes.append(change := receipt(message_id, update))
            outcomes[index] = "orphan" if is_orphan(change, locked[message_id].direction) else "status"
    move(changes, locked=locked)
    if waiting:
        PendingStatus.objects.bulk_create(waiting, ignore_conflicts=True)
        # A message stored while these receipts were being written: apply them now then.
        arrived = Message.objects.filter(company=company, provider_id__in={p.provider_id for p in waiting})
        for message in arrived:
            apply_pending(message)


def record_status(*, company: Company, channel: Channel | None, update: StatusUpdate) -> str:
    """One receipt (see ``record_statuses``)."""
    return record_statuses(company=company, updates=[(channel, update)])[0]


def _pending(company: Company, channel: Channel | None, update: StatusUpdate) -> PendingStatus:
    return PendingStatus(
        company=company,
        channel=channel,
        provider_id=update.provider_id[:128],
        status=update.status,
        at=update.timestamp,
        error_code=update.error_code[:MAX_CODE],
        error_title=update.error_title[:MAX_REASON],
        pricing=update.pricing,
        raw=update.raw,
    )


def apply_pending(message: Message) -> int:
    """Apply the receipts that arrived before ``message`` was known; returns how many."""
    return apply_pending_for([message])


def apply_pending_for(messages: Iterable[Message]) -> int:
    """``apply_pending`` for many messages: one query finds what waits for any of them."""
    by_key = {(m.company_id, m.provider_id): m.pk for m in messages if m.provider_id}
    if not by_key:
        return 0
    with transaction.atomic(savepoint=False):
        pending = list(
            PendingStatus.objects.select_for_update()
            .filter(provider_id__in={provider_id for _, provider_id in by_key})
            .order_by("at", "pk")
        )
        pending = [p for p in pending if (p.company_id, p.provider_id) in by_key]
        move([receipt(by_key[(p.company_id, p.provider_id)], p) for p in pending])
        PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()
    return len(pending)


# ------------------------------------------------------------------------------ the outbox's own moves


def queued(messages: Sequence[Message]) -> None:
    """Start the history of messages just stored as ``queued`` by the door, and announce them."""
    MessageStatusChange.objects.bulk_create(
        [MessageStatusChange(message=m, status=Status.QUEUED, at=m.status_at) for m in messages]
    )
    events.MESSAGE_STATUS_CHANGED.emit_many(
        [(m.company_id, _announcement(Change(m.pk, Status.QUEUED, m.status_at), held([m])[m.pk])) for m in messages]
    )
