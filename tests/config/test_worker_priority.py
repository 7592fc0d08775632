"""Celery workers yield the CPU to the web server on shared cores (config.celery.lower_cpu_priority)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.cache import SharedPoolRedisCache

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import os
from config.celery import lower_cpu_priority
lower_cpu_priority(7)
try:
    fields = open(f"/proc/{os.getpid()}/autogroup").read().split()
except OSError:
    fields = []
print(os.nice(0), fields[-1] if fields else "-")
"""


def _own_autogroup_nice() -> str:
    """This process's autogroup niceness, or "-" where the kernel (or a sandbox) does not report one."""
    try:
        fields = Path(f"/proc/{os.getpid()}/autogroup").read_text().split()
    except OSError:
        return "-"
    return fields[-1] if fields else "-"


def _probe(*, new_session: bool) -> tuple[int, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=new_session,
        check=True,
    )
    niceness, autogroup = result.stdout.split()
    return int(niceness), autogroup


def test_a_worker_in_a_session_of_its_own_lowers_its_process_and_its_autogroup():
    start = os.nice(0)
    niceness, autogroup = _probe(new_session=True)
    assert niceness == min(start + 7, 19)
    if autogroup != "-":
        assert autogroup == "7"


@pytest.mark.skipif(_own_autogroup_nice() == "-", reason="no autogroup scheduling reported here")
def test_a_worker_sharing_the_session_of_the_web_server_leaves_their_autogroup_alone():
    ours = _own_autogroup_nice()
    niceness, autogroup = _probe(new_session=False)
    assert niceness == min(os.nice(0) + 7, 19)
    assert autogroup == ours


def test_every_redis_cache_instance_shares_one_client_per_server():
    # No command is sent: building clients and pools does not connect.
    first = SharedPoolRedisCache("redis://127.0.0.1:6379/9", {})._cache
    second = SharedPoolRedisCache("redis://127.0.0.1:6379/9", {})._cache
    other = SharedPoolRedisCache("redis://127.0.0.1:6379/8", {})._cache
    assert first.get_client() is second.get_client(write=True)
    assert first.get_client() is not other.get_client()


class _Worker:
    """What worker_init is sent with, as far as the priority is concerned: the queues it consumes."""

    def __init__(self, *queues: str) -> None:
        from types import SimpleNamespace

        self.app = SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=dict.fromkeys(queues))))


@pytest.mark.parametrize(
    ("queues", "lowered"),
    [
        (("outbox",), False),
        (("events",), False),
        (("conversation",), False),
        (("events", "conversation"), False),
        (("inbound",), True),
        (("media", "maintenance"), True),
        (("inbound", "outbox"), True),
        (("conversation", "maintenance"), True),
    ],
)
def test_only_the_outbox_events_and_conversation_workers_keep_their_priority(monkeypatch, settings, queues, lowered):
    import config.celery as celery_config

    settings.CELERY_WORKER_NICENESS = 10
    calls = []
    monkeypatch.setattr(celery_config, "lower_cpu_priority", calls.append)
    celery_config._yield_cpu_to_web(sender=_Worker(*queues))
    assert calls == ([10] if lowered else [])
