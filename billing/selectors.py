"""What the spend panel and the live dashboard read: figures from the totals, never a scan of the entries.

Every function is scoped by ``company_id`` (``None``: all companies, for platform staff). Amounts are per
currency (a company billed in USD and later in BRL has both), as ``Decimal``. ``spent`` is what Meta has
charged (delivered messages); ``pending`` what it priced and has not delivered yet; ``estimated`` what is
queued and not yet reported. "Today" and months are the company's time zone (for all companies, the
platform's ``TIME_ZONE``), as the entries' days are.
"""

import calendar
import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from billing.models import (
    Budget,
    BudgetAlert,
    Currency,
    SpendEntry,
    SpendMonthTotal,
    SpendTemplateTotal,
    SpendTotal,
)
from companies.models import Channel, Company

ZERO = Decimal(0)
SUMS = {
    "count": Sum("delivered_count"),
    "spent": Sum("delivered_amount"),
    "free_count": Sum("free_count"),
    "pending_count": Sum("sent_count"),
    "pending": Sum("sent_amount"),
    "estimated_count": Sum("estimated_count"),
    "estimated": Sum("estimated_amount"),
}


def money(amount: Decimal) -> str:
    """An amount as text with the six places Meta's prices have, whichever database summed it."""
    return f"{amount:.6f}"


@dataclass(frozen=True)
class Figure:
    """One line of a breakdown: what its ``key`` (a category, channel id, origin, template or day) cost."""

    key: Any
    currency: str
    count: int = 0
    spent: Decimal = ZERO
    free_count: int = 0
    pending_count: int = 0
    pending: Decimal = ZERO
    estimated_count: int = 0
    estimated: Decimal = ZERO

    def as_json(self) -> dict[str, Any]:
        """For a channel layer or a chart: amounts as strings (msgpack and JSON carry no Decimal)."""
        return {
            "key": self.key.isoformat() if isinstance(self.key, dt.date) else self.key,
            "currency": self.currency,
            "count": self.count,
            "spent": money(self.spent),
            "free_count": self.free_count,
            "pending_count": self.pending_count,
            "pending": money(self.pending),
            "estimated_count": self.estimated_count,
            "estimated": money(self.estimated),
        }


def today_for(company_id: int | None) -> dt.date:
    """Today in the company's time zone (the platform's for all companies)."""
    name = settings.TIME_ZONE
    if company_id is not None:
        name = Company.objects.filter(pk=company_id).values_list("timezone", flat=True).first() or name
    return timezone.now().astimezone(zoneinfo.ZoneInfo(name)).date()


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of ``month``'s month."""
    first = month.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def previous_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _scoped(rows: QuerySet, company_id: int | None) -> QuerySet:
    return rows if company_id is None else rows.filter(company_id=company_id)


def _figures(rows: QuerySet, key: str | None) -> list[Figure]:
    """Sum ``rows`` by ``key`` (None: one line per currency) and currency, largest spend first."""
    group = [key, "currency"] if key else ["currency"]
    summed = rows.values(*group).annotate(**SUMS).order_by()
    figures = [
        Figure(
            key=row[key] if key else "",
            currency=row["currency"],
            **{name: row[name] or (ZERO if name in ("spent", "pending", "estimated") else 0) for name in SUMS},
        )
        for row in summed
    ]
    return sorted(figures, key=lambda f: (-f.spent, f.currency, str(f.key)))


def _month_rows(company_id: int | None, month: dt.date) -> QuerySet:
    return _scoped(SpendMonthTotal.objects.filter(month=month.replace(day=1)), company_id)


# ------------------------------------------------------------------------------ the month


@dataclass(frozen=True)
class MonthToDate:
    month: dt.date
    total: list[Figure]
    by_category: list[Figure]
    by_channel: list[Figure]


