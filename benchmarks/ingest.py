"""Webhook ingest on the production-like stack: signed Meta webhooks against gunicorn + uvicorn workers.

The run builds its own world and removes it afterwards: a throwaway database (``ponte_bench_<pid>`` on
the PostgreSQL server of ``DATABASE_URL``, else a SQLite file in a temporary folder), migrated, with one
company and its Cloud channel; then ``gunicorn -k config.web_server.UvicornWorker -w 2`` (the image's
web server) and a Celery worker (``-c 2``) on that database, with ``REDIS_URL``'s Redis as cache and
broker when it is set (the filesystem broker in the temporary folder otherwise). Nothing here imports
Django: every Django process is a child, so no connection to the throwaway database is left open when
it is dropped.

Load comes from 2 processes x 10 threads = 20 keep-alive HTTP/1.1 connections to 127.0.0.1, each
request built from ``tests/fixtures/meta/message_text.json`` with its own wamid (one of 1,000
customers) and signed like Meta does (``X-Hub-Signature-256``). Three measured phases of D seconds
(10, or 2 with ``--quick``), after a warm-up whose webhooks are processed before measuring starts:

1. bare: ``GET /healthz`` (a view that only returns 200) as fast as 20 connections go: ``bare_per_s``;
2. max: webhooks as fast as 20 connections go: ``webhooks_per_s`` (200 answers only), ``p99_ms_at_max``;
3. half: webhooks paced at half of ``webhooks_per_s``, each connection on a fixed schedule (open loop):
   ``p50_ms`` and ``p99_ms``, measured from the scheduled send time, so a late answer also delays what
   the schedule says should already have gone.

Then the run waits (300 s at most, 90 with ``--quick``) until the workers have processed every stored
event, and compares the wamids answered 200 (``accepted``, warm-up included) with the messages in the
database: ``lost`` is how many accepted webhooks have no message. Last, processing alone, with the web
server idle (``processed_per_s``): 20,000 stored text webhooks (2,000 with ``--quick``) from the same
1,000 customers, then a campaign's receipts: sent, delivered and read for each of 10,000 messages
(1,000), 30,000 status webhooks; each set is stored as the intake stores it, then one drain is woken and
timed until every event is processed. Goals: texts at least ``webhooks_per_s``, statuses at least twice
that, nothing lost (every text a message, every campaign message ``read``). No Celery beat runs, so an event whose
task was dropped is not swept up again (the sweeper waits minutes) and counts as lost. Goals: ``ratio``
>= 0.5, ``p99_ms`` < 50 and ``lost`` == 0; missing them is reported in ``goals``, not as a failure.

The load generator uses raw sockets with requests assembled from pre-built bytes rather than
``http.client``: server, workers, database and generator share the machine's cores, and the cheaper the
client the less it takes from the server it measures (``cpu_cores_at_max`` shows who used what).
"""

