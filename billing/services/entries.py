"""Spend entries: the one writer of ``SpendEntry``; every change is added to the totals in its transaction.

One entry per outbound Cloud message (its ``message`` is unique; the wamid is kept beside it), moved along
by what is known of the message:

- queued → ``estimated``: the template's category (or ``service`` for a free-form message), the rate card
  in force and the free allowances (utility inside the window until 2026-09-30, a monthly allowance if
  one is switched on);
- a receipt with ``pricing`` before delivery → ``sent``: Meta's category and type replace the estimate,
  priced by the rate card, but not yet charged (``sent_*`` counters);
- a ``delivered``, ``read`` or ``played`` receipt → ``delivered``: charged, at Meta's pricing when any
  receipt carried it (else at the estimate's), on the day of the first delivery; final;
- ``failed`` before any delivery, or cancelled in the outbox → ``failed``: Meta bills delivered messages
  only, so it costs nothing (and a message an operator retries becomes ``sent`` and ``delivered`` again).

Webhooks come twice and out of order, and events may be handled by two workers at once: each settlement
locks the message row (``FOR NO KEY UPDATE``, as the status writer's own lock waits for it), reads its
current status and pricing, and combines them with what the entry already holds (the first pricing, the
earliest delivery). Any order of the same receipts ends in the same entry, and a duplicate changes nothing.
"""

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing import push
from billing.models import Category, FreeAllowance, FreeReason, Origin, SpendEntry
from billing.pricing import read_pricing
from billing.services import budgets, totals
from billing.services.reads import Reads, market_of, template_of
from companies.models import Channel
from config.bulk_sql import insert_rows, update_from_values
from conversations.models import CUSTOMER_SERVICE_WINDOW, Message

Stage = SpendEntry.Stage
Status = Message.Status
DELIVERY = frozenset({Status.DELIVERED, Status.READ, Status.PLAYED})
# What ends a message that was never delivered: Meta charges nothing for it.
NEVER_DELIVERED = frozenset({Status.FAILED, Status.CANCELLED})
ZERO = Decimal(0)
# Reasons decided once (by Meta, or by the estimate's allowances), kept when the entry is priced again.
KEPT_REASONS = frozenset(
    {
        FreeReason.CUSTOMER_SERVICE,
        FreeReason.ENTRY_POINT,
        FreeReason.NOT_BILLABLE,
        FreeReason.INSIDE_WINDOW,
        FreeReason.MONTHLY_ALLOWANCE,
    }
)
WRITTEN = (
    "wamid",
    "stage",
    "occurred_at",
    "day",
    "category",
    "pricing_type",
    "pricing_model",
    "conversation_id",
    "market",
    "currency",
    "rate",
    "tier",
    "unit_price",
    "amount",
    "free_reason",
    "is_priced",
    "delivered_at",
)


@dataclass(frozen=True)
class Queued:
    """A message the send service queued on a Cloud channel (``conversations.events.MESSAGE_QUEUED``)."""

    message_id: int
    at: dt.datetime
    category: str = ""
    in_window: bool = False


@dataclass(frozen=True)
class Receipt:
    """A status one of our messages moved to (``conversations.events.MESSAGE_STATUS_CHANGED``)."""

    message_id: int
    status: str
    at: dt.datetime
    pricing: dict[str, Any] | None = None


def settle(*, queued: Sequence[Queued] = (), receipts: Sequence[Receipt] = ()) -> list[SpendEntry]:
    """Bring the entries of these messages up to date and their totals with them; returns the entries changed."""
    by_message: dict[int, tuple[list[Queued], list[Receipt]]] = defaultdict(lambda: ([], []))
    for item in queued:
        by_message[item.message_id][0].append(item)
    for receipt in receipts:
        by_message[receipt.message_id][1].append(receipt)
    if not by_message:
        return []
    with transaction.atomic():
        messages = _lock(sorted(by_message))
        if not messages:
            return []
        # Locked in id order, as drop_estimates locks them, so the two never wait on each other in a circle.
        found = SpendEntry.objects.select_for_update().filter(message_id__in=list(messages)).order_by("pk")
        entries = {entry.message_id: entry for entry in found}
        batch = Reads.load(messages.values(), entries.values())
        deltas, created, changed = totals.Deltas(), [], []
        for message_id, message in messages.items():
            entry = entries.get(message_id)
            before = (_written(entry), totals.contribution(entry)) if entry is not None else None
            its_queued, its_receipts = by_message[message_id]
            entry = _settled(message, entry, its_queued, its_receipts, batch)
            if before is not None:
                if before[0] == _written(entry):
                    continue  # a duplicate, or news that changes nothing
                deltas.add(before[1], -1)
            deltas.add(totals.contribution(entry), 1)
            (changed if before is not None else created).append(entry)
        insert_rows(created)
        _update(changed)
        totals.apply(deltas)
        settled = created + changed
        push.after_commit(settled)
        budgets.after_commit(settled)  # a crossed budget alerts its company, once a period
    return settled


