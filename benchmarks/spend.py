"""The spend benchmark: the dashboard's and the panel's queries over 10 million spend entries, and a billable
Meta webhook to the live dashboard's update.

The data: 50 companies, two Cloud channels each, 10 million spend entries over two months and their totals
(``--quick``: 100,000), loaded by ``benchmarks.spend_data`` into a throwaway PostgreSQL database. On the
embedded defaults (SQLite, no ``DATABASE_URL``) there is no ``generate_series``: a Django child writes fewer
entries (``SQLITE_ENTRIES``) with ``bulk_create`` in the same proportions and the totals come from
``billing.services.totals.recompute``; the output says so (``entries_path``).

Queries (``dashboard_query_ms``, ``panel_query_ms``): a Django child on the throwaway database logs an ISP
admin of each of several companies in (Django's test client) and renders the pages through the real views,
as often as ``REPETITIONS`` after ``WARM_UP_RENDERS`` uncounted ones, timing every query with
``connection.execute_wrapper``: the dashboard (``/dashboard/spend/``, and ``billing.push.figures``, what every
push reads), the panel (``/admin/billing/spend/``, this month and last). Each figure is the slowest query's
median, by its SQL (the goal: every query under 20 ms); ``*_query_max_ms`` is the slowest single run of any,
whose ``EXPLAIN (ANALYZE, BUFFERS)`` goes to the log. Platform staff's panel over all companies is in the
detail.

The push (``push_p99_ms``): the web server (uvicorn, as ``runall`` starts it) and the inbound and events
workers as the deployment's pools run them, Redis as the channel layer when ``REDIS_URL`` is set. An agent of
one company, logged in (a session the seeding child made), holds the dashboard's WebSocket open; Meta's
delivered receipt (``tests/fixtures/meta/status_delivered.json``, priced per message as
``status_sent.json`` is: ``regular``, utility) for each of ``PUSHES`` messages the seeding child made as sent
on a Cloud channel, signed with the company's app secret, is posted to the web server one after another,
each once the previous one's push came. Its time: from the POST to the first push whose month count includes
it (each receipt adds one delivered message). ``WARM_UP_PUSHES`` go first, uncounted (the workers' first
task imports and connects). Without Redis the channel layer is in memory, each process's own: the consumer
then reads the figures every second (``billing.consumers``), which is most of the figure.

    python -m benchmarks spend [--quick]
"""

import datetime as dt
import hashlib
import hmac
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import spend_data
from benchmarks.sending_stack import (
    ROOT,
    CpuMeter,
    Database,
    benchmark_main,
    child_env,
    forget_redis_keys,
    free_port,
    log,
    log_tails,
    manage,
    module_child,
    percentile,
    pool_worker,
    throwaway_database,
    wait_http,
)

ENTRIES, QUICK_ENTRIES = 10_000_000, 100_000
SQLITE_ENTRIES, QUICK_SQLITE_ENTRIES = 100_000, 20_000  # the plain path: the embedded database's share
PUSHES, QUICK_PUSHES = 100, 20
WARM_UP_PUSHES = 3
PUSH_TIMEOUT = 10.0  # seconds a push may take before it counts as lost
WARM_UP_SECONDS = 60.0  # a warm-up push may wait for the workers' start
TIMED_COMPANIES, QUICK_TIMED_COMPANIES = 5, 3
REPETITIONS, QUICK_REPETITIONS = 20, 5
WARM_UP_RENDERS = 2
QUERY_GOAL_MS, PUSH_GOAL_MS = 20.0, 1000.0
PUSH_COMPANY = 0  # the seeded company (its index) whose agent watches the dashboard
PUSH_CATEGORY = "utility"
WAMID_PREFIX = "wamid.benchpush."
SERVE_ON = ("--host", "127.0.0.1", "--port")
RECEIPT = ROOT / "tests" / "fixtures" / "meta" / "status_delivered.json"
PRICED = ROOT / "tests" / "fixtures" / "meta" / "status_sent.json"  # a per-message (PMP) ``regular`` pricing


