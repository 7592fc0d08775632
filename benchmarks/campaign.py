"""Campaigns: a 100,000-row CSV uploaded over HTTP and queued, then sent at the channel's limit.

The world (``benchmarks/sending_stack.py``): a throwaway database, Redis when ``REDIS_URL`` is set, the fake
Graph API as its own process, the web server (uvicorn, as ``runall`` starts it) and three Celery workers as
the deployment's pools run them: the campaigns queue (CSV imports and the engine), the outbox (the
dispatchers) and the events queue (recipients following their messages). A child process seeds a company,
its Cloud channel on the fake (``throughput_mps`` = LIMIT_MPS), an approved template and an API key.

1. Upload: a CSV of N rows (100,000, or 10,000 with ``--quick``: ``phone,nome,data``, a few duplicates and
   bad rows in it) is written to disk and posted as the body of ``POST /api/v1/campaigns/{id}/recipients``
   (streamed from the file); the benchmark polls the database until the upload is ``imported``.
   ``upload_to_queued_s`` is from the start of the request to then; ``peak_rss_mb_above_idle`` is the peak of
   the summed VmRSS of the web server and of the campaigns worker (each with its children) over samples every
   0.2 s, minus the same before the upload.
2. Send: the campaign is started through the API at the channel's limit (LIMIT_MPS x 60 per minute) and runs
   SEND_SECONDS; ``send_msgs_per_s`` is the arrivals at the fake over the span between the first and the last
   (the fake's own clock), ``max_in_any_1s`` the most arrivals in any one-second window. Then it is cancelled
   through the API: ``sent_after_cancel`` counts the arrivals later than one second after the cancel's answer.

``goals``: queued in under 30 s, peak RSS under 150 MB above idle for each of the two processes, the send
rate at least 90 % of the limit and never above it in any second, nothing sent twice.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from benchmarks.sending_stack import (
    ROOT,
    Database,
    FakeGraph,
    MemorySampler,
    benchmark_main,
    child_env,
    forget_redis_keys,
    free_port,
    log,
    manage,
    max_in_window,
    module_child,
    pool_worker,
    throwaway_database,
    wait_http,
)

LIMIT_MPS = 80  # Meta's default throughput for a business phone number
SEND_SECONDS = 40
QUICK_SEND_SECONDS = 15


def _log(message: str) -> None:
    log("campaign", message)


def write_csv(path: Path, rows: int) -> dict:
    """``rows`` data rows: about 1 in 500 a duplicate of an earlier number, 1 in 1,000 not a number."""
    rng = random.Random(20261204)
    duplicates = invalid = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,nome,data\r\n")
        for n in range(rows):
            if n and n % 500 == 0:
                phone, duplicates = f"55449{rng.randrange(n):08d}", duplicates + 1
            elif n % 1000 == 999:
                phone, invalid = "sem telefone", invalid + 1
            else:
                phone = f"55449{n:08d}"
            out.write(f'{phone},"Cliente {n}, da Silva",{1 + n % 28:02d}/12\r\n')
    return {"duplicates": duplicates, "invalid": invalid, "bytes": path.stat().st_size}


def _server_command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]


def _request(
    url: str, key: str, *, method: str = "GET", body=None, content_type: str = "application/json", length=None
):
    headers = {"X-API-Key": key, "Content-Type": content_type}
    if length is not None:
        headers["Content-Length"] = str(length)
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 (our loopback server)
        return response.status, json.loads(response.read())


def _web_log(folder: Path) -> str:
    path = folder / "web.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _child(env: dict, command: str, request: dict) -> dict:
    return module_child("benchmarks.campaign", env, command, request)


def _seed(request: dict) -> dict:
    from companies.models import Channel, Company
    from companies.services import create_api_key
    from templates_meta.models import Template

    company = Company.objects.create(name="Provedor bench", meta_app_secret="bench-secret")
    channel = Channel.objects.create(
        company=company,
        kind=Channel.Kind.CLOUD,
        name="bench",
        phone_number_id="bench0",
        waba_id="1",
        access_token="EAAG-bench-token",
        api_base_url=request["url"],
        throughput_mps=request["mps"],
    )
    Template.objects.create(
        company=company,
        waba_id="1",
        name="aviso_manutencao",
        status=Template.Status.APPROVED,
        components=[
            {"type": "BODY", "text": "Olá {{1}}, manutenção em {{2}}.", "example": {"body_text": [["A", "B"]]}}
        ],
    )
    _, key = create_api_key(company=company, name="bench")
    return {"company_id": company.pk, "channel_id": channel.pk, "key": key}


def _upload_state(database: Database, campaign_id: int) -> tuple[str, int, int, int, int]:
    rows = database.query(
        "SELECT status, rows, valid, invalid, duplicates FROM notifications_campaignupload WHERE campaign_id = %s",
        (campaign_id,),
    )
    return rows[0] if rows else ("", 0, 0, 0, 0)


def run(*, quick: bool = False) -> dict:
    rows = 10_000 if quick else 100_000
    send_seconds = QUICK_SEND_SECONDS if quick else SEND_SECONDS
    folder = Path(tempfile.mkdtemp(prefix="ponte-bench-campaign-"))
    tag = f"benchcampaign{os.getpid()}"
    processes: list[subprocess.Popen] = []
    with throwaway_database(folder) as database:
        env = child_env(database, folder, tag)
        env["CAMPAIGN_RUN_SECONDS"] = "50"
        _log(f"migrating {database.vendor}")
        manage(env, "migrate", "--noinput")
        graph = FakeGraph(folder)
        try:
            seeded = _child(env, "seed", {"url": graph.url, "mps": LIMIT_MPS})
            csv_path = folder / "clientes.csv"
            made = write_csv(csv_path, rows)
            port = free_port()
            with (folder / "web.log").open("wb") as web_log:
                web = subprocess.Popen(
                    _server_command(port), cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT
                )
            processes.append(web)
            campaigns = pool_worker(
                env, folder, tag, name="campaigns", queue="campaigns", pool="threads", concurrency=2
            )
            outbox = pool_worker(env, folder, tag, name="outbox", queue="outbox", pool="prefork", concurrency=2)
            events = pool_worker(env, folder, tag, name="events", queue="events", pool="threads", concurrency=4)
            processes += [campaigns, outbox, events]
            base = f"http://127.0.0.1:{port}"
            wait_http(base, 60)
            time.sleep(5)  # the workers' start-up
            key = seeded["key"]
            _, campaign = _request(
                f"{base}/api/v1/campaigns",
                key,
                method="POST",
                body=json.dumps(
                    {
                        "name": "bench",
                        "template": "aviso_manutencao",
                        "messages_per_minute": LIMIT_MPS * 60,
                        "columns": {"1": "nome", "2": "data"},
                    }
                ).encode(),
            )
            web_memory, worker_memory = MemorySampler([web.pid]), MemorySampler([campaigns.pid])
            web_idle, _ = web_memory.sample()
            worker_idle, _ = worker_memory.sample()
            web_memory.start()
            worker_memory.start()
            _log(f"uploading {rows} rows ({made['bytes']} bytes)")
            started = time.monotonic()
            try:
                with csv_path.open("rb") as body:
                    status, _ = _request(
                        f"{base}/api/v1/campaigns/{campaign['id']}/recipients",
                        key,
                        method="POST",
                        body=body,
                        content_type="text/csv",
                        length=made["bytes"],
                    )
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"the upload failed ({exc.code}):\n{_web_log(folder)}") from None
            answered = time.monotonic() - started
            while True:
                state = _upload_state(database, campaign["id"])
                if state[0] != "importing" or time.monotonic() - started > 600:
                    break
                time.sleep(0.1)
            queued_s = time.monotonic() - started
            web_memory.stop()
            worker_memory.stop()
            web_peak, worker_peak = web_memory.peak_rss_kb, worker_memory.peak_rss_kb
            _log(f"import: {state} in {queued_s:.1f} s; sending for {send_seconds} s")

            before = graph.count()["count"]
            _request(f"{base}/api/v1/campaigns/{campaign['id']}/start", key, method="POST", body=b"")
            time.sleep(send_seconds)
            _request(f"{base}/api/v1/campaigns/{campaign['id']}/cancel", key, method="POST", body=b"")
            cancelled_at = time.time()
            time.sleep(3)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
            arrivals = graph.stop()
            if os.environ.get("REDIS_URL"):
                forget_redis_keys(tag)
    mine = [a for a in arrivals[before:] if a["status"] == 200]
    times = sorted(a["m"] for a in mine)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    recipients = Counter(a["to"] for a in mine)
    status_name, read, valid, invalid, duplicates = state
    figures = {
        "benchmark": "campaign",
        "rows": rows,
        "database": database.vendor,
        "python": sys.version.split()[0],
        "csv_bytes": made["bytes"],
        "upload_answered_s": round(answered, 2),
        "upload_to_queued_s": round(queued_s, 2),
        "import_status": status_name,
        "rows_read": read,
        "recipients": valid,
        "invalid_rows": invalid,
        "duplicates": duplicates,
        "expected_invalid": made["invalid"],
        "expected_duplicates": made["duplicates"],
        "peak_rss_mb_web_above_idle": round((web_peak - web_idle) / 1024, 1),
        "peak_rss_mb_worker_above_idle": round((worker_peak - worker_idle) / 1024, 1),
        "limit_mps": LIMIT_MPS,
        "send_seconds": send_seconds,
        "sent": len(mine),
        "send_msgs_per_s": round(len(mine) / span, 1) if span else 0.0,
        "max_in_any_1s": max_in_window(times),
        "duplicates_sent": sum(n - 1 for n in recipients.values() if n > 1),
        "sent_after_cancel": sum(1 for a in mine if a["t"] > cancelled_at + 1.0),
        "upload_status": status,
    }
    figures["goals"] = {
        "queued_under_30_s": figures["upload_to_queued_s"] < 30 and status_name == "imported",
        "rss_under_150_mb_above_idle": max(
            figures["peak_rss_mb_web_above_idle"], figures["peak_rss_mb_worker_above_idle"]
        )
        < 150,
        "send_rate_at_90_percent_of_limit": figures["send_msgs_per_s"] >= 0.9 * LIMIT_MPS,
        "never_above_limit": figures["max_in_any_1s"] <= LIMIT_MPS,
        "none_sent_twice": figures["duplicates_sent"] == 0,
        "stops_on_cancel": figures["sent_after_cancel"] == 0,
    }
    return figures


CHILD_COMMANDS = {"seed": _seed}


if __name__ == "__main__":
    benchmark_main(run, CHILD_COMMANDS)
