"""What one settlement of spend entries reads once for all its messages: the company's currency, the rate
card, the templates' categories, Meta's conversation ids and the month's counts (volume tiers, allowances)."""

from collections.abc import Iterable

from django.db.models import F, Sum

from billing.markets import market_for_phone
from billing.models import BillingAccount, Category, Currency, SpendEntry, SpendMonthTotal
from billing.rates import RateCard
from billing.services import totals
from conversations.models import Message, MessageStatusChange
from templates_meta.models import Template

Stage = SpendEntry.Stage


def template_of(message: Message) -> tuple[str, str]:
    """The template's name and language a message sends, or ("", "") for a free-form one."""
    content = (message.data or {}).get("content") or {}
    if content.get("kind") == "template":
        return str(content.get("name", ""))[:512], str(content.get("language", ""))
    return "", ""


class Reads:
    """What one settlement reads once for all its messages: rates, currencies, templates, month counts."""

    def __init__(self) -> None:
        self.card = RateCard([], [])
        self.currencies: dict[int, str] = {}
        self.template_categories: dict[tuple[int, str, str, str], str] = {}
        self.conversations: dict[int, str] = {}
        self._month_counts: dict[tuple, int] = {}
        self._charged_conversations: set[tuple[int, str]] = set()

    @classmethod
    def load(cls, messages: Iterable[Message], entries: Iterable[SpendEntry]) -> "Reads":
        batch = cls()
        messages = list(messages)
        company_ids = {m.company_id for m in messages}
        batch.currencies = dict(
            BillingAccount.objects.filter(company_id__in=company_ids).values_list("company_id", "currency")
        )
        currencies = {batch.currencies.get(c, Currency.USD) for c in company_ids} | {e.currency for e in entries}
        markets = {market_of(m) for m in messages}
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
            batch.conversations = conversation_ids(cbp)
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


def conversation_ids(message_ids: list[int]) -> dict[int, str]:
    """Meta's conversation id of each conversation-based message, from its stored receipts."""
    found: dict[int, str] = {}
    for message_id, raw in MessageStatusChange.objects.filter(message_id__in=message_ids).values_list(
        "message_id", "raw"
    ):
        conversation = (raw or {}).get("conversation") or {}
        if conversation.get("id") and message_id not in found:
            found[message_id] = str(conversation["id"])[:64]
    return found


def market_of(message: Message) -> str:
    contact = message.contact
    return market_for_phone(contact.phone or contact.wa_id or "")