def _log(message: str) -> None:
    log("spend", message)


def _child(env: dict[str, str], command: str, request: dict, *, timeout: float = 1800) -> dict:
    return module_child("benchmarks.spend", env, command, request, timeout=timeout)


# ------------------------------------------------------------------------------ child: SQLite's plain load


def _draw(shares: tuple[tuple[str, float], ...], rng: random.Random) -> str:
    draw = rng.random()
    return next((name for name, bound in shares if draw < bound), shares[-1][0])


def _load_plain(request: dict) -> dict:
    """Companies and ``entries`` entries through the ORM, in ``spend_data``'s proportions, then their totals
    by ``totals.recompute``: the embedded database has no ``generate_series``."""
    import zoneinfo
    from decimal import Decimal

    from billing.models import Rate, SpendEntry
    from billing.services import totals

    seeded = spend_data.seed_companies(request["companies"])
    rates = list(Rate.objects.filter(market="BR", currency="USD", tier_from=0))
    zone = zoneinfo.ZoneInfo(spend_data.TIME_ZONE)
    now = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(20), tzinfo=dt.UTC)  # as spend_data's
    rng = random.Random(42)  # the same data every run

    def rate_of(category: str, day: dt.date) -> Rate | None:
        found = (r for r in rates if r.category == category and r.valid_from <= day)
        return next((r for r in found if r.valid_to is None or r.valid_to >= day), None)

    batch = []
    for n in range(request["entries"]):
        company = seeded[n % len(seeded)]
        at = now - dt.timedelta(seconds=rng.random() * spend_data.DAYS * 86400)
        day = at.astimezone(zone).date()
        stage, category = _draw(spend_data.STAGES, rng), _draw(spend_data.CATEGORIES, rng)
        origin, free_draw = _draw(spend_data.ORIGINS, rng), rng.random()
        free = (category == "service" and day < spend_data.SERVICE_CHARGED_FROM) or (
            category == "utility" and free_draw < spend_data.FREE_UTILITY_SHARE
        )
        rate = rate_of(category, day)
        price = rate.price if rate is not None else Decimal(0)
        batch.append(
            SpendEntry(
                company_id=company["company_id"],
                channel_id=company["channel_ids"][(n // len(seeded)) % spend_data.CHANNELS_PER_COMPANY],
                wamid=f"wamid.bench.{n}",
                stage=stage,
                occurred_at=at,
                day=day,
                category=category,
                pricing_type="free_customer_service" if free else "regular",
                pricing_model="PMP",
                market="BR",
                currency="USD",
                rate=rate,
                tier="" if free else "0:MAX",
                unit_price=price,
                amount=Decimal(0) if free else price,
                free_reason="free_customer_service" if free else "",
                is_priced=rate is not None,
                template_name="" if category == "service" else f"template_{n % spend_data.TEMPLATES}",
                origin=origin,
                delivered_at=at if stage == "delivered" else None,
            )
        )
        if len(batch) == 2000:
            SpendEntry.objects.bulk_create(batch)
            batch = []
    SpendEntry.objects.bulk_create(batch)
    totals.recompute(fix=True)
    return {"companies": seeded}


# ------------------------------------------------------------------------------ child: the people and messages


def _prepare(request: dict) -> dict:
    """An ISP admin and a budget for each timed company, platform staff, and for the push: an agent of one
    company with a session, and ``messages`` template messages that company sent on a Cloud channel."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from billing.recipients import mask_phone
    from billing.services import budgets
    from companies import members
    from companies.models import Channel, Company, Member
    from conversations.models import Contact, Message

    password = os.urandom(16).hex()
    timed = []
    for index in request["timed"]:
        company = Company.objects.get(pk=request["companies"][index]["company_id"])
        member = members.create_member_user(
            company=company, role=Member.Role.ISP_ADMIN, username=f"admin{index}", password=password
        )
        # Far above a month's spend: the gauge is drawn and no alert e-mail is tried.
        budgets.set_budget(company=company, amount=Decimal(10_000_000), contact_email=f"billing{index}@isp.example")
        timed.append({"company_id": company.pk, "username": member.user.username})
    get_user_model().objects.create_superuser("ops", password=password)

    company = Company.objects.get(pk=request["companies"][PUSH_COMPANY]["company_id"])
    agent = members.create_member_user(company=company, role=Member.Role.AGENT, username="agent", password=password)
    client = Client()
    client.force_login(agent.user)  # a session in the database, as the login page makes it
    channel = Channel.objects.filter(company=company).order_by("pk").first()
    now = timezone.now()
    phones = [f"554499{n:07d}" for n in range(request["messages"])]
    contacts = Contact.objects.bulk_create(Contact(company=company, phone=p, wa_id=p) for p in phones)
    Message.objects.bulk_create(
        Message(
            company=company,
            channel=channel,
            contact=contact,
            direction=Message.Direction.OUTBOUND,
            author=Message.Author.SYSTEM,
            purpose=Message.Purpose.NOTICE,
            type="template",
            data={"content": {"kind": "template", "name": "fatura_disponivel", "language": "pt_BR"}},
            provider_id=f"{WAMID_PREFIX}{n}",
            status=Message.Status.SENT,
            status_at=now,
        )
        for n, contact in enumerate(contacts)
    )
    return {
        "timed": timed,
        "contract": str(company.contract),
        "app_secret": company.meta_app_secret,
        "waba_id": channel.waba_id,
        "phone_number_id": channel.phone_number_id,
        "display_number": "".join(c for c in channel.display_number if c.isdigit()),
        "session": client.cookies["sessionid"].value,
        "phones": phones,
        "masked": [mask_phone(p) for p in phones],
    }


# ------------------------------------------------------------------------------ child: the queries, timed


class Queries:
    """Each query's times (ms) by its SQL, and the parameters of its slowest run (to EXPLAIN it)."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.slowest: dict[str, tuple[float, Any]] = {}
        self.renders: list[tuple[float, int, float]] = []  # (wall ms, queries, their ms)
        self._current: list[float] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.times[sql].append(ms)
            self._current.append(ms)
            if ms > self.slowest.get(sql, (-1.0, None))[0]:
                self.slowest[sql] = (ms, params)

    def render(self, call) -> None:
        """Run ``call`` with every query it makes timed, and time it whole."""
        from django.db import connection

        self._current = []
        started = time.perf_counter()
        with connection.execute_wrapper(self):
            call()
        self.renders.append(((time.perf_counter() - started) * 1000, len(self._current), sum(self._current)))

    def summary(self) -> dict[str, Any]:
        per_query = sorted(
            (
                {
                    "sql": sql[:200],
                    "runs": len(times),
                    "p50_ms": round(statistics.median(times), 3),
                    "max_ms": round(max(times), 3),
                }
                for sql, times in self.times.items()
            ),
            key=lambda q: -q["p50_ms"],
        )
        walls, counts, sums = zip(*self.renders, strict=True) if self.renders else ((0.0,), (0,), (0.0,))
        return {
            "query_p50_ms": per_query[0]["p50_ms"] if per_query else None,
            "query_max_ms": max(q["max_ms"] for q in per_query) if per_query else None,
            "distinct_queries": len(per_query),
            "queries_per_render": max(counts),
            "queries_ms_per_render_p50": round(statistics.median(sums), 2),
            "render_p50_ms": round(statistics.median(walls), 2),
            "render_max_ms": round(max(walls), 2),
            "renders": len(self.renders),
            "slowest_by_p50": per_query[:5],
        }

    def slowest_run(self) -> tuple[str, Any, float] | None:
        if not self.slowest:
            return None
        sql, (ms, params) = max(self.slowest.items(), key=lambda item: item[1][0])
        return sql, params, ms


def _explain(sql: str, params: Any) -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        prefix = "EXPLAIN QUERY PLAN "
    else:  # ANALYZE runs the statement: only a read's
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if sql.lstrip().upper().startswith("SELECT") else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        return "\n".join(" ".join(str(column) for column in row) for row in cursor.fetchall())


def _time_queries(request: dict) -> dict:
    """Render the dashboard and the panel for each timed company's ISP admin (and the panel for all companies
    for platform staff), every query timed."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from billing import push, selectors

    users = get_user_model().objects
    sets = {"dashboard": Queries(), "panel": Queries(), "panel_all_companies": Queries()}

    def get(client: Client, url: str) -> None:
        answer = client.get(url)
        if answer.status_code != 200:
            raise RuntimeError(f"{url} answered {answer.status_code}: {answer.content[:500]!r}")

    def pages(company_id: int | None) -> dict[str, list]:
        if company_id is None:
            return {"panel_all_companies": ["/admin/billing/spend/"]}
        last_month = selectors.previous_month(selectors.today_for(company_id)).strftime("%Y-%m")
        return {
            "dashboard": ["/dashboard/spend/", lambda: push.figures(company_id)],
            "panel": ["/admin/billing/spend/", f"/admin/billing/spend/?month={last_month}"],
        }

    watchers = [(t["company_id"], t["username"]) for t in request["timed"]] + [(None, "ops")]
    for company_id, username in watchers:
        client = Client()
        client.force_login(users.get(username=username))
        for repetition in range(request["warm_up"] + request["repetitions"]):
            for name, calls in pages(company_id).items():
                for call in calls:
                    run = call if callable(call) else (lambda url=call, client=client: get(client, url))
                    if repetition < request["warm_up"]:
                        run()
                    else:
                        sets[name].render(run)
    answer: dict[str, Any] = {name: queries.summary() for name, queries in sets.items()}
    for name in ("dashboard", "panel"):
        found = sets[name].slowest_run()
        if found:
            sql, params, ms = found
            answer[name]["slowest_run"] = {"ms": round(ms, 3), "sql": sql, "explain": _explain(sql, params)}
    return answer


# ------------------------------------------------------------------------------ the push, end to end


def _receipts(prepared: dict, count: int) -> list[bytes]:
    """Meta's delivered receipt for each seeded message, priced per message (``regular``), timed now."""
    template = json.loads(RECEIPT.read_text())
    pricing = json.loads(PRICED.read_text())["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"]
    bodies = []
    for n in range(count):
        payload = json.loads(json.dumps(template))
        entry = payload["entry"][0]
        entry["id"] = prepared["waba_id"]
        value = entry["changes"][0]["value"]
        value["metadata"] = {
            "display_phone_number": prepared["display_number"],
            "phone_number_id": prepared["phone_number_id"],
        }
        receipt = value["statuses"][0]
        receipt.update(
            {
                "id": f"{WAMID_PREFIX}{n}",
                "recipient_id": prepared["phones"][n],
                "timestamp": str(int(time.time())),
                "pricing": {**pricing, "category": PUSH_CATEGORY},
            }
        )
        receipt["conversation"] = {"id": f"benchconversation{n}", "origin": {"type": PUSH_CATEGORY}}
        bodies.append(json.dumps(payload, separators=(",", ":")).encode())
    return bodies


def _month_count(figures: dict) -> int:
    return sum(f["count"] for f in figures.get("month_total", []))


def _post(url: str, body: bytes, secret: str) -> int:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature-256": signature,
    }
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 (our loopback server)
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        answer.read()
        return answer.status


def _measure_pushes(base: str, prepared: dict, count: int) -> dict[str, Any]:
    """Post each receipt and wait for the push that counts it; the times (ms) and what was lost."""
    from websockets.sync.client import connect

    bodies = _receipts(prepared, WARM_UP_PUSHES + count)
    webhook = f"{base}/webhooks/meta/?contract={prepared['contract']}"
    socket_url = base.replace("http://", "ws://") + f"/ws/dashboard/spend/?company={prepared['contract']}"
    times, post_ms, lost, listed = [], [], 0, 0
    with connect(
        socket_url, origin=base, additional_headers={"Cookie": f"sessionid={prepared['session']}"}, open_timeout=30
    ) as socket:
        before = _month_count(json.loads(socket.recv(timeout=30)))  # the figures on connect
        for n, body in enumerate(bodies):
            warm_up = n < WARM_UP_PUSHES
            posted = time.monotonic()
            status = _post(webhook, body, prepared["app_secret"])
            answered = time.monotonic()
            if status != 200:
                raise RuntimeError(f"the webhook was answered {status}")
            # The push that counts this receipt (and every one before it: a late push is not the next one's).
            arrived, figures, deadline = None, {}, posted + (WARM_UP_SECONDS if warm_up else PUSH_TIMEOUT)
            while (left := deadline - time.monotonic()) > 0:
                try:
                    figures = json.loads(socket.recv(timeout=left))
                except TimeoutError:
                    break
                if _month_count(figures) >= before + n + 1:
                    arrived = time.monotonic()
                    break
            if warm_up:
                continue
            if arrived is None:
                lost += 1
                continue
            times.append((arrived - posted) * 1000)
            post_ms.append((answered - posted) * 1000)
            listed += any(row["recipient"] == prepared["masked"][n] for row in figures.get("last_billable", []))
    return {"times": times, "post_ms": post_ms, "lost": lost, "listed": listed}


def _start_stack(env: dict[str, str], folder: Path, tag: str, port: int) -> dict[str, subprocess.Popen]:
    """The web server as ``runall`` starts it, and the inbound and events workers as the deployment's pools
    run them (``config.queues.pools``: inbound prefork 2, events threads 4)."""
    with (folder / "web.log").open("wb") as web_log:
        web = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--no-access-log", *SERVE_ON, str(port)],
            cwd=ROOT,
            env=env,
            stdout=web_log,
            stderr=subprocess.STDOUT,
        )
    return {
        "web": web,
        "inbound": pool_worker(env, folder, tag, name="inbound", queue="inbound", pool="prefork", concurrency=2),
        "events": pool_worker(env, folder, tag, name="events", queue="events", pool="threads", concurrency=4),
    }


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------ the run


