"""The fake Graph API's pricing analytics: what Meta would say each WABA's delivered messages cost.

Shape from Meta's analytics page (https://developers.facebook.com/docs/whatsapp/business-management-api/analytics)::

    GET /<version>/<WABA_ID>?fields=pricing_analytics.start(S).end(E).granularity(DAILY).dimensions(A,B)
    {"pricing_analytics": {"data": [{"data_points": [{"start", "end", <dimensions>, "volume", "cost"}]}]},
     "id": "<WABA_ID>"}

The figures are points in Meta's own shape (``start`` the moment they count at, ``phone_number``,
``country``, ``pricing_category``, ``pricing_type``, ``tier``, ``volume``, ``cost``), seeded per WABA by a
test or a demo, or counted from the sends the fake accepted for its webhook's WABA (Meta's statuses of
those say ``regular``). An answer sums them per bucket of the granularity and per requested dimension;
a WABA on a Solution Partner's credit line (``with_cost=False``) is answered without ``cost``, as Meta
does, and so are counted sends (what they cost is the rate card's business, not the fake's). Meta leaves
a field with no data out of the answer: a WABA without figures in the period answers its ``id`` alone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

PARAMETER = re.compile(r"\.([a-z_]+)\(([^()]*)\)")
FIELD = re.compile(r"^pricing_analytics((?:\.[a-z_]+\([^()]*\))*)$")
STEPS = {"HALF_HOUR": 1800, "DAILY": 86400, "MONTHLY": 0}  # MONTHLY: calendar months (UTC)
DIMENSIONS = {
    "PRICING_CATEGORY": "pricing_category",
    "PRICING_TYPE": "pricing_type",
    "TIER": "tier",
    "COUNTRY": "country",
    "PHONE": "phone_number",
}
# Filters of the request and the point field each one reads.
FILTERS = {
    "country_codes": "country",
    "phone_numbers": "phone_number",
    "pricing_types": "pricing_type",
    "pricing_categories": "pricing_category",
}


class QueryError(ValueError):
    """A request Meta would refuse (error 100, invalid parameter)."""


@dataclass(frozen=True)
class Query:
    start: int
    end: int
    granularity: str
    dimensions: tuple[str, ...] = ()
    metric_types: tuple[str, ...] = ()
    filters: dict[str, frozenset[str]] = field(default_factory=dict)


def is_pricing_analytics(fields: str) -> bool:
    return fields.startswith("pricing_analytics")


def _values(text: str) -> tuple[str, ...]:
    """``A,B``, ``[A,B]`` or ``["A","B"]`` as ("A", "B")."""
    return tuple(part.strip().strip("\"'") for part in text.strip().strip("[]").split(",") if part.strip())


def parse(fields: str) -> Query:
    """The ``fields`` expression of a pricing analytics request. Raises QueryError as Meta would refuse it."""
    match = FIELD.match(fields.strip())
    if match is None:
        raise QueryError(f"(#100) Syntax error in the fields expression: {fields!r}")
    given = {name: value for name, value in PARAMETER.findall(match.group(1))}
    for required in ("start", "end", "granularity"):
        if required not in given:
            raise QueryError(f"(#100) The parameter {required} is required for pricing_analytics")
    try:
        start, end = int(given["start"]), int(given["end"])
    except ValueError:
        raise QueryError("(#100) start and end must be Unix timestamps") from None
    granularity = given["granularity"].strip().upper()
    if granularity not in STEPS:
        raise QueryError(f"(#100) granularity must be one of {', '.join(STEPS)}")
    if end <= start:
        raise QueryError("(#100) end must be after start")
    dimensions = tuple(d.upper() for d in _values(given.get("dimensions", "")))
    if unknown := [d for d in dimensions if d not in DIMENSIONS]:
        raise QueryError(f"(#100) Unknown dimensions: {', '.join(unknown)}")
    filters = {name: frozenset(v.upper() for v in _values(given[name])) for name in FILTERS if given.get(name)}
    metrics = tuple(m.upper() for m in _values(given.get("metric_types", "")))
    return Query(start, end, granularity, dimensions, metrics, filters)


def _country(recipient: str) -> str:
    """The recipient's country by its calling code (prefix-free, so the first that matches is it)."""
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(recipient[:length] or 0))
        if regions:
            return "" if regions[0] == "001" else regions[0]
    return ""


