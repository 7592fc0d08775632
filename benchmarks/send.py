"""Outbox throughput: queued text messages for one Cloud channel at 1,000 mps, sent by real Celery workers.

The world (``benchmarks/sending_stack.py``): a throwaway database (PostgreSQL when ``DATABASE_URL`` is
set, a SQLite file otherwise), Redis as broker and pacing store when ``REDIS_URL`` is set, the fake Graph
API (``fakes/graph_api.py``) as its own process on 127.0.0.1, and one Celery worker with two
prefork processes (``-c 2``). A child process bulk-inserts the company, its Cloud channel (base URL =
the fake, ``throughput_mps`` = 1,000) and N queued text messages (20,000, or 2,000 with ``--quick``),
each to its own contact whose 24 h window is open. Once the worker is ready, ``dispatch_outbox`` is sent
through the broker ``OUTBOX_DISPATCHERS`` times (what the beat and the kicks do within seconds), and
the benchmark polls the database until nothing is queued or sending.

Figures, from the fake's arrival times (its own clock, one process, so no client-side bias):

* ``msgs_per_s``: messages sent / (last arrival - first arrival);
* ``max_in_any_1s``: the most arrivals in any sliding one-second window, over all of them (two
  pointers); it must never exceed ``limit_mps``;
* ``queued``, ``sent``, ``failed`` (database), ``lost`` = queued - sent - failed, and ``duplicates`` =
  accepted sends beyond the first to the same recipient (each message has its own recipient);
* ``worker_rss_mb``: the peak, over samples every 0.2 s, of the summed VmRSS of the worker processes
  and their children (``worker_pss_mb`` the same with PSS, which counts pages the prefork children
  share once);
* ``drain_s``: from the trigger to the last arrival; ``cpu_cores``: cores used meanwhile per group;
  ``worker_cpu_ms_per_msg``: the worker processes' CPU time meanwhile (user + system) per message sent;
* ``missed_slots_requeued``: sends of the paced run that would have started too late for their pacing
  slot and waited for a later one (the engine's warnings); goal at most 2 % of the messages
  (``missed_slots_with_capacity_run`` adds the capacity run's, overloaded by design).

Then, unless ``--quick``, an engine-capacity run: the same with half as many messages on a second
channel whose limit is set at twice Meta's highest tier (2,000 mps, bypassing the model's validator):
``engine_capacity_mps`` is what the engine sends on this machine when pacing is not what holds it back.

``goals``: the paced run at 95 % of pacing's own rate (``pacing_mps``: the schedule runs a little under
the limit, see ``CLOUD_SAFETY``), never above the limit in any second, none lost or doubled, and (full
runs) the engine's capacity at least the limit: the engine is not what holds a 1,000 mps channel back.
"""

import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from benchmarks.harness import emit
from benchmarks.sending_stack import (
    CELERY_CONCURRENCY,
    CpuMeter,
    Database,
    FakeGraph,
    MemorySampler,
    Workers,
    broker_name,
    child_env,
    django_child,
    forget_redis_keys,
    log,
    manage,
    max_in_window,
    throwaway_database,
    wait_drained,
)

LIMIT_MPS = 1000
CAPACITY_MPS = 2_000


def _log(message: str) -> None:
    log("send", message)


def _phase(
    env, database: Database, graph: FakeGraph, workers: Workers, *, name: str, count: int, mps: int, prefix: str
):
    """Seed ``count`` messages on a new channel at ``mps``, trigger the dispatchers, wait; the figures."""
    seeded = django_child(
        env,
        "seed",
        {
            "company": name,
            "phone_number_id": f"{prefix}0",
            "url": graph.url,
            "mps": mps,
            "count": count,
            "prefix": prefix,
        },
    )
    channel_id = seeded["channel_id"]
    queued = database.status_counts(channel_id).get("queued", 0)
    _log(f"{name}: {queued} messages queued for channel {channel_id} at {mps} mps")
    before = graph.count()["count"]
    sampler = MemorySampler(workers.pids)
    idle_rss_kb, _ = sampler.sample()
    cpu = CpuMeter({"workers": workers.pids, "fake_graph_api": [graph.pid]})
    cpu.start()
    sampler.start()
    dispatchers = int(env.get("OUTBOX_DISPATCHERS", "2"))
    triggered_at = django_child(env, "trigger", {"times": dispatchers})["at"]
    try:
        counts = wait_drained(database, [channel_id], queued, max(60.0, 6 * count / mps), _log)
    finally:
        sampler.stop()
        cores = cpu.stop()
    return {
        "cpu_seconds": cpu.seconds,
        "channel_id": channel_id,
        "pacing_mps": seeded["pacing_mps"],
        "queued": queued,
        "counts": counts,
        "triggered_at": triggered_at,
        "skip": before,
        "prefix": prefix,
        "idle_rss_kb": idle_rss_kb,
        "sampler": sampler,
        "cores": cores,
        "dispatchers": dispatchers,
    }