def drop_estimates(*, message_ids: Sequence[int]) -> int:
    """Messages cancelled in the outbox: their estimates cost nothing now. Returns how many were dropped.

    A cheap path for what a cancelled campaign sends by the thousand: a cancellation comes only to a
    queued message, which Meta never saw, so only an ``estimated`` entry can be concerned; one whose
    message is retried later is settled again by its receipts.
    """
    with transaction.atomic():
        dropped = list(
            SpendEntry.objects.select_for_update()
            .filter(message_id__in=list(message_ids), stage=Stage.ESTIMATED)
            .order_by("pk")
            .only(*totals.ENTRY_COLUMNS, "stage", "amount", "free_reason")
        )
        if not dropped:
            return 0
        deltas = totals.Deltas()
        for entry in dropped:
            deltas.add(totals.contribution(entry), -1)
        SpendEntry.objects.filter(pk__in=[entry.pk for entry in dropped]).update(
            stage=Stage.FAILED, amount=ZERO, updated_at=timezone.now()
        )
        totals.apply(deltas)
    return len(dropped)


def _update(changed: list[SpendEntry]) -> None:
    """One statement for the lot (Django's ``bulk_update`` builds a CASE per field and row, seconds for 200)."""
    now = timezone.now()
    rows = [
        {"pk": entry.pk, **dict(zip(WRITTEN, _written(entry), strict=True)), "updated_at": now} for entry in changed
    ]
    update_from_values(SpendEntry, rows, fields=[*WRITTEN, "updated_at"])


def _written(entry: SpendEntry) -> tuple:
    return tuple(getattr(entry, SpendEntry._meta.get_field(name).attname) for name in WRITTEN)


def _lock(ids: list[int]) -> dict[int, Message]:
    """The outbound Cloud messages among ``ids``, locked in id order (as the status writer locks them)."""
    rows = (
        Message.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in=ids, direction=Message.Direction.OUTBOUND, channel__kind=Channel.Kind.CLOUD)
        .select_related("contact", "channel", "company")
        .only(
            "id",
            "company_id",
            "channel_id",
            "contact_id",
            "author",
            "purpose",
            "type",
            "data",
            "provider_id",
            "status",
            "status_at",
            "pricing",
            "created_at",
            "contact__phone",
            "contact__wa_id",
            "contact__last_inbound_at",
            "channel__kind",
            "channel__waba_id",
            "company__timezone",
        )
        .order_by("pk")
    )
    return {message.pk: message for message in rows}


def origin_of(purpose: str, author: str) -> str:
    """Who made a message cost: the bot, an agent (or the bridge on their behalf), a notice, a campaign, the API."""
    if purpose == Message.Purpose.CAMPAIGN:
        return Origin.CAMPAIGN
    if purpose == Message.Purpose.NOTICE:
        return Origin.API if author == Message.Author.BUSINESS else Origin.NOTICE
    if purpose == Message.Purpose.REPLY:
        return Origin.BOT if author == Message.Author.BOT else Origin.AGENT
    return Origin.OTHER