import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.harness import emit
from benchmarks.sending_stack import (
    CELERY_CONCURRENCY,
    Database,
    celery_worker_command,
    child_env,
    django_child,
    forget_redis_keys,
    log,
    manage,
    percentile,
    throwaway_database,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "meta" / "message_text.json"
HOST = "127.0.0.1"
PROCESSES, THREADS = 2, 10
CONNECTIONS = PROCESSES * THREADS
WEB_WORKERS = 2
CUSTOMERS = 1000
REQUEST_TIMEOUT = 10.0
# Upper bound on requests per connection and second, so every loop is bounded in count as well as time.
MAX_PER_CONNECTION_PER_S = 5000


def _log(message: str) -> None:
    log("ingest", message)


# ------------------------------------------------------------------------------ HTTP client


class _Closed(Exception):
    """The server closed the connection before sending a byte of the answer."""


class _Connection:
    """One keep-alive HTTP/1.1 connection: send pre-built request bytes, read one whole answer."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.used = False

    def open(self) -> None:
        self.close()
        sock = socket.create_connection(self.address, timeout=REQUEST_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer, self.used = sock, b"", False

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None

    def exchange(self, request: bytes) -> int:
        """The status code of the answer; an idle connection the server closed is reopened once."""
        if self.sock is None:
            self.open()
        reused = self.used
        try:
            return self._exchange(request)
        except _Closed:
            if not reused:
                raise ConnectionError("closed before answering") from None
            self.open()  # the server's keep-alive timeout ran out while we were idle: nothing was sent
            try:
                return self._exchange(request)
            except _Closed:
                raise ConnectionError("closed before answering") from None

    def _exchange(self, request: bytes) -> int:
        assert self.sock is not None
        try:
            self.sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            raise _Closed from None
        self.used = True
        head = self._read_until(b"\r\n\r\n", first=True)
        status = int(head[9:12])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                self._read_exact(size + 2)
            self._read_until(b"\r\n")  # no trailers: the empty line that ends the body
        else:
            self._read_exact(length)
        if close:
            self.close()
        return status

    def _fill(self, first: bool) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            if first and not self.buffer:
                raise _Closed
            raise ConnectionError("connection closed mid-answer")
        self.buffer += data

    def _read_until(self, marker: bytes, *, first: bool = False) -> bytes:
        while (index := self.buffer.find(marker)) < 0:
            self._fill(first)
        found, self.buffer = self.buffer[:index], self.buffer[index + len(marker) :]
        return found

    def _read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill(False)
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found


class _Requests:
    """Pre-built request bytes: the /healthz GET, and signed webhooks from one body template."""

    def __init__(self, *, port: int, contract: str, secret: bytes, template: bytes, tag: str) -> None:
        host = f"{HOST}:{port}".encode()
        self.bare = b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: ponte-bench\r\n\r\n"
        self.head = (
            f"POST /webhooks/meta/?contract={contract} HTTP/1.1\r\n".encode()
            + b"Host: "
            + host
            + b"\r\nUser-Agent: facebookexternalua\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256="
        )
        self.secret = secret
        # The body split around its placeholders, so a request is a join and one HMAC.
        before_id, rest = template.split(b"__WAMID__")
        between, after_ts = rest.split(b"__TS__")
        self.parts = (before_id, between, after_ts)
        self.tag = tag

    def body(self, phase: str, connection: int, sequence: int) -> tuple[bytes, str]:
        """One customer's text (one of CUSTOMERS) with its own wamid, as Meta sends it; and the wamid."""
        wamid = f"wamid.{self.tag}.{phase}.{connection}.{sequence}"
        customer = (connection * 7919 + sequence * 104729) % CUSTOMERS
        phone = f"55119{customer:08d}".encode()
        before_id, between, after_ts = self.parts
        body = (
            before_id.replace(b"__FROM__", phone)
            + wamid.encode()
            + between.replace(b"__FROM__", phone)
            + str(int(time.time())).encode()
            + after_ts.replace(b"__FROM__", phone)
        )
        return body, wamid

    def webhook(self, phase: str, connection: int, sequence: int) -> tuple[bytes, str]:
        body, wamid = self.body(phase, connection, sequence)
        signature = hmac.new(self.secret, body, hashlib.sha256).hexdigest().encode()
        request = self.head + signature + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        return request, wamid


def _template() -> bytes:
    """The fixture with placeholders for the wamid, the customer's number and the timestamp (compact, as Meta sends)."""
    payload = json.loads(FIXTURE.read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = "__FROM__"
    message = value["messages"][0]
    message.update({"id": "__WAMID__", "from": "__FROM__", "timestamp": "__TS__"})
    # In this key order: contacts (__FROM__), then id, from, timestamp; the split in _Requests relies on it.
    text = json.dumps(payload, separators=(",", ":"))
    assert text.index("__WAMID__") < text.index("__TS__")
    return text.encode()


# ------------------------------------------------------------------------------ load generator processes


def _drive(spec: dict, requests: _Requests, address: tuple[str, int], index: tuple[int, int], out: list) -> None:
    """One connection through one phase; ``index`` is (slot in ``out``, connection number in the run)."""
    slot, global_index = index
    connection = _Connection(address)
    latencies, statuses, errors, accepted = array("d"), Counter(), Counter(), []
    with contextlib.suppress(OSError):
        connection.open()
    while (wait := spec["start_at"] - time.time()) > 0:
        time.sleep(min(wait, 0.05))
    t0 = time.perf_counter()
    end = t0 + spec["duration"]
    interval = spec["interval"]
    offset = interval * global_index / CONNECTIONS if interval else 0.0
    ingest = spec["kind"] == "ingest"
    sequence = 0
    while sequence < spec["max_requests"]:
        if interval:
            scheduled = t0 + offset + sequence * interval
            if scheduled >= end:
                break
            if (delay := scheduled - time.perf_counter()) > 0:
                time.sleep(delay)
        else:
            scheduled = time.perf_counter()
            if scheduled >= end:
                break
        if ingest:
            request, wamid = requests.webhook(spec["name"], global_index, sequence)
        else:
            request, wamid = requests.bare, ""
        sequence += 1
        try:
            status = connection.exchange(request)
        except (OSError, ValueError) as exc:  # refused, reset, timed out, or an answer we cannot read
            errors[type(exc).__name__] += 1
            connection.close()
            continue
        latencies.append(time.perf_counter() - scheduled)
        statuses[status] += 1
        if status == 200 and wamid:
            accepted.append(wamid)
    finished = spec["start_at"] + (time.perf_counter() - t0)
    connection.close()
    out[slot] = {
        "latencies": latencies,
        "statuses": statuses,
        "errors": errors,
        "accepted": accepted,
        "sent": sequence,
        "finished": finished,
    }


def _generator_main(pipe, process_index: int, port: int, contract: str, secret: bytes, template: bytes, tag: str):
    """A load process: runs THREADS connections through each phase it is sent, until it is sent None."""
    # Interrupted, the benchmark cleans up; this process just ends, without a traceback.
    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):
        _generate(pipe, process_index, port, contract, secret, template, tag)


def _generate(pipe, process_index: int, port: int, contract: str, secret: bytes, template: bytes, tag: str):
    requests = _Requests(port=port, contract=contract, secret=secret, template=template, tag=tag)
    address = (HOST, port)
    pipe.send("ready")
    while (spec := pipe.recv()) is not None:
        out: list = [None] * THREADS
        threads = [
            threading.Thread(
                target=_drive, args=(spec, requests, address, (slot, process_index * THREADS + slot), out), daemon=True
            )
            for slot in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(spec["duration"] + 2 * REQUEST_TIMEOUT + 30)
        merged = {
            "latencies": array("d"),
            "statuses": Counter(),
            "errors": Counter(),
            "accepted": [],
            "sent": 0,
            "finished": spec["start_at"],
        }
        for result in out:
            if result is None:  # a thread still stuck: counted as an error, not waited for
                merged["errors"]["stuck"] += 1
                continue
            merged["latencies"].extend(result["latencies"])
            merged["statuses"].update(result["statuses"])
            merged["errors"].update(result["errors"])
            merged["accepted"].extend(result["accepted"])
            merged["sent"] += result["sent"]
            merged["finished"] = max(merged["finished"], result["finished"])
        pipe.send(merged)


class _LoadGenerator:
    def __init__(self, *, port: int, contract: str, secret: bytes, tag: str) -> None:
        context = multiprocessing.get_context("spawn")
        template = _template()
        self.pipes, self.processes = [], []
        for index in range(PROCESSES):
            parent, child = context.Pipe()
            process = context.Process(
                target=_generator_main, args=(child, index, port, contract, secret, template, tag), daemon=True
            )
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)
        for pipe in self.pipes:
            if not pipe.poll(60):
                raise RuntimeError("a load generator process did not start")
            pipe.recv()

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid]

    def run(self, name: str, kind: str, *, duration: float, rate: float | None = None, max_requests=None) -> dict:
        """One phase on every connection at once; the merged figures (rate over the phase's own span)."""
        interval = CONNECTIONS / rate if rate else None
        spec = {
            "name": name,
            "kind": kind,
            "start_at": time.time() + 0.5,
            "duration": duration,
            "interval": interval,
            "max_requests": max_requests or max(1, int(duration * MAX_PER_CONNECTION_PER_S)),
        }
        for pipe in self.pipes:
            pipe.send(spec)
        while (wait := spec["start_at"] - time.time()) > 0:
            time.sleep(wait)
        cpu_before = _CpuSnapshot()
        results = []
        for pipe in self.pipes:
            if not pipe.poll(duration + 2 * REQUEST_TIMEOUT + 60):
                raise RuntimeError(f"the load generator did not finish phase {name}")
            results.append(pipe.recv())
        cpu_after = _CpuSnapshot()
        latencies = [value for result in results for value in result["latencies"]]
        statuses = sum((result["statuses"] for result in results), Counter())
        errors = sum((result["errors"] for result in results), Counter())
        for status, count in statuses.items():
            if status != 200:
                errors[f"HTTP {status}"] += count
        elapsed = max(result["finished"] for result in results) - spec["start_at"]
        ok = statuses.get(200, 0)
        return {
            "name": name,
            "ok": ok,
            "sent": sum(result["sent"] for result in results),
            "errors": dict(errors),
            "error_count": sum(errors.values()),
            "accepted": [wamid for result in results for wamid in result["accepted"]],
            "elapsed": elapsed,
            "rate": ok / elapsed if elapsed > 0 else 0.0,
            "p50_ms": _milliseconds(percentile(latencies, 50)),
            "p99_ms": _milliseconds(percentile(latencies, 99)),
            "cpu": (cpu_before, cpu_after),
        }

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(None)
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)


