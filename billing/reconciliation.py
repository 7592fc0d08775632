"""Ours against Meta's: per company, day and category, what our spend totals say was delivered and charged
beside what Meta's pricing analytics say, and the differences (the panel and the admin read them here).

Ours are the delivered messages of the daily totals (Meta charges on delivery; free ones are in the count).
Meta's are its volume and cost; where it gave no cost (a WABA on a Solution Partner's credit line) its
charged volume priced with our rate card stands for it, and ``priced_by_us`` says so. Meta's side of a day
is ``missing`` when nothing was fetched for it, ``failed`` when a fetch of it failed and none succeeded.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from billing.models import MetaFetch, MetaSpend, SpendTotal

ZERO = Decimal(0)


class MetaState:
    OK = "ok"
    FAILED = "failed"
    MISSING = "missing"


@dataclass(frozen=True)
class Difference:
    """One company's day and category in one currency: ours, Meta's (None while Meta's day is not in), and
    the differences, Meta's less ours."""

    company_id: int
    day: dt.date
    category: str
    currency: str
    meta_state: str
    ours_count: int = 0
    ours_free_count: int = 0
    ours_amount: Decimal = ZERO
    meta_volume: int | None = None
    meta_free_volume: int | None = None
    meta_amount: Decimal | None = None
    priced_by_us: bool = False

    @property
    def volume_difference(self) -> int | None:
        return None if self.meta_volume is None else self.meta_volume - self.ours_count

    @property
    def amount_difference(self) -> Decimal | None:
        return None if self.meta_amount is None else self.meta_amount - self.ours_amount

    @property
    def matches(self) -> bool:
        return self.volume_difference == 0 and self.amount_difference == 0


def _scoped(rows: QuerySet, company_id: int | None, since: dt.date, until: dt.date) -> QuerySet:
    rows = rows.filter(day__gte=since, day__lte=until)
    return rows if company_id is None else rows.filter(company_id=company_id)


def _day_states(company_id: int | None, since: dt.date, until: dt.date) -> dict[tuple[int, dt.date], str]:
    """Per company and day: ``ok`` when a fetch of it succeeded and none failed, else ``failed``."""
    states: dict[tuple[int, dt.date], set[str]] = defaultdict(set)
    for row in _scoped(MetaFetch.objects.all(), company_id, since, until).values("company_id", "day", "state"):
        states[(row["company_id"], row["day"])].add(row["state"])
    return {key: MetaState.OK if found == {MetaFetch.State.OK} else MetaState.FAILED for key, found in states.items()}


def list_differences(company_id: int | None, since: dt.date, until: dt.date) -> list[Difference]:
    """Every day from ``since`` to ``until`` (the company's days; None: all companies) on which we or Meta
    counted a delivered message, by category and currency, in order."""
    ours: dict[tuple, dict[str, Any]] = {
        (row["company_id"], row["day"], row["category"], row["currency"]): row
        for row in _scoped(SpendTotal.objects.all(), company_id, since, until)
        .values("company_id", "day", "category", "currency")
        .annotate(count=Sum("delivered_count"), free=Sum("free_count"), amount=Sum("delivered_amount"))
        .filter(count__gt=0)
        .order_by()
    }
    theirs: dict[tuple, dict[str, Any]] = {
        (row["company_id"], row["day"], row["category"], row["currency"]): row
        for row in _scoped(MetaSpend.objects.all(), company_id, since, until)
        .values("company_id", "day", "category", "currency")
        .annotate(
            total_volume=Sum("volume"),
            free=Sum(F("volume") - F("charged_volume")),
            amount=Sum(Coalesce("cost", "rate_card_cost")),
            unpriced_by_meta=Count("id", filter=Q(cost__isnull=True)),
        )
        .order_by()
    }
    states = _day_states(company_id, since, until)
    differences = []
    for key in sorted(ours.keys() | theirs.keys(), key=lambda k: (k[0], k[1], k[2], k[3])):
        company, day, _, _ = key
        state = states.get((company, day), MetaState.MISSING)
        mine, meta = ours.get(key), theirs.get(key)
        fetched = state == MetaState.OK or meta is not None
        differences.append(
            Difference(
                *key,
                meta_state=state,
                ours_count=mine["count"] if mine else 0,
                ours_free_count=mine["free"] if mine else 0,
                ours_amount=mine["amount"] if mine else ZERO,
                meta_volume=(meta["total_volume"] if meta else 0) if fetched else None,
                meta_free_volume=(meta["free"] if meta else 0) if fetched else None,
                meta_amount=(meta["amount"] if meta else ZERO) if fetched else None,
                priced_by_us=bool(meta and meta["unpriced_by_meta"]),
            )
        )
    return differences
