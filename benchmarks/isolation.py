"""Inbound processing while the outbox is saturated by a provider that times out and one that answers slowly.

The run builds its own world and removes it afterwards (as ``ingest`` does): a throwaway database, gunicorn
with uvicorn workers, and the Celery workers as a deployment runs them (``config.queues.pools``): an inbound
worker and an outbox worker, each ``-c 2`` prefork. Two companies have 2,000 queued texts each (200 with
``--quick``) on Cloud channels pointed at fake Graph APIs: one never answers within the 30 s read timeout,
the other answers after 2 s. ``dispatch_outbox`` is sent every 5 s, as beat does, so both dispatchers are
busy for the whole run. A third company receives signed Meta text webhooks through the web server, one
every half second for 30 s (10 s with ``--quick``); each one's delay is its ``processed_at`` minus its
``received_at``, both stamped by the product. Goal: ``delay_p99_s`` <= 2.

Without ``--quick`` the same load then runs on the layout the queues replaced, one worker ``-c 2`` taking
every queue (``shared_layout``), to show what the separate queues buy.
"""

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.harness import emit
from benchmarks.ingest import _Connection, _create_tenant, _free_port, _Requests, _Stack, _template
from benchmarks.sending_stack import (
    Database,
    FakeGraph,
    celery_worker_command,
    child_env,
    django_child,
    forget_redis_keys,
    log,
    manage,
    percentile,
    throwaway_database,
)

HOST = "127.0.0.1"
GOAL_SECONDS = 2.0
TIMEOUT_DELAY = 60.0  # beyond the engine's 30 s read timeout: every send times out and is retried
SLOW_DELAY = 2.0


def _log(message: str) -> None:
    log("isolation", message)


def _dispatching(env: dict, stop: threading.Event) -> None:
    """``dispatch_outbox`` every 5 s until ``stop``, as beat sends it."""
    while not stop.is_set():
        with contextlib.suppress(Exception):
            django_child(env, "trigger", {"times": 2}, timeout=60)
        stop.wait(5)


def _outbox_state(database: Database) -> dict[str, int]:
    rows = database.query("SELECT status, COUNT(*) FROM conversations_message WHERE direction = 'out' GROUP BY status")
    return {status: count for status, count in rows}


def _layout(tag: str, *, shared: bool) -> dict[str, list[str]]:
    if shared:
        return {"worker": celery_worker_command(f"{tag}-all@%h", "inbound,outbox,media,events,maintenance", tag)}
    return {
        "worker-inbound": celery_worker_command(f"{tag}-inbound@%h", "inbound", tag),
        "worker-outbox": celery_worker_command(f"{tag}-outbox@%h", "outbox", tag),
    }


