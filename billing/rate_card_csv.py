"""Meta's rate-card CSV, read into rate card rows.

Meta publishes its rates (https://developers.facebook.com/docs/whatsapp/pricing, "Rates") as one CSV per
currency: a few lines of title and notes, then a table with one row per market, ``Market``, ``Currency``
(written ``$US``, ``USD``, ``R$``…) and a column per category (``Marketing``, ``Utility``,
``Authentication``, ``Authentication-International``, ``Service``), a cell empty or ``n/a`` where the
market has no such rate. The volume-tier sheets and copies of the card elsewhere are long tables instead:
one row per market and category with ``Rate`` (or ``Price``), optionally ``Tier`` (``lower:upper`` or
``lower:MAX``, as the analytics write it) and the date the rate takes effect. Both are read here; the date
comes from the file or from the caller. Markets are ISO codes or the names Meta uses for single countries;
a regional market ("Rest of Latin America") is reported as skipped, since Meta maps it to countries in
another sheet.
"""

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from billing.markets import market_codes
from billing.models import RATE_CATEGORIES, Currency
from billing.pricing import normalize_category

CURRENCY_NAMES = {
    "$us": Currency.USD,
    "usd": Currency.USD,
    "us$": Currency.USD,
    "r$": Currency.BRL,
    "brl": Currency.BRL,
}
NO_RATE = {"", "n/a", "na", "-", "—", "none"}
DATE_COLUMNS = ("effective_date", "effective_from", "valid_from", "effective")
PRICE_COLUMNS = ("rate", "price", "rate_per_message")
_NUMBER = re.compile(r"[^0-9.,\-]")


class RateCardError(ValueError):
    """The file is not a rate card this reader knows: says what is missing."""


@dataclass(frozen=True)
class CardRow:
    market: str
    category: str
    currency: str
    price: Decimal
    valid_from: dt.date
    tier_from: int = 0
    tier_to: int | None = None


@dataclass
class ParsedCard:
    rows: list[CardRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _key(name: str) -> str:
    return normalize_category(name).replace(" ", "_")


def _currency(value: str) -> str | None:
    return CURRENCY_NAMES.get(value.strip().lower().replace(" ", ""))


def _price(value: str) -> Decimal | None:
    text = value.strip().lower()
    if text in NO_RATE:
        return None
    if text == "free":
        return Decimal(0)
    digits = _NUMBER.sub("", text)  # "$0.0625", "US$ 0,0625"
    digits = digits.replace(",", ".") if "," in digits and "." not in digits else digits.replace(",", "")
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise RateCardError(f"Not a price: {value!r}.") from None


def _tier(value: str) -> tuple[int, int | None]:
    lower, _, upper = value.strip().partition(":")
    try:
        return int(lower or 0), (None if upper.strip().upper() in ("", "MAX") else int(upper))
    except ValueError:
        raise RateCardError(f"Not a tier: {value!r} (lower:upper or lower:MAX).") from None


def parse_rate_card(text: str, *, valid_from: dt.date | None = None, currency: str | None = None) -> ParsedCard:
    """The rows of a rate-card CSV; ``valid_from`` and ``currency`` for files that do not say them.

    Raises RateCardError when no header names a market and a price, or a row lacks its date or currency.
    """
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    for index, header in enumerate(lines):
        keys = [_key(cell) for cell in header]
        if "market" in keys and (set(keys) & set(RATE_CATEGORIES) or set(keys) & set(PRICE_COLUMNS)):
            body = [dict(zip(keys, row, strict=False)) for row in lines[index + 1 :] if any(c.strip() for c in row)]
            wide = bool(set(keys) & set(RATE_CATEGORIES))
            return _read(body, wide=wide, valid_from=valid_from, currency=currency)
    raise RateCardError("No header with a Market column and rates (a column per category, or Rate and Category).")


def _read(body: list[dict[str, str]], *, wide: bool, valid_from: dt.date | None, currency: str | None) -> ParsedCard:
    parsed = ParsedCard()
    for line, row in enumerate(body, start=1):
        market = row.get("market", "").strip()
        codes = market_codes(market)
        if not codes:
            parsed.skipped.append(f"row {line}: market {market!r} is a region or unknown")
            continue
        row_currency = _currency(row.get("currency", "")) if row.get("currency", "").strip() else currency
        if row_currency is None:
            parsed.skipped.append(f"row {line}: currency {row.get('currency', '')!r} is not USD or BRL")
            continue
        day = _date(row, valid_from, line)
        if wide:
            prices = [(category, _price(row.get(category, ""))) for category in RATE_CATEGORIES]
            tiers = (0, None)
        else:
            category = _key(row.get("category", ""))
            if category not in RATE_CATEGORIES:
                parsed.skipped.append(f"row {line}: category {row.get('category', '')!r} is not on the rate card")
                continue
            price_column = next((c for c in PRICE_COLUMNS if c in row), "")
            prices = [(category, _price(row.get(price_column, "")))]
            tiers = _tier(row["tier"]) if row.get("tier", "").strip() else (0, None)
        for category, price in prices:
            if price is None:
                continue
            parsed.rows.extend(CardRow(code, category, row_currency, price, day, tiers[0], tiers[1]) for code in codes)
    return parsed


def _date(row: dict[str, str], default: dt.date | None, line: int) -> dt.date:
    value = next((row[c].strip() for c in DATE_COLUMNS if row.get(c, "").strip()), "")
    if not value:
        if default is None:
            raise RateCardError(f"Row {line} says no effective date: give the date the card takes effect.")
        return default
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise RateCardError(f"Row {line}: not a date: {value!r} (YYYY-MM-DD).") from None