def _milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# ------------------------------------------------------------------------------ CPU accounting (Linux /proc)


class _CpuSnapshot:
    """CPU seconds per process (with its reaped children) and for the whole machine, from Linux /proc."""

    def __init__(self) -> None:
        self.at = time.time()
        self.processes: dict[int, tuple[int, str, float]] = {}  # pid: (parent pid, command, seconds)
        self.machine_busy = 0.0
        try:
            tick = os.sysconf("SC_CLK_TCK")
            with open("/proc/stat") as handle:
                ticks = [int(value) for value in handle.readline().split()[1:]]
            entries = os.listdir("/proc")
        except (OSError, ValueError, AttributeError):
            return  # not Linux: no breakdown
        self.machine_busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / tick  # all but idle and iowait
        for name in entries:
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as handle:
                    data = handle.read()
            except OSError:
                continue
            close = data.rfind(")")
            fields = data[close + 2 :].split()
            # utime + stime, and cutime + cstime: children that exited (short-lived PostgreSQL backends).
            seconds = sum(int(value) for value in fields[11:15]) / tick
            self.processes[int(name)] = (int(fields[1]), data[data.find("(") + 1 : close], seconds)


def _cpu_cores(before: _CpuSnapshot, after: _CpuSnapshot, roots: dict[str, list[int]]) -> dict[str, float]:
    """Cores used between two snapshots: by each process tree under ``roots``, PostgreSQL, Redis, the machine."""
    elapsed, old, new = after.at - before.at, before.processes, after.processes
    if not new or elapsed <= 0:
        return {}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in new.items():
        children.setdefault(ppid, []).append(pid)

    def used(pids) -> float:
        return sum(new[pid][2] - old.get(pid, (0, "", 0.0))[2] for pid in set(pids) if pid in new)

    def tree(pid: int) -> list[int]:
        found, stack = [], [pid]
        while stack and len(found) < 10_000:
            current = stack.pop()
            found.append(current)
            stack.extend(children.get(current, []))
        return found

    cores = {group: used([pid for root in pids for pid in tree(root)]) for group, pids in roots.items()}
    cores["postgres"] = used([pid for pid, (_, comm, _) in new.items() if comm == "postgres"])
    cores["redis"] = used([pid for pid, (_, comm, _) in new.items() if comm.startswith("redis-server")])
    machine = after.machine_busy - before.machine_busy
    # Approximate: a process that ended in the window brings its whole life (its parent's cutime), so
    # PostgreSQL backends of other clients can overstate "postgres"; no group is shown above the machine.
    cores = {group: min(value, machine) for group, value in cores.items()}
    cores["other"] = max(0.0, machine - sum(cores.values()))
    cores["machine"] = machine
    return {group: round(value / elapsed, 2) for group, value in cores.items()}