def _local_day(moment: dt.datetime, time_zone: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def _settled(
    message: Message, entry: SpendEntry | None, queued: list[Queued], receipts: list[Receipt], batch: Reads
) -> SpendEntry:
    """The entry as what is now known of its message makes it (``entry`` is a copy, changed in place)."""
    if entry is None:
        name, _ = template_of(message)
        entry = SpendEntry(
            company_id=message.company_id,
            channel_id=message.channel_id,
            message_id=message.pk,
            currency=batch.currency(message.company_id),
            market=market_of(message),
            template_name=name,
            origin=origin_of(message.purpose, message.author),
            category="",
        )
    entry.wamid = message.provider_id[:128]
    pricing = next((r.pricing for r in receipts if r.pricing), None)
    if pricing is None and not entry.pricing_type and message.pricing:
        pricing = message.pricing  # kept on the message by a receipt that moved nothing (it came late)
    if pricing is not None and not entry.pricing_type:
        meta = read_pricing(pricing)
        entry.category, entry.pricing_type, entry.pricing_model = meta.category, meta.type, meta.model
        entry.free_reason = meta.free_reason
        entry.conversation_id = batch.conversations.get(message.pk, "") if meta.model == "CBP" else ""
    elif not entry.pricing_type and not entry.category:
        _estimate(entry, message, queued, batch)

    deliveries = [r.at for r in receipts if r.status in DELIVERY]
    if entry.delivered_at:
        deliveries.append(entry.delivered_at)
    if not deliveries and message.status in DELIVERY and message.status_at:
        deliveries.append(message.status_at)
    entry.delivered_at = min(deliveries, default=None)
    entry.stage, entry.occurred_at = _stage(entry, message, queued, receipts)
    entry.day = _local_day(entry.occurred_at, message.company.timezone)
    _price(entry, batch)
    return entry


def _estimate(entry: SpendEntry, message: Message, queued: list[Queued], batch: Reads) -> None:
    """Category and free reason before Meta says: from the template (or ``service``) and the window."""
    told = queued[0] if queued else None
    name, _ = template_of(message)
    if told is not None and told.category:
        entry.category = told.category
    else:
        entry.category = batch.template_category(message) if name else Category.SERVICE
    if told is not None:
        in_window = told.in_window
    else:  # free-form messages go out only inside the window; a template was inside it if the customer wrote
        last = message.contact.last_inbound_at
        in_window = not name or bool(last and message.created_at - last < CUSTOMER_SERVICE_WINDOW)
    entry.free_reason = FreeReason.INSIDE_WINDOW if in_window and _allowed_inside(entry, message, batch) else ""


def _allowed_inside(entry: SpendEntry, message: Message, batch: Reads) -> bool:
    day = _local_day(message.created_at, message.company.timezone)
    return batch.card.allowance(FreeAllowance.Kind.INSIDE_WINDOW, entry.market, entry.category, day) is not None


def _stage(
    entry: SpendEntry, message: Message, queued: list[Queued], receipts: list[Receipt]
) -> tuple[str, dt.datetime]:
    if entry.delivered_at is not None:
        return Stage.DELIVERED, entry.delivered_at
    if message.status in NEVER_DELIVERED:
        failed = [r.at for r in receipts if r.status in NEVER_DELIVERED]
        return Stage.FAILED, min(failed, default=None) or message.status_at or message.created_at
    if entry.pricing_type:
        if entry.stage == Stage.SENT and entry.occurred_at:
            return Stage.SENT, entry.occurred_at
        priced = [r.at for r in receipts if r.pricing]
        return Stage.SENT, min(priced, default=None) or message.status_at or message.created_at
    return Stage.ESTIMATED, queued[0].at if queued else message.created_at


def _price(entry: SpendEntry, batch: Reads) -> None:
    """The unit price from the rate card in force on the entry's day, and what it costs (zero when free)."""
    reason = entry.free_reason if entry.free_reason in KEPT_REASONS else FreeReason.NONE
    if (
        not reason
        and entry.stage != Stage.FAILED
        and entry.pricing_model == SpendEntry.PricingModel.CBP
        and entry.conversation_id
        and batch.conversation_charged(entry)
    ):
        reason = FreeReason.SAME_CONVERSATION
    if not reason and not entry.pricing_type and entry.stage != Stage.FAILED:
        allowance = batch.card.allowance(FreeAllowance.Kind.MONTHLY_PER_NUMBER, entry.market, entry.category, entry.day)
        if allowance is not None and batch.used_allowance(entry) <= (allowance.monthly_count or 0):
            reason = FreeReason.MONTHLY_ALLOWANCE
    nth = 1
    if not reason and batch.card.is_tiered(entry.market, entry.category, entry.currency, entry.day):
        nth = batch.nth_charged(entry)
    price = batch.card.price(entry.market, entry.category, entry.currency, entry.day, nth=nth)
    entry.rate_id, entry.tier, entry.unit_price = price.rate.pk if price.rate else None, price.tier, price.unit_price
    entry.is_priced = price.rate is not None
    if not reason and price.rate is not None and price.unit_price == ZERO:
        reason = FreeReason.FREE_RATE
    entry.free_reason = reason
    entry.amount = price.unit_price if not reason and entry.stage != Stage.FAILED else ZERO
