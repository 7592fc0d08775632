"""Spend data for the ``spend`` benchmark: millions of spend entries across 50 companies, and their totals.

The entries are made by PostgreSQL itself (``INSERT … SELECT … FROM generate_series``, a million rows a
statement), never row by row through the ORM: ten million load in about two and a half minutes on two
cores. The entry table's secondary indexes, unique and foreign keys are dropped for the load and made
again after it (one sorted build or check each, instead of ten million insertions into each). The totals
are then computed from the entries in SQL, as ``billing.services.totals.expected_totals`` adds them, so
they agree with the entries as the live writers keep them.

What the data looks like: ``days`` days up to ``today`` (the panel's month and the one before), every
company in São Paulo's time zone with ``CHANNELS_PER_COMPANY`` Cloud channels, Brazilian recipients, the
categories, stages, origins and templates in the proportions of ``CATEGORIES``, ``STAGES`` and
``ORIGINS``, priced by the seeded Brazil rate card (service messages free before 2026-10-01, a share of
utility templates free inside the window).

From a benchmark: ``seed_companies`` in a Django child, then ``load_entries`` and ``rebuild_totals`` on a
connection of the throwaway database (``fill`` does the three). By hand, to time a load of 10 million
(``--quick``: 100,000) into a throwaway database of ``DATABASE_URL``'s server::

    python -m benchmarks.spend_data [--quick]
"""

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.sending_stack import (
    Database,
    benchmark_main,
    child_env,
    log,
    manage,
    module_child,
    throwaway_database,
)

COMPANIES = 50
CHANNELS_PER_COMPANY = 2
TEMPLATES = 20  # per company
DAYS = 62
CHUNK = 1_000_000  # entries per statement
TIME_ZONE = "America/Sao_Paulo"
SERVICE_CHARGED_FROM = dt.date(2026, 10, 1)  # Meta's pricing page: service messages charged from then

# (category, cumulative share): 30 % marketing, 40 % utility, 5 % authentication, 25 % service.
CATEGORIES = (("marketing", 0.30), ("utility", 0.70), ("authentication", 0.75), ("service", 1.0))
STAGES = (("delivered", 0.93), ("sent", 0.96), ("estimated", 0.98), ("failed", 1.0))
ORIGINS = (("bot", 0.35), ("agent", 0.60), ("notice", 0.85), ("campaign", 0.95), ("api", 1.0))
FREE_UTILITY_SHARE = 0.15  # utility templates sent inside the customer service window
ENTRY_TABLE = "billing_spendentry"
TOTAL_TABLES = ("billing_spendtotal", "billing_spendmonthtotal", "billing_spendtemplatetotal")


def _pick(shares: tuple[tuple[str, float], ...], draw: str) -> str:
    """A SQL CASE that turns the uniform ``draw`` in [0, 1) into one of ``shares``' names."""
    arms = " ".join(f"WHEN {draw} < {bound} THEN '{name}'" for name, bound in shares[:-1])
    return f"CASE {arms} ELSE '{shares[-1][0]}' END"


# ------------------------------------------------------------------------------ companies (the ORM, 50 rows)


def seed_companies(count: int = COMPANIES) -> list[dict[str, Any]]:
    """``count`` companies with their Cloud channels (in a Django process); their ids, for ``load_entries``."""
    from companies.models import Channel, Company

    seeded = []
    for n in range(count):
        company = Company.objects.create(name=f"Provedor {n:02d}", timezone=TIME_ZONE, meta_app_secret=f"bench-{n}")
        channels = Channel.objects.bulk_create(
            Channel(
                company=company,
                kind=Channel.Kind.CLOUD,
                name=f"Atendimento {k}",
                display_number=f"+55 44 30{n:02d}-00{k:02d}",
                phone_number_id=f"9{n:04d}{k:04d}",
                waba_id=f"8{n:04d}",
                access_token="EAAG-bench-token",
            )
            for k in range(CHANNELS_PER_COMPANY)
        )
        seeded.append({"company_id": company.pk, "channel_ids": [c.pk for c in channels]})
    return seeded


# ------------------------------------------------------------------------------ entries and totals (SQL)


