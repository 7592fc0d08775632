"""Fairness between companies: while company A's backlog is being sent, how long company B's single message waits.

The world is the send benchmark's (``benchmarks/sending_stack.py``): a throwaway database, Redis as
broker and pacing store when ``REDIS_URL`` is set, the fake Graph API as its own process, one Celery
worker with two prefork processes. Company A has 10,000 queued text messages (1,000 with ``--quick``)
on a Cloud channel at 1,000 mps; company B has its own Cloud channel (Meta's default 80 mps) and nothing
queued. ``dispatch_outbox`` is sent through the broker ``OUTBOX_DISPATCHERS`` times; once A's messages
are arriving at the fake, a Django child process queues B's messages one at a time, through
``conversations.services.outbound.send_message`` in a transaction (so the kick after the commit goes
out as in production), 20 of them 0.25 s apart (10, 0.05 s apart, with ``--quick``, so they fall
within A's shorter run), each to its own contact.

Figures: each B message's latency is its arrival time at the fake Graph API minus the moment just
before ``send_message`` was called (both wall clocks of this machine); ``b_latency_p50_s`` and
``b_latency_p99_s`` are nearest-rank percentiles (with 20 samples p99 is the largest).
``b_sent_during_a`` counts the B messages that arrived while A still had messages to send, which is
what makes the figure mean something; A's own rate and busiest second are reported alongside.
"""

import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.harness import emit
from benchmarks.sending_stack import (
    CELERY_CONCURRENCY,
    DjangoChild,
    FakeGraph,
    Workers,
    broker_name,
    child_env,
    django_child,
    forget_redis_keys,
    log,
    manage,
    max_in_window,
    percentile,
    throwaway_database,
    wait_drained,
)

A_MPS, B_MPS = 1000, 80
A_PREFIX, B_PREFIX = "5511", "5531"


def _log(message: str) -> None:
    log("fairness", message)


def run(*, quick: bool) -> dict:
    a_count = 1_000 if quick else 10_000
    samples, interval = (10, 0.05) if quick else (20, 0.25)
    tag = f"bench-{os.getpid()}"
    folder = Path(tempfile.mkdtemp(prefix="ponte-fairness-"))
    try:
        with throwaway_database(folder) as database:
            env = child_env(database, folder, tag)
            broker = broker_name(env)
            _log(f"database {database.vendor}, broker {broker}: migrating")
            manage(env, "migrate", "--noinput")
            graph = FakeGraph(folder)
            workers = sampler_child = None
            try:
                seed = {"url": graph.url}
                a = django_child(
                    env,
                    "seed",
                    {
                        **seed,
                        "company": "ISP A",
                        "phone_number_id": "1001",
                        "mps": A_MPS,
                        "count": a_count,
                        "prefix": A_PREFIX,
                    },
                    timeout=600,
                )
                b = django_child(
                    env,
                    "seed",
                    {
                        **seed,
                        "company": "ISP B",
                        "phone_number_id": "2002",
                        "mps": B_MPS,
                        "count": 0,
                        "prefix": B_PREFIX,
                    },
                )
                a_queued = database.status_counts(a["channel_id"]).get("queued", 0)
                _log(f"A: {a_queued} queued on channel {a['channel_id']} at {A_MPS} mps; B: channel {b['channel_id']}")
                sampler_child = DjangoChild(
                    env,
                    "enqueue_samples",
                    {"channel_id": b["channel_id"], "samples": samples, "interval": interval, "prefix": B_PREFIX},
                    folder,
                )
                workers = Workers(env, folder, tag)
                workers.wait_ready(90)
                dispatchers = int(env.get("OUTBOX_DISPATCHERS", "2"))
                django_child(env, "trigger", {"times": dispatchers})
                # B starts once A is well under way: its messages must compete with A's backlog.
                deadline = time.monotonic() + 60
                while graph.count()["ok"] < a_count // 10 and time.monotonic() < deadline:
                    time.sleep(0.02)
                sampler_child.go()
                enqueued = sampler_child.result(timeout=120)["samples"]
                sampler_child = None
                counts = wait_drained(
                    database,
                    [a["channel_id"], b["channel_id"]],
                    a_queued + samples,
                    max(60.0, 6 * a_count / A_MPS),
                    _log,
                )
            finally:
                if sampler_child is not None:
                    sampler_child.process.kill()
                if workers is not None:
                    workers.stop()
                    if summary := workers.problems():
                        _log(f"worker log, warnings and errors by count:\n{summary}")
                arrivals = graph.stop()
    finally:
        forget_redis_keys(tag)
        shutil.rmtree(folder, ignore_errors=True)

    accepted = [r for r in arrivals if r["status"] == 200]
    a_arrivals = sorted(r["t"] for r in accepted if r["to"].startswith(A_PREFIX))
    a_times = sorted(r["m"] for r in accepted if r["to"].startswith(A_PREFIX))
    b_arrival = {r["to"]: r["t"] for r in accepted if r["to"].startswith(B_PREFIX)}
    latencies = [b_arrival[s["to"]] - s["at"] for s in enqueued if s["to"] in b_arrival]
    a_last = a_arrivals[-1] if a_arrivals else 0.0
    _log("B latencies (s), in order of queuing: " + " ".join(f"{value:.3f}" for value in latencies))
    recipients = Counter(r["to"] for r in accepted)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    a_span = a_times[-1] - a_times[0] if len(a_times) > 1 else 0.0
    return {
        "benchmark": "fairness",
        "a_queued": a_queued,
        "b_latency_p50_s": round(p50, 3) if p50 is not None else None,
        "b_latency_p99_s": round(p99, 3) if p99 is not None else None,
        "b_latency_max_s": round(max(latencies), 3) if latencies else None,
        "b_samples": samples,
        "b_sent": len(latencies),
        "b_sent_during_a": sum(1 for s in enqueued if s["to"] in b_arrival and b_arrival[s["to"]] < a_last),
        "b_enqueue_commit_ms_p50": round(1000 * percentile([s["committed_at"] - s["at"] for s in enqueued], 50), 1),
        "a_sent": counts.get("sent", 0) - len(latencies),
        "a_msgs_per_s": round(len(a_times) / a_span, 1) if a_span else 0.0,
        "a_max_in_any_1s": max_in_window(a_times),
        "lost": a_queued + samples - counts.get("sent", 0) - counts.get("failed", 0),
        "duplicates": sum(n - 1 for n in recipients.values() if n > 1),
        "database": database.vendor,
        "broker": broker,
        "workers": f"1 outbox worker, -c {CELERY_CONCURRENCY} (prefork)",
        "dispatchers": dispatchers,
        "goals": {"b_p99_at_most_1s": p99 is not None and p99 <= 1.0 and len(latencies) == samples},
    }


if __name__ == "__main__":
    emit(run(quick="--quick" in sys.argv))