class PricingAnalytics:
    """The figures of each WABA, safe to use from the server's thread and the test's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seeded: dict[str, list[dict[str, Any]]] = {}
        # Counted sends per WABA, minute, number, country and category: a long demo's sends in little memory.
        self._counted: dict[str, dict[tuple[int, str, str, str], int]] = {}
        self._without_cost: set[str] = set()

    def seed(self, waba_id: str, points: Iterable[Mapping[str, Any]], *, with_cost: bool = True) -> None:
        """Make ``points`` (Meta's shape) the WABA's figures, replacing what was seeded for it before."""
        rows = [dict(point) for point in points]
        for row in rows:
            if not isinstance(row.get("start"), int) or not isinstance(row.get("volume"), int):
                raise ValueError("each point needs an integer start and volume")
        with self._lock:
            self._seeded[waba_id] = rows
            (self._without_cost.discard if with_cost else self._without_cost.add)(waba_id)

    def count_send(self, waba_id: str, *, at: float, phone_number: str, recipient: str, category: str) -> None:
        """A send the fake accepted, counted as one delivered message of ``category`` (never with a cost)."""
        key = (int(at) // 60 * 60, phone_number, _country(recipient), category.upper())
        with self._lock:
            counted = self._counted.setdefault(waba_id, {})
            counted[key] = counted.get(key, 0) + 1

    def answer(self, waba_id: str, query: Query) -> dict[str, Any]:
        """Meta's body for ``query`` on ``waba_id``."""
        with self._lock:
            points = [*self._seeded.get(waba_id, ())]
            points += [
                {"start": start, "phone_number": number, "country": country, "pricing_category": category}
                | {"pricing_type": "REGULAR", "tier": "0:MAX", "volume": volume}
                for (start, number, country, category), volume in self._counted.get(waba_id, {}).items()
            ]
            with_cost = waba_id not in self._without_cost
        sums: dict[tuple, dict[str, Any]] = {}
        for point in points:
            if not query.start <= point["start"] < query.end or not self._passes(point, query):
                continue
            bucket = _bucket(point["start"], query)
            kept = tuple((DIMENSIONS[d], str(point.get(DIMENSIONS[d]) or "")) for d in query.dimensions)
            row = sums.setdefault((bucket, kept), {"volume": 0, "cost": 0.0, "priced": True})
            row["volume"] += point["volume"]
            row["priced"] = row["priced"] and point.get("cost") is not None
            row["cost"] += float(point.get("cost") or 0)
        if not sums:
            return {"id": waba_id}
        data_points = []
        for ((start, end), kept), row in sorted(sums.items()):
            item: dict[str, Any] = {"start": start, "end": end}
            item.update({name: value for name, value in kept if value})  # Meta omits a free message's tier
            if not query.metric_types or "VOLUME" in query.metric_types:
                item["volume"] = row["volume"]
            if with_cost and row["priced"] and (not query.metric_types or "COST" in query.metric_types):
                item["cost"] = round(row["cost"], 6)
            data_points.append(item)
        return {"pricing_analytics": {"data": [{"data_points": data_points}]}, "id": waba_id}

    @staticmethod
    def _passes(point: Mapping[str, Any], query: Query) -> bool:
        return all(
            str(point.get(key) or "").upper() in query.filters[name]
            for name, key in FILTERS.items()
            if name in query.filters
        )


def _bucket(moment: int, query: Query) -> tuple[int, int]:
    """The granularity's period ``moment`` falls in, cut to the query's bounds."""
    step = STEPS[query.granularity]
    if step:
        start = query.start + (moment - query.start) // step * step
        return start, min(start + step, query.end)
    day = dt.datetime.fromtimestamp(moment, dt.UTC)
    first = dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)
    last = first + dt.timedelta(days=calendar.monthrange(day.year, day.month)[1])
    return max(int(first.timestamp()), query.start), min(int(last.timestamp()), query.end)