def _measure(
    env: dict,
    database: Database,
    folder: Path,
    tag: str,
    tenant: tuple[str, str],
    *,
    shared: bool,
    seconds: float,
    queued: int,
) -> dict:
    name = "shared" if shared else "separate"
    contract, secret = tenant
    graphs = {
        "timeout": FakeGraph(folder, delay=TIMEOUT_DELAY, name=f"graph-{name}-timeout"),
        "slow": FakeGraph(folder, delay=SLOW_DELAY, name=f"graph-{name}-slow"),
    }
    first_event = database.query("SELECT COALESCE(MAX(id), 0) FROM conversations_webhookevent")[0][0]
    stack = _Stack(env, folder, _free_port(), tag, workers=_layout(tag, shared=shared))
    stop = threading.Event()
    arrivals: dict[str, int] = {}
    try:
        for index, (kind, graph) in enumerate(graphs.items()):
            django_child(
                env,
                "seed",
                {
                    "company": f"{name} {kind}",
                    "phone_number_id": f"9{index}{os.getpid()}{int(shared)}",
                    "url": graph.url,
                    "mps": 80,
                    "prefix": f"55{index + 1}{int(shared)}9",
                    "count": queued,
                },
            )
        stack.start()
        stack.wait_healthy(90)
        dispatcher = threading.Thread(target=_dispatching, args=(env, stop), daemon=True)
        dispatcher.start()
        time.sleep(3)  # the dispatchers take their first rounds: from here on both are busy
        saturation = _outbox_state(database)
        requests = _Requests(port=stack.port, contract=contract, secret=secret.encode(), template=_template(), tag=tag)
        connection, accepted, errors = _Connection((HOST, stack.port)), 0, 0
        started = time.monotonic()
        sequence = 0
        while time.monotonic() - started < seconds:
            request, _ = requests.webhook(name, 0, sequence)
            sequence += 1
            try:
                accepted += connection.exchange(request) == 200
            except (OSError, ValueError):
                errors += 1
                connection.close()
            time.sleep(max(0.0, started + sequence * 0.5 - time.monotonic()))
        connection.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pending = database.query(
                "SELECT COUNT(*) FROM conversations_webhookevent WHERE state IN ('pending', 'processing') AND id > %s",
                (first_event,),
            )[0][0]
            if not pending:
                break
            time.sleep(0.25)
        during = _outbox_state(database)
        stop.set()
        dispatcher.join(70)
        if database.vendor == "postgresql":
            delay = "EXTRACT(EPOCH FROM processed_at - received_at)"
        else:
            delay = "(julianday(processed_at) - julianday(received_at)) * 86400"
        rows = database.query(
            f"SELECT {delay} FROM conversations_webhookevent WHERE processed_at IS NOT NULL AND id > %s",  # noqa: S608
            (first_event,),
        )
        delays = sorted(float(value) for (value,) in rows)
    finally:
        stop.set()
        stack.stop()
        for kind, graph in graphs.items():
            with contextlib.suppress(Exception):
                arrivals[kind] = len(graph.stop())  # what it received (the slow one answers only its own calls)
        for process_name in stack.processes:
            if summary := stack.problems(process_name):
                _log(f"{name}: {process_name} log, warnings and errors by count:\n{summary}")
    figures = {
        "webhooks_sent": sequence,
        "webhooks_accepted": accepted,
        "webhooks_processed": len(delays),
        "errors": errors,
        "delay_p50_s": round(percentile(delays, 50) or 0.0, 3),
        "delay_p99_s": round(percentile(delays, 99) or 0.0, 3),
        "delay_max_s": round(delays[-1], 3) if delays else None,
        "outbox_after_3_s": saturation,
        "outbox_at_end": during,
    }
    figures["fake_graph_arrivals"] = arrivals
    _log(f"{name}: {figures}")
    return figures


def run(*, quick: bool) -> dict:
    seconds, queued = (10.0, 200) if quick else (30.0, 2000)
    tag = f"bench-{os.getpid()}"
    folder = Path(tempfile.mkdtemp(prefix="ponte-isolation-"))
    results: dict[str, dict] = {}
    try:
        with throwaway_database(folder) as database:
            env = child_env(database, folder, tag)
            broker = urlsplit(env.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem://").scheme
            _log(f"database {database.vendor}, broker {broker}: migrating")
            manage(env, "migrate", "--noinput")
            secret = secrets.token_hex(16)
            tenant = (_create_tenant(env, secret), secret)  # the company the webhooks come for
            results["separate"] = _measure(
                env, database, folder, tag, tenant, shared=False, seconds=seconds, queued=queued
            )
            if not quick:
                # The first run's messages leave the outbox: the second starts as saturated as the first did.
                database.execute(
                    "UPDATE conversations_message SET status = 'cancelled' WHERE status IN ('queued', 'sending')"
                )
                results["shared"] = _measure(
                    env, database, folder, tag, tenant, shared=True, seconds=seconds, queued=queued
                )
    finally:
        forget_redis_keys(tag)
        shutil.rmtree(folder, ignore_errors=True)
    separate = results["separate"]
    return {
        "benchmark": "isolation",
        **separate,
        **({"shared_layout": results["shared"]} if "shared" in results else {}),
        "database": database.vendor,
        "broker": broker,
        "queued_per_failing_channel": queued,
        "duration_s": seconds,
        "goals": {
            "delay_p99_at_most_2_s": separate["delay_p99_s"] <= GOAL_SECONDS,
            "every_webhook_processed": separate["webhooks_processed"] == separate["webhooks_accepted"] > 0,
        },
    }


if __name__ == "__main__":
    emit(run(quick="--quick" in sys.argv))