def _entries_sql() -> str:
    """One chunk of entries: ``generate_series(%(first)s, %(last)s)``, each row's draws from ``random()``."""
    stage = _pick(STAGES, "d.stage_draw")
    category = _pick(CATEGORIES, "d.category_draw")
    origin = _pick(ORIGINS, "d.origin_draw")
    return f"""
    WITH draws AS (
        SELECT g AS n, random() AS stage_draw, random() AS category_draw, random() AS origin_draw,
               random() AS free_draw,
               %(now)s::timestamptz - make_interval(secs => random() * %(days)s * 86400) AS occurred_at,
               (g %% %(companies)s) + 1 AS company_slot,
               ((g / %(companies)s) %% %(per_company)s) AS channel_slot
        FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
    ),
    shaped AS (
        SELECT d.n, d.occurred_at, (d.occurred_at AT TIME ZONE %(tz)s)::date AS day,
               (%(company_ids)s::bigint[])[d.company_slot] AS company_id,
               (%(channel_ids)s::bigint[])[(d.company_slot - 1) * %(per_company)s + d.channel_slot + 1] AS channel_id,
               {stage} AS stage, {category} AS category, {origin} AS origin, d.free_draw
        FROM draws d
    ),
    priced AS (
        SELECT s.*,
               CASE WHEN s.category = 'service' AND s.day < %(service_from)s THEN 'free_customer_service'
                    WHEN s.category = 'utility' AND s.free_draw < %(free_utility)s THEN 'free_customer_service'
                    ELSE 'regular' END AS pricing_type
        FROM shaped s
    )
    INSERT INTO {ENTRY_TABLE} (
        company_id, channel_id, message_id, wamid, stage, occurred_at, day, category, pricing_type,
        pricing_model, conversation_id, market, currency, rate_id, tier, unit_price, amount, free_reason,
        is_priced, template_name, origin, delivered_at, created_at, updated_at
    )
    SELECT p.company_id, p.channel_id, NULL, 'wamid.bench.' || p.n, p.stage, p.occurred_at, p.day, p.category,
           p.pricing_type, 'PMP', '', 'BR', 'USD', r.id,
           CASE WHEN p.pricing_type = 'regular' THEN '0:MAX' ELSE '' END,
           COALESCE(r.price, 0),
           CASE WHEN p.pricing_type = 'regular' THEN COALESCE(r.price, 0) ELSE 0 END,
           CASE WHEN p.pricing_type = 'regular' THEN '' ELSE p.pricing_type END,
           r.id IS NOT NULL,
           CASE WHEN p.category = 'service' THEN '' ELSE 'template_' || (p.n %% {TEMPLATES}) END,
           p.origin,
           CASE WHEN p.stage = 'delivered' THEN p.occurred_at END,
           p.occurred_at, p.occurred_at
    FROM priced p
    LEFT JOIN billing_rate r
      ON r.market = 'BR' AND r.currency = 'USD' AND r.category = p.category AND r.tier_from = 0
     AND r.valid_from <= p.day AND (r.valid_to IS NULL OR r.valid_to >= p.day)
    """  # noqa: S608 (names and shares are this module's constants)


def _indexes_and_constraints(cursor) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The entry table's secondary indexes and its unique and foreign-key constraints, as (name, definition)."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [ENTRY_TABLE, ENTRY_TABLE],
    )
    indexes = [(name, definition) for name, definition in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype IN ('u', 'f') ORDER BY contype DESC",  # unique ones first when made again
        [ENTRY_TABLE],
    )
    return indexes, [(name, definition) for name, definition in cursor.fetchall()]


