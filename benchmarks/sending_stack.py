"""What the ``send`` and ``fairness`` benchmarks share: the world they build, run and remove.

* a throwaway database: ``ponte_bench_<pid>`` on the PostgreSQL server of ``DATABASE_URL`` (created,
  migrated, dropped), or a SQLite file in a temporary folder when ``DATABASE_URL`` is not set;
* a child environment on it (``REDIS_URL`` as given, so Redis is cache, broker, pacing and lock store
  when set; else the filesystem broker and file pacing under the temporary folder);
* the fake Graph API (``fakes/graph_api.py``) as its own process, recording arrival times;
* a real Celery worker (``celery -A config worker -c 2``: two prefork processes, so both outbox
  dispatchers of ``OUTBOX_DISPATCHERS`` can run at once) and a sampler of its memory and CPU.

The benchmark process itself never imports Django: Django work (seeding, triggering, queuing) runs in
child processes (``python -m benchmarks.sending_stack <command>``, a JSON request on stdin and a JSON
answer on the last stdout line), so no connection to the throwaway database stays open when it is dropped.
"""

import contextlib
import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from celery import signals

from benchmarks.harness import emit

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "postgis"}
CELERY_CONCURRENCY = 2
SAMPLE_EVERY = 0.2  # seconds between memory samples


