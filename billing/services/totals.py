"""Spend totals: what each entry adds to them, added in the entry's own transaction, and their recomputation.

An entry adds its count and amount to one stage's counters (``models.Counters``) of its day's total and of
its month's template total. A change of an entry is its new contribution less its old one, added with one
``INSERT … ON CONFLICT DO UPDATE SET c = c + excluded.c`` per table (PostgreSQL, and SQLite since 3.24):
the row is locked by the database for the addition, so concurrent writers add up and never overwrite each
other, and the keys go in sorted order, so two writers never wait on each other in a circle. Since entries
and totals change in one transaction, the totals cannot drift; ``recompute`` proves it (and can repair).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from billing.models import COUNTER_FIELDS, SpendEntry, SpendMonthTotal, SpendTemplateTotal, SpendTotal

Stage = SpendEntry.Stage
TotalModel = type[SpendTotal] | type[SpendMonthTotal] | type[SpendTemplateTotal]

# The columns of each table's key, as an entry fills them (``month`` is its day's month).
KEYS: dict[TotalModel, tuple[str, ...]] = {
    SpendTotal: ("company_id", "day", "channel_id", "category", "market", "currency"),
    SpendMonthTotal: ("company_id", "month", "channel_id", "category", "origin", "market", "currency"),
    SpendTemplateTotal: ("company_id", "month", "template_name", "category", "currency"),
}
ZERO = Decimal(0)


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def counters(stage: str, amount: Decimal, *, free: bool = False) -> dict[str, Any]:
    """What one entry at ``stage`` costing ``amount`` (``free``: with a reason) adds to a total."""
    if stage == Stage.DELIVERED:
        return {"delivered_count": 1, "delivered_amount": amount, "free_count": int(free)}
    if stage == Stage.SENT:
        return {"sent_count": 1, "sent_amount": amount}
    if stage == Stage.ESTIMATED:
        return {"estimated_count": 1, "estimated_amount": amount}
    return {}  # failed: costs nothing


@dataclass(frozen=True)
class Contribution:
    """What one entry adds to totals as it is at one moment: the keys of its rows and its counters."""

    keys: tuple[tuple[TotalModel, tuple], ...]
    counters: tuple[tuple[str, Any], ...]


def _keys(values: Mapping[str, Any]) -> list[tuple[TotalModel, tuple]]:
    """The rows of the totals that an entry (or a group of entries) with these values counts in."""
    values = {**values, "month": month_of(values["day"])}
    return [
        (model, tuple(values[name] for name in key))
        for model, key in KEYS.items()
        if model is not SpendTemplateTotal or values["template_name"]
    ]


ENTRY_COLUMNS = ("company_id", "day", "channel_id", "category", "origin", "market", "currency", "template_name")


def contribution(entry: SpendEntry) -> Contribution:
    keys = _keys({name: getattr(entry, name) for name in ENTRY_COLUMNS})
    added = counters(entry.stage, entry.amount, free=bool(entry.free_reason))
    return Contribution(tuple(keys), tuple(added.items()))


@dataclass
class Deltas:
    """Additions to totals, by table and key, collected for one transaction."""

    rows: dict[TotalModel, dict[tuple, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, added: Contribution, sign: int) -> None:
        """Add (``sign`` 1) or take back (-1) an entry's contribution."""
        for model, key in added.keys:
            row = self.rows[model].setdefault(key, dict.fromkeys(COUNTER_FIELDS, 0))
            for name, value in added.counters:
                row[name] += sign * value


def apply(deltas: Deltas) -> None:
    """Add ``deltas`` to the totals, in the caller's transaction."""
    for model, rows in deltas.rows.items():
        changed = {key: row for key, row in rows.items() if any(row.values())}
        if changed:
            _upsert(model, changed)


def _upsert(model: TotalModel, rows: Mapping[tuple, Mapping[str, Any]]) -> None:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    key_columns = KEYS[model]
    columns = [*key_columns, *COUNTER_FIELDS]
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    additions = ", ".join(f"{quote(name)} = {table}.{quote(name)} + excluded.{quote(name)}" for name in COUNTER_FIELDS)
    ordered = sorted(rows.items(), key=lambda item: tuple(str(part) for part in item[0]))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), 200):
            chunk = ordered[start : start + 200]
            sql = (
                f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608 (names from the model)
                f"VALUES {', '.join([row_sql] * len(chunk))} "
                f"ON CONFLICT ({', '.join(quote(c) for c in key_columns)}) DO UPDATE SET {additions}"
            )
            params: list[Any] = []
            for key, row in chunk:
                params.extend(key)
                params.extend(row[name] for name in COUNTER_FIELDS)
            cursor.execute(sql, params)