# ------------------------------------------------------------------------------ the throwaway database


# ------------------------------------------------------------------------------ the stack


def _create_tenant(env: dict[str, str], secret: str) -> str:
    """One company with this Meta app secret and the Cloud channel the fixture's phone_number_id names."""
    value = json.loads(FIXTURE.read_text())["entry"][0]
    phone_number_id = value["changes"][0]["value"]["metadata"]["phone_number_id"]
    code = (
        "from companies.models import Channel, Company\n"
        f"company = Company.objects.create(name='Bench ISP', meta_app_secret={secret!r})\n"
        "Channel.objects.create(company=company, kind=Channel.Kind.CLOUD, name='Bench', "
        f"phone_number_id={phone_number_id!r}, waba_id={value['id']!r}, access_token='EAAG-bench')\n"
        "print('contract', company.contract)\n"
    )
    for line in reversed(manage(env, "shell", "-c", code).splitlines()):
        if line.startswith("contract "):
            return line.split()[1]
    raise RuntimeError("the company was not created")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class _Stack:
    """gunicorn (uvicorn workers) and Celery workers (by default one of the inbound queue), with the child
    environment."""

    def __init__(
        self, env: dict[str, str], folder: Path, port: int, tag: str, workers: dict[str, list[str]] | None = None
    ) -> None:
        self.env, self.folder, self.port = env, folder, port
        self.commands = {
            "server": [
                sys.executable,
                "-m",
                "gunicorn",
                "config.asgi:application",
                "-k",
                "config.web_server.UvicornWorker",
                "-w",
                str(WEB_WORKERS),
                "-b",
                f"{HOST}:{port}",
                "--log-level",
                "warning",
                "--graceful-timeout",
                "10",
            ],
            **(workers or {"worker": celery_worker_command(f"{tag}@%h", "inbound", tag)}),
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self) -> None:
        for name, command in self.commands.items():
            self.logs[name] = self.folder / f"{name}.log"
            with self.logs[name].open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}:\n{self.tail(name)}")

    def wait_healthy(self, seconds: float) -> None:
        import http.client

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_alive()
            connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer /healthz within {seconds:.0f} s:\n{self.tail('server')}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def problems(self, name: str, limit: int = 12) -> str:
        """The log's warning, error and exception lines, counted by message (times and request ids left out)."""
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        counts: Counter = Counter()
        for line in path.read_text(errors="replace").splitlines():
            if re.search(r"WARNING|ERROR|CRITICAL|^\S*(Error|Exception|Timeout)\b", line):
                counts[re.sub(r"^[\d:, -]+|\[[0-9a-f-]{8,}\]|\b\d+\b", "", line).strip()[:200]] += 1
        return "\n".join(f"  {count:6d}  {message}" for message, count in counts.most_common(limit))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is only its children
                process.wait(timeout=10)

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}


