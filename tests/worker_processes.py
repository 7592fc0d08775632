"""Real Celery worker processes for integration tests, on the test's own PostgreSQL database.

Each worker runs in its own session (it and its pool die together), listens only where its test sends, and
leaves nothing behind: its queues purged, and the Redis keys under the test's names deleted.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings
from django.db import connection

from config.celery import app

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """The test database's URL, for the worker to use the same database as the test."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def worker_processes(
    *, tmp_path: Path, env: dict[str, str], queues: list[str], redis_patterns: list[str]
) -> Iterator[Callable[[], subprocess.Popen]]:
    """Yields ``start()``, which starts one more worker on ``queues`` (its log in ``tmp_path``); at the end
    the workers are stopped (killed if they hang), ``queues`` purged, the keys matching ``redis_patterns``
    deleted and a killed worker's unacknowledged task dropped."""
    processes: list[subprocess.Popen] = []
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "VAR_DIR": str(settings.VAR_DIR),  # the filesystem broker's folder, when there is no Redis
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
        **env,
    }

    def start() -> subprocess.Popen:
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                ",".join(queues),
                "-c",
                "1",
                "-l",
                "warning",
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        processes.append(process)
        return process

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with app.connection_for_write() as broker:  # no task of this test outlives it
            for name in queues:
                broker.default_channel.queue_purge(name)
        if settings.REDIS_URL:
            client = redis.Redis.from_url(settings.REDIS_URL)
            for pattern in redis_patterns:
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)
            for tag, raw in client.hgetall("unacked").items():  # a killed worker's task, held for redelivery
                _, _, routing_key = json.loads(raw)
                if routing_key in queues:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
            client.close()