def get_month_to_date(*, company_id: int | None, month: dt.date | None = None) -> MonthToDate:
    """The month so far (this month unless ``month`` names another): in all, by category and by channel."""
    month = (month or today_for(company_id)).replace(day=1)
    rows = _month_rows(company_id, month)
    return MonthToDate(
        month=month,
        total=_figures(rows, None),
        by_category=_figures(rows, "category"),
        by_channel=_figures(rows, "channel_id"),
    )


def list_by_origin(*, company_id: int | None, month: dt.date | None = None) -> list[Figure]:
    """The month's spend by origin: the bot's replies, agents' replies, notices, campaigns, API messages."""
    month = month or today_for(company_id)
    return _figures(_month_rows(company_id, month), "origin")


def list_top_templates(*, company_id: int | None, month: dt.date | None = None, limit: int = 10) -> list[Figure]:
    """The month's templates that cost the most (key: the template's name)."""
    month = (month or today_for(company_id)).replace(day=1)
    rows = _scoped(SpendTemplateTotal.objects.filter(month=month), company_id)
    return _figures(rows, "template_name")[:limit]


def list_daily(*, company_id: int | None, month: dt.date | None = None) -> list[Figure]:
    """Each day of the month (key: the date), every day present (zero when nothing was spent), per currency."""
    first, last = month_bounds(month or today_for(company_id))
    rows = _scoped(SpendTotal.objects.filter(day__gte=first, day__lte=last), company_id)
    figures = {(f.key, f.currency): f for f in _figures(rows, "day")}
    currencies = sorted({currency for _, currency in figures}) or [Currency.USD]
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return [figures.get((day, currency), Figure(key=day, currency=currency)) for currency in currencies for day in days]


def list_today_by_category(*, company_id: int | None, today: dt.date | None = None) -> list[Figure]:
    """Today's spend by category."""
    today = today or today_for(company_id)
    return _figures(_scoped(SpendTotal.objects.filter(day=today), company_id), "category")


# ------------------------------------------------------------------------------ forecast and comparison


@dataclass(frozen=True)
class Forecast:
    """Month-end spend, linear on the days elapsed: what is committed so far (charged, awaiting delivery and
    estimated) divided by the days elapsed (today counted whole) times the days of the month."""

    currency: str
    so_far: Decimal
    month_end: Decimal
    days_elapsed: int
    days_in_month: int


def get_forecast(*, company_id: int | None, today: dt.date | None = None) -> list[Forecast]:
    today = today or today_for(company_id)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    forecasts = []
    for figure in _figures(_month_rows(company_id, today), None):
        so_far = figure.spent + figure.pending + figure.estimated
        month_end = (so_far / today.day * days_in_month).quantize(Decimal("0.000001"))
        forecasts.append(Forecast(figure.currency, so_far, month_end, today.day, days_in_month))
    return forecasts


@dataclass(frozen=True)
class Comparison:
    """This month so far against the same days of last month, and against all of last month."""

    currency: str
    this_month: Decimal
    last_month_same_days: Decimal
    last_month: Decimal

    @property
    def change(self) -> Decimal | None:
        """This month against the same days of last month, as a fraction (None when last month spent nothing)."""
        if not self.last_month_same_days:
            return None
        return (self.this_month - self.last_month_same_days) / self.last_month_same_days


def get_comparison(*, company_id: int | None, today: dt.date | None = None) -> list[Comparison]:
    today = today or today_for(company_id)
    last_first, last_last = month_bounds(previous_month(today))
    same_day = min(today.day, last_last.day)
    this_month = {f.currency: f.spent for f in _figures(_month_rows(company_id, today), None)}
    last_month = {f.currency: f.spent for f in _figures(_month_rows(company_id, last_first), None)}
    same_days_rows = _scoped(
        SpendTotal.objects.filter(day__gte=last_first, day__lte=last_first.replace(day=same_day)), company_id
    )
    same_days = {f.currency: f.spent for f in _figures(same_days_rows, None)}
    currencies = sorted(this_month.keys() | last_month.keys())
    return [Comparison(c, this_month.get(c, ZERO), same_days.get(c, ZERO), last_month.get(c, ZERO)) for c in currencies]


