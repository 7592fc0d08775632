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
- ``failed`` before any delivery → ``failed``: Meta bills delivered messages only, so it costs nothing
  (and a failed message an operator retries becomes ``sent`` and ``delivered`` again).

Webhooks come twice and out of order, and events may be handled by two workers at once: each settlement
locks the message row (``FOR NO KEY UPDATE``, as the status writer's own lock waits for it), reads its
current status and pricing, and combines them with what the entry already holds (the first pricing, the
earliest delivery). Any order of the same receipts ends in the same entry, and a duplicate changes nothing.
"""

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Sum

from billing import push
from billing.markets import market_for_phone
from billing.models import (
    BillingAccount,
    Category,
    Currency,
    FreeAllowance,
    FreeReason,
    Origin,
    SpendEntry,
    SpendMonthTotal,
)
from billing.pricing import read_pricing
from billing.rates import RateCard
from billing.services import budgets, totals
from companies.models import Channel
from conversations.models import CUSTOMER_SERVICE_WINDOW, Message, MessageStatusChange
from templates_meta.models import Template

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
        entries = {entry.message_id: entry for entry in SpendEntry.objects.filter(message_id__in=list(messages))}
        batch = _Batch.load(messages.values(), entries.values())
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
        SpendEntry.objects.bulk_create(created)
        if changed:
            SpendEntry.objects.bulk_update(changed, [*WRITTEN, "updated_at"])
        totals.apply(deltas)
        settled = created + changed
        push.after_commit(settled)
        budgets.after_commit(settled)  # a crossed budget alerts its company, once a period
    return settled


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


def template_of(message: Message) -> tuple[str, str]:
    """The template's name and language a message sends, or ("", "") for a free-form one."""
    content = (message.data or {}).get("content") or {}
    if content.get("kind") == "template":
        return str(content.get("name", ""))[:512], str(content.get("language", ""))
    return "", ""


class _Batch:
    """What one settlement reads once for all its messages: rates, currencies, templates, month counts."""

    def __init__(self) -> None:
        self.card = RateCard([], [])
        self.currencies: dict[int, str] = {}
        self.template_categories: dict[tuple[int, str, str, str], str] = {}
        self.conversations: dict[int, str] = {}
        self._month_counts: dict[tuple, int] = {}
        self._charged_conversations: set[tuple[int, str]] = set()

    @classmethod
    def load(cls, messages: Iterable[Message], entries: Iterable[SpendEntry]) -> "_Batch":
        batch = cls()
        messages = list(messages)
        company_ids = {m.company_id for m in messages}
        batch.currencies = dict(
            BillingAccount.objects.filter(company_id__in=company_ids).values_list("company_id", "currency")
        )
        currencies = {batch.currencies.get(c, Currency.USD) for c in company_ids} | {e.currency for e in entries}
        markets = {_market(m) for m in messages}
        batch.card = RateCard.load(markets=markets, currencies=currencies)
        names = {template_of(m)[0] for m in messages} - {""}
        if names:
            found = Template.objects.filter(company_id__in=company_ids, name__in=names).values_list(
                "company_id", "waba_id", "name", "language", "category"
            )
            for company_id, waba_id, name, language, category in found:
                batch.template_categories[(company_id, waba_id, name, language)] = category.lower()
        cbp = [m.pk for m in messages if (m.pricing or {}).get("pricing_model") == "CBP"]
        if cbp:
            batch.conversations = _conversation_ids(cbp)
        return batch

    def currency(self, company_id: int) -> str:
        return self.currencies.get(company_id, Currency.USD)

    def template_category(self, message: Message) -> str:
        name, language = template_of(message)
        return self.template_categories.get(
            (message.company_id, message.channel.waba_id, name, language), Category.UTILITY
        )

    def nth_charged(self, entry: SpendEntry) -> int:
        """Which charged message of its month (market and category) ``entry`` is, for volume tiers."""
        month = totals.month_of(entry.day)
        key = ("tier", entry.company_id, month, entry.market, entry.category, entry.currency)
        if key not in self._month_counts:
            counted = SpendMonthTotal.objects.filter(
                company_id=entry.company_id,
                month=month,
                market=entry.market,
                category=entry.category,
                currency=entry.currency,
            ).aggregate(n=Sum(F("delivered_count") - F("free_count")))
            self._month_counts[key] = counted["n"] or 0
        self._month_counts[key] += 1
        return self._month_counts[key]

    def used_allowance(self, entry: SpendEntry) -> int:
        """How many messages of its category the entry's number sent this month (a monthly allowance)."""
        month = totals.month_of(entry.day)
        key = ("allowance", entry.company_id, entry.channel_id, month, entry.category)
        if key not in self._month_counts:
            counted = SpendMonthTotal.objects.filter(
                company_id=entry.company_id, month=month, channel_id=entry.channel_id, category=entry.category
            ).aggregate(n=Sum(F("delivered_count") + F("sent_count") + F("estimated_count")))
            self._month_counts[key] = counted["n"] or 0
        self._month_counts[key] += 1
        return self._month_counts[key]

    def conversation_charged(self, entry: SpendEntry) -> bool:
        """Conversation-based pricing charged a 24 h conversation once: whether another message already paid it."""
        key = (entry.company_id, entry.conversation_id)
        if key in self._charged_conversations:
            return True
        paid = (
            SpendEntry.objects.filter(company_id=entry.company_id, conversation_id=entry.conversation_id)
            .exclude(message_id=entry.message_id)
            .filter(stage__in=[Stage.SENT, Stage.DELIVERED], amount__gt=0)
            .exists()
        )
        if not paid:
            self._charged_conversations.add(key)
        return paid


def _conversation_ids(message_ids: list[int]) -> dict[int, str]:
    """Meta's conversation id of each conversation-based message, from its stored receipts."""
    found: dict[int, str] = {}
    for message_id, raw in MessageStatusChange.objects.filter(message_id__in=message_ids).values_list(
        "message_id", "raw"
    ):
        conversation = (raw or {}).get("conversation") or {}
        if conversation.get("id") and message_id not in found:
            found[message_id] = str(conversation["id"])[:64]
    return found


def _market(message: Message) -> str:
    contact = message.contact
    return market_for_phone(contact.phone or contact.wa_id or "")


def _local_day(moment: dt.datetime, time_zone: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def _settled(
    message: Message, entry: SpendEntry | None, queued: list[Queued], receipts: list[Receipt], batch: _Batch
) -> SpendEntry:
    """The entry as what is now known of its message makes it (``entry`` is a copy, changed in place)."""
    if entry is None:
        name, _ = template_of(message)
        entry = SpendEntry(
            company_id=message.company_id,
            channel_id=message.channel_id,
            message_id=message.pk,
            currency=batch.currency(message.company_id),
            market=_market(message),
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


def _estimate(entry: SpendEntry, message: Message, queued: list[Queued], batch: _Batch) -> None:
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


def _allowed_inside(entry: SpendEntry, message: Message, batch: _Batch) -> bool:
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


def _price(entry: SpendEntry, batch: _Batch) -> None:
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