# ------------------------------------------------------------------------------ recomputation


@dataclass(frozen=True)
class Difference:
    """One total that is not what its entries add up to."""

    table: str
    key: tuple
    field: str
    stored: Any
    expected: Any


def expected_totals(company_ids: Iterable[int] | None = None) -> dict[TotalModel, dict[tuple, dict[str, Any]]]:
    """What the totals should be, summed from the entries (of ``company_ids``, or of all)."""
    entries = SpendEntry.objects.exclude(stage=Stage.FAILED)
    if company_ids is not None:
        entries = entries.filter(company_id__in=list(company_ids))
    expected: dict[TotalModel, dict[tuple, dict[str, Any]]] = {model: {} for model in KEYS}
    grouped = entries.values(*ENTRY_COLUMNS, "stage").annotate(
        count=Count("id"), amount=Sum("amount"), free=Count("id", filter=~Q(free_reason=""))
    )
    for group in grouped:
        added = _group_counters(group)
        for model, key in _keys(group):
            row = expected[model].setdefault(key, dict.fromkeys(COUNTER_FIELDS, 0))
            for name, value in added.items():
                row[name] += value
    return expected


def _group_counters(group: Mapping[str, Any]) -> dict[str, Any]:
    stage, count, amount = group["stage"], group["count"], group["amount"] or ZERO
    if stage == Stage.DELIVERED:
        return {"delivered_count": count, "delivered_amount": amount, "free_count": group["free"]}
    if stage == Stage.SENT:
        return {"sent_count": count, "sent_amount": amount}
    return {"estimated_count": count, "estimated_amount": amount}


def stored_totals(company_ids: Iterable[int] | None = None) -> dict[TotalModel, dict[tuple, dict[str, Any]]]:
    stored: dict[TotalModel, dict[tuple, dict[str, Any]]] = {}
    for model, key_columns in KEYS.items():
        rows = model.objects.all()
        if company_ids is not None:
            rows = rows.filter(company_id__in=list(company_ids))
        stored[model] = {
            tuple(row[name] for name in key_columns): {name: row[name] for name in COUNTER_FIELDS}
            for row in rows.values(*key_columns, *COUNTER_FIELDS)
        }
    return stored


def differences(company_ids: Iterable[int] | None = None) -> list[Difference]:
    """Every counter of every total that differs from the sum of its entries (an empty list: no drift)."""
    ids = None if company_ids is None else list(company_ids)
    return _compare(expected_totals(ids), stored_totals(ids))


def _compare(expected, stored) -> list[Difference]:
    found = []
    for model in KEYS:
        zero = dict.fromkeys(COUNTER_FIELDS, 0)
        for key in sorted(expected[model].keys() | stored[model].keys(), key=lambda k: tuple(map(str, k))):
            want, have = expected[model].get(key, zero), stored[model].get(key, zero)
            for name in COUNTER_FIELDS:
                if Decimal(want[name]) != Decimal(have[name]):
                    found.append(Difference(model._meta.model_name, key, name, have[name], want[name]))
    return found


def recompute(*, company_ids: Iterable[int] | None = None, fix: bool = False) -> list[Difference]:
    """Compare the totals with their entries; with ``fix``, add what makes them equal. Returns the differences.

    The fix holds the totals' tables locked (PostgreSQL) while it reads and repairs, so a writer waits and
    adds its change after: entries it changed meanwhile were not yet visible, and their deltas come with them.
    """
    ids = None if company_ids is None else list(company_ids)
    if not fix:
        return differences(ids)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in KEYS:
                    cursor.execute(f"LOCK TABLE {connection.ops.quote_name(model._meta.db_table)} IN EXCLUSIVE MODE")
        expected, stored = expected_totals(ids), stored_totals(ids)
        found = _compare(expected, stored)
        repair = Deltas()
        zero = dict.fromkeys(COUNTER_FIELDS, 0)
        for model in KEYS:
            for key in expected[model].keys() | stored[model].keys():
                want, have = expected[model].get(key, zero), stored[model].get(key, zero)
                repair.rows[model][key] = {name: want[name] - have[name] for name in COUNTER_FIELDS}
        apply(repair)
    return found
