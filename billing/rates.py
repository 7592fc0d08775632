"""Reading the rate card: the price in force for a market, category and currency on a day, by volume tier."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from billing.models import FreeAllowance, Rate


@dataclass(frozen=True)
class Price:
    """A rate card's answer: the row (None when no row is in force) and the price per message."""

    rate: Rate | None
    unit_price: Decimal

    @property
    def tier(self) -> str:
        return self.rate.tier if self.rate else ""


NO_PRICE = Price(None, Decimal(0))


def _in_force(valid_from: dt.date, valid_to: dt.date | None, day: dt.date) -> bool:
    return valid_from <= day and (valid_to is None or day <= valid_to)


class RateCard:
    """The rows of the rate card and the free allowances that may price one batch of entries, read once."""

    def __init__(self, rates: Iterable[Rate], allowances: Iterable[FreeAllowance]) -> None:
        self._rates: dict[tuple[str, str, str], list[Rate]] = {}
        for rate in rates:
            self._rates.setdefault((rate.market, rate.category, rate.currency), []).append(rate)
        self._allowances = [allowance for allowance in allowances if allowance.is_active]

    @classmethod
    def load(cls, *, markets: Iterable[str], currencies: Iterable[str]) -> "RateCard":
        rates = Rate.objects.filter(market__in=set(markets), currency__in=set(currencies))
        return cls(rates, FreeAllowance.objects.filter(is_active=True))

    def tiers(self, market: str, category: str, currency: str, day: dt.date) -> list[Rate]:
        """The tiers in force on ``day``, lowest first."""
        rows = self._rates.get((market, category, currency), [])
        return sorted((r for r in rows if _in_force(r.valid_from, r.valid_to, day)), key=lambda r: r.tier_from)

    def is_tiered(self, market: str, category: str, currency: str, day: dt.date) -> bool:
        return len(self.tiers(market, category, currency, day)) > 1

    def price(self, market: str, category: str, currency: str, day: dt.date, *, nth: int = 1) -> Price:
        """The price of the month's ``nth`` charged message of this market and category on ``day``."""
        tiers = self.tiers(market, category, currency, day)
        for rate in tiers:
            if rate.tier_from <= nth and (rate.tier_to is None or nth <= rate.tier_to):
                return Price(rate, rate.price)
        if tiers:  # past the last bound Meta gave: its highest tier
            return Price(tiers[-1], tiers[-1].price)
        return NO_PRICE

    def allowance(self, kind: str, market: str, category: str, day: dt.date) -> FreeAllowance | None:
        """The active allowance of ``kind`` for this market and category on ``day``, if any."""
        for allowance in self._allowances:
            if (
                allowance.kind == kind
                and allowance.category == category
                and allowance.market in ("", market)
                and _in_force(allowance.valid_from, allowance.valid_to, day)
            ):
                return allowance
        return None


def rate_in_force(*, market: str, category: str, currency: str, day: dt.date) -> Rate | None:
    """The first tier's row in force on ``day`` (for the admin and tests)."""
    return (
        Rate.objects.filter(market=market, category=category, currency=currency, valid_from__lte=day)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day))
        .order_by("tier_from")
        .first()
    )