def load_entries(
    cursor,
    companies: list[dict[str, Any]],
    *,
    entries: int,
    today: dt.date | None = None,
    days: int = DAYS,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert ``entries`` spend entries across ``companies`` (``seed_companies``' answer), spread over the
    ``days`` days up to ``today``. PostgreSQL only; on a connection in autocommit or a transaction alike."""
    today = today or dt.datetime.now(dt.UTC).date()
    now = dt.datetime.combine(today, dt.time(20), tzinfo=dt.UTC)  # 17:00 in São Paulo: today has spend
    indexes, constraints = _indexes_and_constraints(cursor)
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE {ENTRY_TABLE} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute("SELECT setseed(0.42)")  # the same data every run
    params = {
        "now": now,
        "days": days,
        "tz": TIME_ZONE,
        "companies": len(companies),
        "per_company": CHANNELS_PER_COMPANY,
        "company_ids": [c["company_id"] for c in companies],
        "channel_ids": [channel for c in companies for channel in c["channel_ids"]],
        "service_from": SERVICE_CHARGED_FROM,
        "free_utility": FREE_UTILITY_SHARE,
    }
    sql = _entries_sql()
    for first in range(0, entries, CHUNK):
        cursor.execute(sql, {**params, "first": first, "last": min(entries, first + CHUNK) - 1})
        if progress is not None:
            progress(min(entries, first + CHUNK))
    for _, definition in indexes:
        cursor.execute(definition)
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE {ENTRY_TABLE} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(f"ANALYZE {ENTRY_TABLE}")


COUNTERS = """
    count(*) FILTER (WHERE stage = 'delivered'),
    COALESCE(sum(amount) FILTER (WHERE stage = 'delivered'), 0),
    count(*) FILTER (WHERE stage = 'delivered' AND free_reason <> ''),
    count(*) FILTER (WHERE stage = 'sent'),
    COALESCE(sum(amount) FILTER (WHERE stage = 'sent'), 0),
    count(*) FILTER (WHERE stage = 'estimated'),
    COALESCE(sum(amount) FILTER (WHERE stage = 'estimated'), 0)
"""
COUNTER_COLUMNS = (
    "delivered_count, delivered_amount, free_count, sent_count, sent_amount, estimated_count, estimated_amount"
)
# Each total table, the key its rows are grouped by (as the entries fill it), and which entries count.
TOTALS = (
    ("billing_spendtotal", "company_id, day, channel_id, category, market, currency", "day", ""),
    (
        "billing_spendmonthtotal",
        "company_id, month, channel_id, category, origin, market, currency",
        "date_trunc('month', day)::date",
        "",
    ),
    (
        "billing_spendtemplatetotal",
        "company_id, month, template_name, category, currency",
        "date_trunc('month', day)::date",
        "AND template_name <> ''",
    ),
)


def rebuild_totals(cursor) -> None:
    """Replace the three total tables with the sums of the entries (failed entries cost nothing, count in none)."""
    cursor.execute(f"TRUNCATE {', '.join(TOTAL_TABLES)}")
    for table, key, period, where in TOTALS:
        columns = key.replace("month", f"{period} AS month") if "month" in key else key
        cursor.execute(
            f"INSERT INTO {table} ({key}, {COUNTER_COLUMNS}) "  # noqa: S608 (this module's constants)
            f"SELECT {columns}, {COUNTERS} FROM {ENTRY_TABLE} WHERE stage <> 'failed' {where} GROUP BY {key}"
        )
        cursor.execute(f"ANALYZE {table}")


# ------------------------------------------------------------------------------ a throwaway database, filled


def _seed_in_child(env: dict[str, str], count: int) -> list[dict[str, Any]]:
    return module_child("benchmarks.spend_data", env, "seed", {"companies": count}, timeout=300)


def fill(
    database: Database, env: dict[str, str], *, entries: int, companies: int = COMPANIES, today: dt.date | None = None
) -> dict[str, Any]:
    """Companies (a Django child), ``entries`` entries and their totals in the migrated throwaway ``database``;
    returns the companies and how long each part took."""
    if database.vendor != "postgresql":
        raise SystemExit("The spend data needs PostgreSQL (DATABASE_URL): generate_series and COPY-speed inserts.")
    import psycopg

    started = time.monotonic()
    seeded = _seed_in_child(env, companies)
    seeded_at = time.monotonic()
    with psycopg.connect(database.url, autocommit=True) as connection:
        cursor = connection.cursor()
        cursor.execute("SET synchronous_commit = off")  # a throwaway database: no fsync wait per chunk
        cursor.execute("SET maintenance_work_mem = '256MB'")  # the index builds after the load
        load_entries(
            cursor, seeded, entries=entries, today=today, progress=lambda n: log("spend_data", f"{n:,} entries")
        )
        loaded_at = time.monotonic()
        rebuild_totals(cursor)
    return {
        "companies": seeded,
        "entries": entries,
        "seed_s": round(seeded_at - started, 1),
        "entries_s": round(loaded_at - seeded_at, 1),
        "totals_s": round(time.monotonic() - loaded_at, 1),
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    """A load timed on its own: 10 million entries (``--quick``: 100,000) in a throwaway database."""
    entries = 100_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="ponte-spend-") as folder, throwaway_database(Path(folder)) as database:
        env = child_env(database, Path(folder), f"spend{os.getpid()}")
        manage(env, "migrate", "--noinput")
        figures = fill(database, env, entries=entries)
        ((stored, daily_totals),) = database.query(
            "SELECT count(*), (SELECT count(*) FROM billing_spendtotal) FROM billing_spendentry"
        )
    figures.pop("companies")
    return {"benchmark": "spend_data", **figures, "stored": stored, "daily_totals": daily_totals}


if __name__ == "__main__":
    benchmark_main(run, {"seed": lambda request: seed_companies(request["companies"])})
