"""A real Celery worker, started as its own process, runs tasks sent through the configured broker
(kombu's filesystem transport on embedded defaults, Redis when REDIS_URL is set)."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from config.request_id import reset_request_id, set_request_id
from tests.integration.celery_probe import write_probe

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture
def worker_queue():
    queue = f"test-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-c",
            "1",
            "-P",
            "solo",
            "-I",
            "tests.integration.celery_probe",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield queue
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()


def _wait_for(path: Path, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"the worker did not run the task within {seconds}s")


def test_a_real_worker_runs_a_task_through_the_broker_with_the_request_id(worker_queue, tmp_path):
    probe = tmp_path / "probe.txt"
    token = set_request_id("req-through-broker-01")
    try:
        write_probe.apply_async(args=[str(probe)], queue=worker_queue)
    finally:
        reset_request_id(token)
    request_id, pid = _wait_for(probe, seconds=60).split()
    assert request_id == "req-through-broker-01"
    assert int(pid) != os.getpid()