def _load(database: Database, env: dict[str, str], *, quick: bool) -> dict[str, Any]:
    started = time.monotonic()
    if database.vendor == "postgresql":
        entries = QUICK_ENTRIES if quick else ENTRIES
        _log(f"loading {entries:,} entries with generate_series (benchmarks.spend_data)")
        loaded = spend_data.fill(database, env, entries=entries)
        path = "generate_series (benchmarks.spend_data)"
    else:
        entries = QUICK_SQLITE_ENTRIES if quick else SQLITE_ENTRIES
        _log(f"SQLite: loading {entries:,} entries through the ORM (the plain path)")
        loaded = _child(env, "load_plain", {"companies": spend_data.COMPANIES, "entries": entries})
        path = f"SQLite: the plain path (bulk_create, totals.recompute), {entries:,} entries instead of the 10 million"
    loaded.update({"path": path, "seconds": round(time.monotonic() - started, 1)})
    return loaded


def _database_version(database: Database) -> str:
    if database.vendor == "postgresql":
        return "PostgreSQL " + database.query("SHOW server_version")[0][0]
    return "SQLite " + database.query("SELECT sqlite_version()")[0][0]


def _ms(values: list[float], percent: float) -> float | None:
    found = percentile(values, percent)
    return round(found, 1) if found is not None else None