# ------------------------------------------------------------------------------ counting


def _event_counts(database: Database) -> dict[str, int]:
    rows = database.query("SELECT state, COUNT(*) FROM conversations_webhookevent GROUP BY state")
    return {state: count for state, count in rows}


def _wait_processed(database: Database, accepted: int, seconds: float) -> tuple[dict[str, int], float]:
    """Poll until every stored event is processed or failed, at least ``accepted`` of them; (counts, seconds)."""
    started = time.monotonic()
    deadline = started + seconds
    while True:
        counts = _event_counts(database)
        done = counts.get("processed", 0) + counts.get("failed", 0)
        if (sum(counts.values()) == done and done >= accepted) or time.monotonic() >= deadline:
            return counts, time.monotonic() - started
        time.sleep(0.25)


# ------------------------------------------------------------------------------ processing with the web server idle

STATUS_FIXTURE = ROOT / "tests" / "fixtures" / "meta" / "status_delivered.json"
# A campaign's receipts: every message's sent, then delivered, then read, as Meta sends them in a flood.
RECEIPTS = ("sent", "delivered", "read")


def _status_bodies(prefix: str, messages: int) -> list[bytes]:
    payload = json.loads(STATUS_FIXTURE.read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    template = value["statuses"][0]
    at = int(time.time())
    bodies = []
    for status in RECEIPTS:
        for i in range(messages):
            receipt = {**template, "id": f"{prefix}.{i}", "status": status, "timestamp": str(at)}
            receipt["recipient_id"] = f"55219{i:08d}"
            if status == "read":  # Meta prices on sent and delivered only
                receipt.pop("pricing", None)
                receipt.pop("conversation", None)
            value["statuses"] = [receipt]
            bodies.append(json.dumps(payload, separators=(",", ":")).encode())
        at += 1
    return bodies


def _pending_events(database: Database) -> int:
    rows = database.query("SELECT COUNT(*) FROM conversations_webhookevent WHERE state IN ('pending', 'processing')")
    return rows[0][0]


def _processing(stack: _Stack, database: Database, env: dict, folder: Path, name: str, bodies: list[bytes]) -> dict:
    """Store ``bodies`` as the intake would (no drain woken), then wake one drain: events processed per second.

    The web server answers nothing meanwhile; the drain's full batches wake the other worker process, as a
    backlog does.
    """
    path = folder / f"{name}.jsonl"
    path.write_bytes(b"\n".join(bodies) + b"\n")
    before = _event_counts(database)
    stored = django_child(env, "store_webhooks", {"contract": stack.contract, "path": str(path)})["stored"]
    roots = {"workers": [stack.pids["worker"]], "server": [stack.pids["server"]]}
    cpu_before = _CpuSnapshot()
    started = time.monotonic()
    django_child(env, "trigger", {"task": "conversations.tasks.drain_webhook_events", "times": 1})
    deadline = started + 600
    while _pending_events(database) and time.monotonic() < deadline:
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    cores = _cpu_cores(cpu_before, _CpuSnapshot(), roots)
    after = _event_counts(database)
    processed = after.get("processed", 0) - before.get("processed", 0)
    failed = after.get("failed", 0) - before.get("failed", 0)
    rate = processed / elapsed if elapsed > 0 else 0.0
    _log(f"processing {name}: {processed} of {stored} in {elapsed:.2f} s = {rate:.0f}/s; cores used: {cores}")
    return {"stored": stored, "processed": processed, "failed": failed, "seconds": elapsed, "rate": rate, "cpu": cores}


# ------------------------------------------------------------------------------ the run


def run(*, quick: bool) -> dict:
    seconds = 2.0 if quick else 10.0
    drain_limit = 90.0 if quick else 300.0
    tag = f"bench-{os.getpid()}"
    secret = secrets.token_hex(16)
    folder = Path(tempfile.mkdtemp(prefix="ponte-ingest-"))
    try:
        with throwaway_database(folder) as database:
            env = child_env(database, folder, tag)
            broker = urlsplit(env.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem://").scheme
            _log(f"database {database.vendor}, broker {broker}: migrating")
            manage(env, "migrate", "--noinput")
            contract = _create_tenant(env, secret)
            stack = _Stack(env, folder, _free_port(), tag)
            stack.contract = contract
            try:
                stack.start()
                stack.wait_healthy(90)
                figures = _measure(stack, database, contract, secret.encode(), tag, seconds, drain_limit)
                figures |= _measure_processing(stack, database, env, folder, tag, quick=quick, intake=figures)
            finally:
                stack.stop()
                for name in stack.processes:
                    if summary := stack.problems(name):
                        _log(f"{name} log, warnings and errors by count:\n{summary}")
    finally:
        forget_redis_keys(tag)
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "ingest",
        **figures,
        "database": database.vendor,
        "broker": broker,
        "server": f"gunicorn + {WEB_WORKERS} uvicorn workers",
        "celery_concurrency": CELERY_CONCURRENCY,
        "connections": CONNECTIONS,
        "duration_s": seconds,
    }


def _measure(
    stack: _Stack, database: Database, contract: str, secret: bytes, tag: str, seconds: float, drain_limit: float
) -> dict:
    load = _LoadGenerator(port=stack.port, contract=contract, secret=secret, tag=tag)
    try:
        # Warm-up: every connection, both server processes, the worker pool and the caches, end to end.
        load.run("warmup-bare", "bare", duration=1.0)
        warmup = load.run("warmup", "ingest", duration=1.0, max_requests=1)
        counts, waited = _wait_processed(database, warmup["ok"], 60)
        if warmup["ok"] == 0 or counts.get("processed", 0) == 0:
            stack.check_alive()
            raise RuntimeError(
                f"warm-up: {warmup['ok']} accepted, events {counts}, errors {warmup['errors']}\n"
                f"{stack.tail('server')}\n{stack.tail('worker')}"
            )
        if counts.get("processed", 0) < warmup["ok"]:
            _log(f"warm-up: only {counts.get('processed', 0)} of {warmup['ok']} processed after {waited:.0f} s")
        # What the machine does while this stack idles: other load skews every figure below.
        quiet = _CpuSnapshot()
        time.sleep(1.0)
        background = _cpu_cores(quiet, _CpuSnapshot(), {}).get("machine", 0.0)
        _log(
            f"warm-up: {warmup['ok']} webhooks accepted and processed; {background:.2f} cores busy while idle"
            f"{' (other load on this machine!)' if background > 0.25 else ''}; measuring {seconds:g} s per phase"
        )
        roots = {"server": [stack.pids["server"]], "workers": [stack.pids["worker"]], "client": load.pids}
        bare = load.run("bare", "bare", duration=seconds)
        _log(_describe(bare) + f"; cores used: {_cpu_cores(*bare['cpu'], roots)}")
        at_max = load.run("max", "ingest", duration=seconds)
        cpu_at_max = _cpu_cores(*at_max["cpu"], roots)
        _log(_describe(at_max) + f"; cores used: {cpu_at_max}")
        target = at_max["rate"] / 2
        half = load.run("half", "ingest", duration=seconds, rate=target) if target > 0 else None
        if half is not None:
            _log(_describe(half) + f" (target {target:.0f}/s)")
    finally:
        load.close()

    phases = [warmup, at_max] + ([half] if half else [])
    accepted = {wamid for phase in phases for wamid in phase["accepted"]}
    loaded_at = time.monotonic()
    counts, _ = _wait_processed(database, len(accepted), drain_limit)
    drain_s = time.monotonic() - loaded_at
    found = {row[0] for row in database.query("SELECT provider_id FROM conversations_message")}
    lost = len(accepted - found)
    _log(f"events {counts} after {drain_s:.1f} s; {len(found)} messages for {len(accepted)} accepted, {lost} lost")

    ratio = at_max["rate"] / bare["rate"] if bare["rate"] else 0.0
    p99 = half["p99_ms"] if half else None
    return {
        "webhooks_per_s": round(at_max["rate"], 1),
        "bare_per_s": round(bare["rate"], 1),
        "ratio": round(ratio, 3),
        "p50_ms": half["p50_ms"] if half else None,
        "p99_ms": p99,
        "accepted": len(accepted),
        "processed": counts.get("processed", 0),
        "lost": lost,
        "failed": counts.get("failed", 0),
        "pending": sum(counts.values()) - counts.get("processed", 0) - counts.get("failed", 0),
        "errors": at_max["error_count"] + (half["error_count"] if half else 0) + bare["error_count"],
        "drain_s": round(drain_s, 1),
        "p50_ms_at_max": at_max["p50_ms"],
        "p99_ms_at_max": at_max["p99_ms"],
        "half_rate_target_per_s": round(target, 1),
        "half_rate_achieved_per_s": round(half["rate"], 1) if half else 0.0,
        "cpu_cores_at_max": cpu_at_max,
        "background_cores": round(background, 2),
        "goals": {
            "ratio_at_least_0.5": ratio >= 0.5,
            "p99_under_50ms_at_half_rate": p99 is not None and p99 < 50,
            "none_lost": lost == 0 and len(accepted) > 0,
        },
    }


def _measure_processing(
    stack: _Stack, database: Database, env: dict, folder: Path, tag: str, *, quick: bool, intake: dict
) -> dict:
    """Texts, then a campaign's receipts, processed by the worker with the web server idle."""
    texts_count = 2000 if quick else 20000
    requests = _Requests(port=stack.port, contract=stack.contract, secret=b"", template=_template(), tag=tag)
    text_bodies = [requests.body("processing", i % CONNECTIONS, i // CONNECTIONS) for i in range(texts_count)]
    texts = _processing(stack, database, env, folder, "texts", [body for body, _ in text_bodies])
    wamids = {wamid for _, wamid in text_bodies}
    found = {row[0] for row in database.query("SELECT provider_id FROM conversations_message WHERE direction = 'in'")}
    texts_lost = len(wamids - found)

    messages = 1000 if quick else 10000
    prefix = f"wamid.{tag}.out"
    django_child(env, "seed_outbound", {"contract": stack.contract, "prefix": prefix, "count": messages})
    receipts = _processing(stack, database, env, folder, "statuses", _status_bodies(prefix, messages))
    read = database.query(
        "SELECT COUNT(*) FROM conversations_message WHERE provider_id LIKE %s AND status = 'read'", (f"{prefix}.%",)
    )[0][0]
    history = database.query(
        "SELECT COUNT(*) FROM conversations_messagestatuschange c JOIN conversations_message m ON m.id = c.message_id "
        "WHERE m.provider_id LIKE %s",
        (f"{prefix}.%",),
    )[0][0]
    webhooks = intake["webhooks_per_s"]
    return {
        "processed_per_s": {"texts": round(texts["rate"], 1), "statuses": round(receipts["rate"], 1)},
        "processing": {
            "texts": {**{k: round(v, 2) if isinstance(v, float) else v for k, v in texts.items()}, "lost": texts_lost},
            "statuses": {
                **{k: round(v, 2) if isinstance(v, float) else v for k, v in receipts.items()},
                "messages": messages,
                "ended_read": read,
                "history_entries": history,
            },
        },
        "goals": {
            **intake["goals"],
            "texts_processed_at_least_webhooks_per_s": texts["rate"] >= webhooks,
            "statuses_processed_at_least_twice_webhooks_per_s": receipts["rate"] >= 2 * webhooks,
            "processing_lost_nothing": texts_lost == 0
            and read == messages
            and texts["failed"] == receipts["failed"] == 0,
        },
    }


def _describe(phase: dict) -> str:
    errors = f", errors {phase['errors']}" if phase["errors"] else ""
    return (
        f"{phase['name']}: {phase['ok']} ok in {phase['elapsed']:.2f} s = {phase['rate']:.0f}/s, "
        f"p50 {phase['p50_ms']} ms, p99 {phase['p99_ms']} ms{errors}"
    )


if __name__ == "__main__":
    emit(run(quick="--quick" in sys.argv))