# ------------------------------------------------------------------------------ the messages


def list_last_billable(*, company_id: int | None, limit: int = 20) -> list[SpendEntry]:
    """The last messages Meta charged for (delivered, at a price), newest first (a partial index)."""
    rows = SpendEntry.objects.filter(stage=SpendEntry.Stage.DELIVERED, amount__gt=0)
    return list(
        _scoped(rows, company_id)
        .order_by("-occurred_at", "-id")
        .only(
            "id",
            "company_id",
            "channel_id",
            "message_id",
            "occurred_at",
            "category",
            "amount",
            "currency",
            "template_name",
            "origin",
            "market",
        )[:limit]
    )


# ------------------------------------------------------------------------------ the spend panel: budgets, labels


@dataclass(frozen=True)
class BudgetStatus:
    """A company's monthly budget against what Meta has charged in the month (the gauge), and its alert if any."""

    budget_id: int
    amount: Decimal
    currency: str
    threshold_percent: int
    month: dt.date
    spent: Decimal
    alert: BudgetAlert | None

    @property
    def percent(self) -> Decimal:
        return (self.spent * 100 / self.amount).quantize(Decimal("0.1")) if self.amount else ZERO

    @property
    def remaining(self) -> Decimal:
        return max(self.amount - self.spent, ZERO)

    @property
    def over_by(self) -> Decimal:
        return max(self.spent - self.amount, ZERO)

    @property
    def is_over_threshold(self) -> bool:
        return self.spent >= self.amount * self.threshold_percent / 100

    @property
    def is_over_budget(self) -> bool:
        return self.spent >= self.amount


def get_budget_status(*, company_id: int, month: dt.date | None = None) -> BudgetStatus | None:
    """The company's monthly budget, the month's charged spend in its currency and the month's alert; None
    when the company has no budget."""
    budget = Budget.objects.filter(company_id=company_id, period=Budget.Period.MONTHLY).first()
    if budget is None:
        return None
    first = (month or today_for(company_id)).replace(day=1)
    spent = _month_rows(company_id, first).filter(currency=budget.currency).aggregate(spent=Sum("delivered_amount"))
    alert = BudgetAlert.objects.filter(company_id=company_id, period=budget.period, period_start=first).first()
    return BudgetStatus(
        budget_id=budget.pk,
        amount=budget.amount,
        currency=budget.currency,
        threshold_percent=budget.alert_threshold_percent,
        month=first,
        spent=spent["spent"] or ZERO,
        alert=alert,
    )


def list_budget_alerts(*, company_id: int | None, month: dt.date) -> list[BudgetAlert]:
    """The budget alerts of ``month`` (of one company, or of all), the company's name with each."""
    alerts = BudgetAlert.objects.filter(period_start=month.replace(day=1)).select_related("company")
    return list(_scoped(alerts, company_id).order_by("company__name"))


def get_open_alert(*, company_id: int) -> BudgetAlert | None:
    """The alert of the company's current month, if its budget was crossed (the admin's notice)."""
    first = today_for(company_id).replace(day=1)
    return BudgetAlert.objects.filter(company_id=company_id, period_start=first).order_by("pk").first()


def list_channel_labels(*, company_id: int | None, channel_ids: list[int]) -> dict[int, str]:
    """How the panel names channels: their label and number (a deleted channel keeps only its id)."""
    channels = _scoped(Channel.objects.filter(pk__in=channel_ids), company_id)
    return {
        pk: f"{name} ({number})" if number else name
        for pk, name, number in channels.values_list("pk", "name", "display_number")
    }


def list_panel_companies() -> list[tuple[str, str]]:
    """Every company's contract and name, for platform staff to choose one on the panel."""
    companies = Company.objects.order_by("name").values_list("contract", "name")
    return [(str(contract), name) for contract, name in companies]