def run(*, quick: bool = False) -> dict[str, Any]:
    pushes = QUICK_PUSHES if quick else PUSHES
    timed_count = QUICK_TIMED_COMPANIES if quick else TIMED_COMPANIES
    folder = Path(tempfile.mkdtemp(prefix="ponte-bench-spend-"))
    tag = f"benchspend{os.getpid()}"
    load_before, started_at = os.getloadavg(), dt.datetime.now(dt.UTC)
    processes: dict[str, subprocess.Popen] = {}
    with throwaway_database(folder) as database:
        env = child_env(database, folder, tag)
        try:
            _log(f"migrating {database.vendor}")
            manage(env, "migrate", "--noinput")
            loaded = _load(database, env, quick=quick)
            (stored,) = database.query("SELECT count(*) FROM billing_spendentry")[0]
            _log(f"{stored:,} entries in {loaded['seconds']} s")
            companies = loaded["companies"]
            step = max(1, len(companies) // timed_count)
            timed = list(range(0, len(companies), step))[:timed_count]
            prepared = _child(
                env, "prepare", {"companies": companies, "timed": timed, "messages": WARM_UP_PUSHES + pushes}
            )
            _log(f"timing the pages' queries for companies {timed}")
            repetitions = QUICK_REPETITIONS if quick else REPETITIONS
            queries = _child(
                env,
                "time_queries",
                {"timed": prepared["timed"], "repetitions": repetitions, "warm_up": WARM_UP_RENDERS},
            )
            for name in ("dashboard", "panel"):
                slowest = queries[name].pop("slowest_run", None)
                if slowest:
                    _log(f"{name}: slowest single query {slowest['ms']} ms:\n{slowest['sql']}\n{slowest['explain']}")
                    queries[name]["slowest_run"] = {"ms": slowest["ms"], "sql": slowest["sql"][:300]}
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            processes = _start_stack(env, folder, tag, port)
            wait_http(base, 60)
            time.sleep(3)  # the workers' start-up
            meter = CpuMeter({name: [process.pid] for name, process in processes.items()})
            _log(f"{WARM_UP_PUSHES} + {pushes} billable receipts, one after another")
            meter.start()
            measured = _measure_pushes(base, prepared, pushes)
            cores = meter.stop()
            (delivered,) = database.query(
                "SELECT count(*) FROM billing_spendentry WHERE wamid LIKE %s AND stage = 'delivered'",
                (f"{WAMID_PREFIX}%",),
            )[0]
        except Exception:
            _log(f"failed; logs in {folder}:\n{log_tails(folder, 20)}")
            raise
        finally:
            _stop(processes)
            if os.environ.get("REDIS_URL"):
                forget_redis_keys(tag)
        version = _database_version(database)
    times = measured["times"]
    figures = {
        "benchmark": "spend",
        "started_at": started_at.isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "database": version,
        "channel_layer": "redis" if os.environ.get("REDIS_URL") else "in memory (the socket polls each 1 s)",
        "entries": stored,
        "entries_path": loaded["path"],
        "companies": len(companies),
        "load_seconds": loaded["seconds"],
        "load": {key: loaded[key] for key in ("seed_s", "entries_s", "totals_s") if key in loaded},
        "dashboard_query_ms": queries["dashboard"]["query_p50_ms"],
        "dashboard_query_max_ms": queries["dashboard"]["query_max_ms"],
        "panel_query_ms": queries["panel"]["query_p50_ms"],
        "panel_query_max_ms": queries["panel"]["query_max_ms"],
        "push_p50_ms": _ms(times, 50),
        "push_p99_ms": _ms(times, 99),
        "push_max_ms": _ms(times, 100),
        "pushes": len(times),
        "lost_pushes": measured["lost"],
        "pushes_listing_the_message": measured["listed"],
        "webhook_answer_p50_ms": _ms(measured["post_ms"], 50),
        "receipts_charged": delivered,
        "timed_companies": len(timed),
        "repetitions": repetitions,
        "cores": os.cpu_count(),
        "cpu_cores_used_during_pushes": cores,
        "loadavg_before": [round(value, 2) for value in load_before],
        "detail": queries,
    }
    figures["goals"] = {
        "dashboard_queries_under_20_ms": figures["dashboard_query_ms"] < QUERY_GOAL_MS,
        "panel_queries_under_20_ms": figures["panel_query_ms"] < QUERY_GOAL_MS,
        "push_p99_under_1_s": figures["push_p99_ms"] is not None and figures["push_p99_ms"] < PUSH_GOAL_MS,
        "no_push_lost": figures["lost_pushes"] == 0 and delivered == WARM_UP_PUSHES + pushes,
    }
    return figures


CHILD_COMMANDS = {"load_plain": _load_plain, "prepare": _prepare, "time_queries": _time_queries}


if __name__ == "__main__":
    benchmark_main(run, CHILD_COMMANDS)