def log(name: str, message: str) -> None:
    sys.stderr.write(f"[{name}] {message}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------------------ the throwaway database


class Database:
    """Where the children's DATABASE_URL points, and how the benchmark reads figures back (no Django)."""

    def __init__(self, url: str, vendor: str, connect) -> None:
        self.url, self.vendor, self._connect = url, vendor, connect

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.vendor == "sqlite":
            sql = sql.replace("%s", "?")
        connection = self._connect()  # a connection per query, so none stays open
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            connection.close()

    def execute(self, sql: str, params: tuple = ()) -> None:
        """A write, committed."""
        if self.vendor == "sqlite":
            sql = sql.replace("%s", "?")
        connection = self._connect()
        try:
            connection.cursor().execute(sql, params)
            connection.commit()
        finally:
            connection.close()

    def status_counts(self, channel_id: int) -> Counter:
        rows = self.query(
            "SELECT status, COUNT(*) FROM conversations_message WHERE channel_id = %s GROUP BY status", (channel_id,)
        )
        return Counter(dict(rows))


@contextlib.contextmanager
def throwaway_database(folder: Path) -> Iterator[Database]:
    url = os.environ.get("DATABASE_URL", "")
    scheme = urlsplit(url).scheme.lower() if url else ""
    if not url or scheme.startswith("sqlite"):
        path = folder / "bench.sqlite3"
        yield Database(f"sqlite:///{path}", "sqlite", lambda: sqlite3.connect(path, timeout=30))
        return
    if scheme not in POSTGRES_SCHEMES:
        raise SystemExit(f"DATABASE_URL must be PostgreSQL or SQLite, not {scheme!r}")
    import psycopg

    parts = urlsplit(url)._replace(scheme="postgresql")
    name = f"ponte_bench_{os.getpid()}"

    def connect_to(database: str, **kwargs):
        return psycopg.connect(urlunsplit(parts._replace(path=f"/{database}")), **kwargs)

    def admin():
        try:
            return connect_to("postgres", autocommit=True)
        except psycopg.OperationalError:
            return connect_to("template1", autocommit=True)

    def drop() -> None:
        with admin() as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')

    drop()  # a leftover of a crashed run that had the same pid
    with admin() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(urlunsplit(urlsplit(url)._replace(path=f"/{name}")), "postgresql", lambda: connect_to(name))
    finally:
        drop()


def child_env(database: Database, folder: Path, tag: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database.url,
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "VAR_DIR": str(folder),
            "CACHE_KEY_PREFIX": tag,
            # Its own queues: a worker left over from an interrupted run must not take this run's tasks.
            "CELERY_QUEUE_PREFIX": f"{tag}.",
            "RATELIMIT_ENABLE": "false",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def broker_name(env: dict[str, str]) -> str:
    return urlsplit(env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or "filesystem://").scheme


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def django_child(env: dict[str, str], command: str, request: dict, *, timeout: float = 600) -> dict:
    """Run ``command`` (below) in a Django child process; its JSON answer."""
    return module_child("benchmarks.sending_stack", env, command, request, timeout=timeout, flag=())


def module_child(
    module: str, env: dict[str, str], command: str, request: dict, *, timeout: float = 600, flag=("--child",)
) -> dict:
    """Run ``python -m module --child command`` with ``request`` as its JSON input; its last line's JSON answer."""
    result = subprocess.run(
        [sys.executable, "-m", module, *flag, command],
        cwd=ROOT,
        env=env,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def log_tails(folder: Path, lines: int = 15) -> str:
    """The last ``lines`` of each log in ``folder``, for a benchmark's error message."""
    return "\n".join(
        f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        for path in sorted(folder.glob("*.log"))
    )


class DjangoChild:
    """A long-lived Django child that runs a command when told to (``start`` now, ``result`` later)."""

    def __init__(self, env: dict[str, str], command: str, request: dict, folder: Path) -> None:
        self.log_path = folder / f"{command}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sending_stack", command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()  # "ready" once Django is set up
        if line.strip() != "ready":
            raise RuntimeError(f"{command} did not start:\n{self.log_path.read_text(errors='replace')[-4000:]}")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self, timeout: float) -> dict:
        try:
            out, _ = self.process.communicate(timeout=timeout)
        finally:
            self._log.close()
        if self.process.returncode != 0:
            raise RuntimeError(f"child failed:\n{self.log_path.read_text(errors='replace')[-4000:]}")
        return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ the fake Graph API


class FakeGraph:
    """``python -m fakes.graph_api`` as its own process; ``stop()`` returns what it received."""

    def __init__(self, folder: Path, *, delay: float = 0.0, name: str = "graph_api") -> None:
        self.record = folder / f"{name}.json"
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fakes.graph_api", "--port", "0", "--record", str(self.record)]
            + (["--delay", str(delay)] if delay else []),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"the fake Graph API did not start:\n{self.log_path.read_text(errors='replace')}")
        self.url = line.split()[1]

    @property
    def pid(self) -> int:
        return self.process.pid

    def count(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_fake/count", timeout=5) as response:  # noqa: S310 (our loopback fake)
            return json.loads(response.read())

    def stop(self) -> list[dict]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if self.process.stdout:
            self.process.stdout.close()
        if not self.record.exists():
            raise RuntimeError(f"the fake Graph API wrote no record:\n{self.log_path.read_text(errors='replace')}")
        return json.loads(self.record.read_text())["requests"]


# ------------------------------------------------------------------------------ Celery workers


@signals.worker_ready.connect
def _announce_ready(**_: object) -> None:
    # Imported by the benchmark's worker (``-I benchmarks.sending_stack``): tells the benchmark it is ready.
    folder = os.environ.get("VAR_DIR")
    if folder:
        (Path(folder) / f"worker-ready-{os.getpid()}").write_text("ready")


def celery_worker_command(name: str, queue: str, tag: str, *extra: str) -> list[str]:
    """A Celery worker of ``queue`` (``-c CELERY_CONCURRENCY`` prefork, warnings only) named ``name``.

    As the deployment's pool of that queue runs it (``config.queues.pools``): the outbox's dispatchers and
    the inbound drainers each in worker processes of their own. ``queue`` may name several, comma-separated
    (``inbound,outbox``: one worker for both, as before the queues were apart).
    """
    queues = ",".join(f"{tag}.{each}" for each in queue.split(","))
    return [
        *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues),
        *("-c", str(CELERY_CONCURRENCY), "-l", "warning", "-n", name, *extra),
    ]


def pool_worker(
    env: dict[str, str], folder: Path, tag: str, *, name: str, queue: str, pool: str, concurrency: int
) -> subprocess.Popen:
    """A Celery worker of ``queue`` as the deployment's pool runs it (``pool``, ``concurrency``), its log in
    ``folder``."""
    command = [
        *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", f"{tag}.{queue}"),
        *("-P", pool, "-c", str(concurrency), "-l", "warning", "-n", f"{tag}-{name}@%h"),
    ]
    with (folder / f"worker-{name}.log").open("wb") as handle:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, seconds: float) -> None:
    """Until the web server at ``url`` answers (any status) or ``seconds`` ran out (RuntimeError)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).close()  # noqa: S310 (our loopback server)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the web server did not answer")


def benchmark_main(run, child_commands: dict) -> None:
    """A benchmark module run as a script: its ``run``, or (``--child NAME``) one of its commands in a Django
    child process, which reads its request as one JSON line and writes its answer as one."""
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        request = json.loads(sys.stdin.readline())
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django  # the child's own setup: the benchmark's parent process never loads Django

        django.setup()
        sys.stdout.write(json.dumps(child_commands[sys.argv[2]](request)) + "\n")
    else:
        emit(run(quick="--quick" in sys.argv))


class Workers:
    """``count`` outbox workers (each ``-c CELERY_CONCURRENCY`` prefork) on the child environment."""

    def __init__(self, env: dict[str, str], folder: Path, tag: str, *, count: int = 1) -> None:
        self.env, self.folder, self.tag = env, folder, tag
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        for index in range(count):
            log_path = folder / f"worker-{index}.log"
            with log_path.open("wb") as handle:
                process = subprocess.Popen(
                    celery_worker_command(f"{tag}-{index}@%h", "outbox", tag, "-I", "benchmarks.sending_stack"),
                    cwd=ROOT,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes.append(process)
            self.logs.append(log_path)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_alive()
            if all((self.folder / f"worker-ready-{pid}").exists() for pid in self.pids):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the workers were not ready within {seconds:.0f} s:\n{self.tail()}")

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited with code {process.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) for path in self.logs if path.exists()
        )

    def problems(self, limit: int = 12) -> str:
        """Warning, error and exception lines of the logs, counted by message."""
        counts: Counter = Counter()
        for path in self.logs:
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                if re.search(r"WARNING|ERROR|CRITICAL|^\S*(Error|Exception|Timeout)\b", line):
                    counts[re.sub(r"^[\d:, -]+|\[[0-9a-f-]{8,}\]|\b\d+\b", "", line).strip()[:200]] += 1
        return "\n".join(f"  {count:6d}  {message}" for message, count in counts.most_common(limit))

    def missed_slots(self) -> int:
        """Messages the engine put back in the queue because they would have started too late (its warnings)."""
        total = 0
        for path in self.logs:
            if path.exists():
                text = path.read_text(errors="replace")
                total += sum(int(n) for n in re.findall(r"(\d+) message\(s\) missed their send slot", text))
        return total

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # warm shutdown: running dispatchers finish their round
        deadline = time.monotonic() + 40
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is only its children
                process.wait(timeout=10)


def forget_redis_keys(prefix: str) -> None:
    """Drop what this run left in Redis: keys under CACHE_KEY_PREFIX (cache, locks, pacing) and its queue."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))[:100_000]
        # The run's own Celery queues (CELERY_QUEUE_PREFIX) and their bindings.
        keys += list(client.scan_iter(match=f"{prefix}.*", count=1000))
        keys += list(client.scan_iter(match=f"_kombu.binding.{prefix}.*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()
    except Exception as exc:  # cleanup only: never hide the figures for it
        log("bench", f"could not clean Redis keys {prefix}:*: {exc}")


# ------------------------------------------------------------------------------ memory and CPU (Linux /proc)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                data = handle.read()
        except OSError:
            continue
        ppid = int(data[data.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    return children


def process_tree(roots: list[int]) -> list[int]:
    children, found, stack = _children_map(), [], list(roots)
    while stack and len(found) < 10_000:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def machine_busy_seconds() -> float:
    with open("/proc/stat") as handle:
        ticks = [int(value) for value in handle.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


class MemorySampler(threading.Thread):
    """Every SAMPLE_EVERY s, the summed VmRSS (and PSS) of the worker processes and their children."""

    def __init__(self, roots: list[int]) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.roots = roots
        self.peak_rss_kb = self.peak_pss_kb = self.peak_processes = self.samples = 0
        self._stop_event = threading.Event()

    def sample(self) -> tuple[int, int]:
        pids = process_tree(self.roots)
        rss = sum(_status_kb(pid, "VmRSS:") for pid in pids)
        pss = sum(_pss_kb(pid) for pid in pids)
        self.peak_rss_kb, self.peak_pss_kb = max(self.peak_rss_kb, rss), max(self.peak_pss_kb, pss)
        self.peak_processes = max(self.peak_processes, len(pids))
        self.samples += 1
        return rss, pss

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_EVERY):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


class CpuMeter:
    """Cores used between ``start()`` and ``stop()`` by each process group, the rest (PostgreSQL, Redis, this
    benchmark) and the whole machine."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def _snapshot(self) -> dict[str, float]:
        snapshot = {name: cpu_seconds(process_tree(roots)) for name, roots in self.groups.items()}
        snapshot["machine"] = machine_busy_seconds()
        return snapshot

    def start(self) -> None:
        self.started, self.before = time.monotonic(), self._snapshot()

    def stop(self) -> dict[str, float]:
        elapsed, after = time.monotonic() - self.started, self._snapshot()
        # CPU seconds used by each group meanwhile (what a figure per message divides).
        self.seconds = {name: after[name] - self.before[name] for name in after}
        if not elapsed:
            return {}
        cores = {name: (after[name] - self.before[name]) / elapsed for name in after}
        cores["rest"] = max(0.0, cores["machine"] - sum(v for k, v in cores.items() if k != "machine"))
        return {name: round(value, 2) for name, value in cores.items()}


# ------------------------------------------------------------------------------ figures


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most arrivals in any window [t, t + width) over all the sorted ``times`` (two pointers)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile (with 20 samples, p99 is the largest)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = min(len(ordered), max(1, math.ceil(percent / 100 * len(ordered)))) - 1
    return ordered[rank]


def wait_drained(database: Database, channel_ids: list[int], expected: int, seconds: float, progress) -> Counter:
    """Poll until the channels have nothing queued or sending (or time runs out); the final status counts."""
    deadline, last_log = time.monotonic() + seconds, 0.0
    while True:
        counts: Counter = Counter()
        for channel_id in channel_ids:
            counts += database.status_counts(channel_id)
        pending = counts.get("queued", 0) + counts.get("sending", 0)
        now = time.monotonic()
        if now - last_log >= 2:
            progress(f"{counts.get('sent', 0)}/{expected} sent, {pending} pending")
            last_log = now
        if pending == 0 or now >= deadline:
            return counts
        time.sleep(0.5)  # a light poll: the benchmark must not be a noticeable part of PostgreSQL's load


# ------------------------------------------------------------------------------ child commands (Django)


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _seed(request: dict) -> dict:
    """A company, its Cloud channel on the fake, and ``count`` queued text messages, each to its own contact."""
    from django.db import transaction
    from django.utils import timezone

    from companies.models import Channel, Company
    from conversations.models import Contact, Message, MessageStatusChange
    from conversations.whatsapp import content as contents

    now = timezone.now()
    company = Company.objects.create(name=request["company"], meta_app_secret="bench-secret")
    # objects.create does not run validators: a limit above Meta's 1,000 (engine capacity runs) is allowed.
    channel = Channel.objects.create(
        company=company,
        kind=Channel.Kind.CLOUD,
        name=request["company"],
        phone_number_id=request["phone_number_id"],
        waba_id="1",
        access_token="EAAG-bench-token",
        api_base_url=request["url"],
        throughput_mps=request["mps"],
    )
    prefix, count, batch = request["prefix"], request["count"], 2000
    for start in range(0, count, batch):
        numbers = [f"{prefix}{i:08d}" for i in range(start, min(count, start + batch))]
        with transaction.atomic():
            contacts = Contact.objects.bulk_create(
                [Contact(company=company, phone=n, wa_id=n, last_inbound_at=now) for n in numbers]
            )
            content = contents.text("Sua fatura vence amanhã. Boleto: https://isp.example/b/123")
            messages = Message.objects.bulk_create(
                [
                    Message(
                        company=company,
                        channel=channel,
                        contact=contact,
                        direction=Message.Direction.OUTBOUND,
                        author=Message.Author.BUSINESS,
                        type="text",
                        text=content["text"],
                        data={"content": content},
                        status=Message.Status.QUEUED,
                        status_at=now,
                        next_attempt_at=now,
                    )
                    for contact in contacts
                ]
            )
            MessageStatusChange.objects.bulk_create(
                [MessageStatusChange(message=m, status=Message.Status.QUEUED, at=now) for m in messages]
            )
    from conversations.sending import pacing

    # The schedule's own rate: the most the engine may send on this channel (a little under its limit).
    return {"company_id": company.pk, "channel_id": channel.pk, "pacing_mps": 1 / pacing.interval_seconds(channel)}


def _trigger(request: dict) -> dict:
    """Send a task (``dispatch_outbox`` by default) ``times`` times through the broker, as beat and wake-ups do."""
    from config.celery import app

    at = time.time()
    for _ in range(request["times"]):
        app.send_task(request.get("task", "conversations.tasks.dispatch_outbox"))
    return {"at": at}


def _store_webhooks(request: dict) -> dict:
    """Store Meta webhook bodies (one per line of ``request["path"]``) as the intake does, waking no drain."""
    from companies.models import Company
    from conversations.models import WebhookEvent
    from conversations.services import webhook_events

    company = Company.objects.get(contract=request["contract"])
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    stored, chunk = 0, []
    with open(request["path"], encoding="utf-8") as bodies:
        for line in bodies:
            chunk.append(
                webhook_events.new_event(
                    company=company, source=WebhookEvent.Source.META, body=line.rstrip("\n"), headers=headers
                )
            )
            if len(chunk) == 1000:
                stored += len(webhook_events.store_webhooks(chunk, wake=False))
                chunk = []
    if chunk:
        stored += len(webhook_events.store_webhooks(chunk, wake=False))
    return {"stored": stored}


def _seed_outbound(request: dict) -> dict:
    """``count`` messages the company sent (status ``sent``, wamids ``{prefix}.{i}``), each to its own contact."""
    from django.db import transaction
    from django.utils import timezone

    from companies.models import Company
    from conversations.models import Contact, Message

    company = Company.objects.get(contract=request["contract"])
    channel = company.channels.get()
    now, prefix, count = timezone.now(), request["prefix"], request["count"]
    for start in range(0, count, 2000):
        numbers = [f"55219{i:08d}" for i in range(start, min(count, start + 2000))]
        with transaction.atomic():
            contacts = Contact.objects.bulk_create(
                [Contact(company=company, phone=n, wa_id=n, last_inbound_at=now) for n in numbers]
            )
            Message.objects.bulk_create(
                [
                    Message(
                        company=company,
                        channel=channel,
                        contact=contact,
                        direction=Message.Direction.OUTBOUND,
                        author=Message.Author.BUSINESS,
                        purpose=Message.Purpose.CAMPAIGN,
                        type="template",
                        provider_id=f"{prefix}.{start + offset}",
                        status=Message.Status.SENDING,
                        status_at=now,
                    )
                    for offset, contact in enumerate(contacts)
                ]
            )
    return {"seeded": count}


def _enqueue_samples(request: dict) -> dict:
    """Queue one message at a time through ``send_message`` (commit, then the kick), timing each."""
    from django.db import transaction
    from django.utils import timezone

    from companies.models import Channel
    from conversations.models import Contact
    from conversations.services.outbound import send_message
    from conversations.whatsapp import content as contents

    channel = Channel.objects.select_related("company").get(pk=request["channel_id"])
    now = timezone.now()
    contacts = [
        Contact.objects.create(company=channel.company, phone=n, wa_id=n, last_inbound_at=now)
        for n in (f"{request['prefix']}{i:08d}" for i in range(request["samples"]))
    ]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # "go"
    samples = []
    next_at = time.monotonic()
    for contact in contacts:
        next_at += request["interval"]
        while (delay := next_at - time.monotonic()) > 0:
            time.sleep(delay)
        at = time.time()
        with transaction.atomic():  # as the API does: the kick goes after the commit
            message = send_message(
                company=channel.company, to=contact, channel=channel, content=contents.text("Seu técnico chegou.")
            )
        samples.append({"to": contact.wa_id, "at": at, "committed_at": time.time(), "id": message.pk})
    return {"samples": samples}


COMMANDS = {
    "seed": _seed,
    "trigger": _trigger,
    "enqueue_samples": _enqueue_samples,
    "store_webhooks": _store_webhooks,
    "seed_outbound": _seed_outbound,
}


def _child_main(command: str) -> None:
    request = json.loads(sys.stdin.readline())
    _setup_django()
    answer = COMMANDS[command](request)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _child_main(sys.argv[1])