def _figures(phase: dict, arrivals: list[dict]) -> dict:
    mine = [a for a in arrivals if a["status"] == 200 and a["to"].startswith(phase["prefix"])]
    times = sorted(a["m"] for a in mine)
    walls = sorted(a["t"] for a in mine)
    counts: Counter = phase["counts"]
    sent = counts.get("sent", 0)
    failed = counts.get("failed", 0)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    recipients = Counter(a["to"] for a in mine)
    return {
        "msgs_per_s": round(sent / span, 1) if span else 0.0,
        "max_in_any_1s": max_in_window(times),
        "queued": phase["queued"],
        "sent": sent,
        "lost": phase["queued"] - sent - failed,
        "failed": failed,
        "still_pending": counts.get("queued", 0) + counts.get("sending", 0),
        "duplicates": sum(n - 1 for n in recipients.values() if n > 1),
        "arrivals": len(mine),
        "other_answers": sum(1 for a in arrivals if a["status"] != 200 and a["to"].startswith(phase["prefix"])),
        "first_send_after_s": round(walls[0] - phase["triggered_at"], 3) if walls else None,
        "drain_s": round(walls[-1] - phase["triggered_at"], 2) if walls else None,
        "cpu_cores": phase["cores"],
        "worker_cpu_ms_per_msg": round(1000 * phase["cpu_seconds"]["workers"] / sent, 3) if sent else None,
    }


def run(*, quick: bool) -> dict:
    count = 2_000 if quick else 20_000
    # Meta answers in tens to hundreds of ms; the fake at once. SEND_BENCH_API_LATENCY (seconds) delays its
    # answers, to see what the send threads sustain with a real API's latency.
    latency = float(os.environ.get("SEND_BENCH_API_LATENCY", "0") or 0)
    tag = f"bench-{os.getpid()}"
    folder = Path(tempfile.mkdtemp(prefix="ponte-send-"))
    try:
        with throwaway_database(folder) as database:
            env = child_env(database, folder, tag)
            broker = broker_name(env)
            _log(f"database {database.vendor}, broker {broker}: migrating")
            manage(env, "migrate", "--noinput")
            graph = FakeGraph(folder, delay=latency)
            workers = None
            try:
                workers = Workers(env, folder, tag)
                workers.wait_ready(90)
                main = _phase(
                    env, database, graph, workers, name="Bench ISP", count=count, mps=LIMIT_MPS, prefix="5511"
                )
                missed_paced = workers.missed_slots()  # the capacity run, overloaded by design, misses more
                capacity = None
                if not quick:
                    capacity = _phase(
                        env,
                        database,
                        graph,
                        workers,
                        name="Capacity ISP",
                        count=count // 2,
                        mps=CAPACITY_MPS,
                        prefix="5521",
                    )
            finally:
                if workers is not None:
                    workers.stop()
                    missed = workers.missed_slots()
                    if summary := workers.problems():
                        _log(f"worker log, warnings and errors by count:\n{summary}")
                arrivals = graph.stop()
    finally:
        forget_redis_keys(tag)
        shutil.rmtree(folder, ignore_errors=True)

    figures = _figures(main, arrivals)
    sampler: MemorySampler = main["sampler"]
    result = {
        "benchmark": "send",
        "msgs_per_s": figures["msgs_per_s"],
        "limit_mps": LIMIT_MPS,
        "pacing_mps": round(main["pacing_mps"], 1),
        "max_in_any_1s": figures["max_in_any_1s"],
        "queued": figures["queued"],
        "sent": figures["sent"],
        "lost": figures["lost"],
        "duplicates": figures["duplicates"],
        "worker_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
        "failed": figures["failed"],
        "still_pending": figures["still_pending"],
        "worker_pss_mb": round(sampler.peak_pss_kb / 1024, 1),
        "worker_rss_idle_mb": round(main["idle_rss_kb"] / 1024, 1),
        "worker_processes": sampler.peak_processes,
        "rss_samples": sampler.samples,
        "missed_slots_requeued": missed_paced,
        "missed_slots_with_capacity_run": missed,
        "first_send_after_s": figures["first_send_after_s"],
        "drain_s": figures["drain_s"],
        "cpu_cores": figures["cpu_cores"],
        "worker_cpu_ms_per_msg": figures["worker_cpu_ms_per_msg"],
        "database": database.vendor,
        "broker": broker,
        "workers": f"1 outbox worker, -c {CELERY_CONCURRENCY} (prefork)",
        "dispatchers": main["dispatchers"],
        "api_latency_s": latency,
    }
    result["goals"] = {
        "at_least_95pct_of_pacing": result["msgs_per_s"] >= 0.95 * main["pacing_mps"],
        "never_above_limit": result["max_in_any_1s"] <= LIMIT_MPS,
        "none_lost_or_doubled": result["lost"] == 0 and result["duplicates"] == 0 and result["sent"] == count,
        "missed_slots_at_most_2pct": missed_paced <= 0.02 * count,
    }
    if capacity is not None:
        cap = _figures(capacity, arrivals)
        result["engine_capacity_mps"] = cap["msgs_per_s"]
        kept = ("queued", "sent", "lost", "duplicates", "cpu_cores", "worker_cpu_ms_per_msg")
        result["engine_capacity_run"] = {k: cap[k] for k in kept}
        # The reading of "1,000 mps sustained": the engine is never the bottleneck below Meta's highest
        # tier. Pacing itself runs a little under the limit (CLOUD_SAFETY), so the paced run tops out at pacing_mps.
        result["goals"]["engine_not_the_bottleneck"] = cap["msgs_per_s"] >= LIMIT_MPS and cap["lost"] == 0
    return result


if __name__ == "__main__":
    emit(run(quick="--quick" in sys.argv))
