"""Per-contact locks: one holder at a time for a name, different names in parallel, on both backends."""

import os
import threading
import time

import pytest

from config.cache import redis_client
from conversations import locks

REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture(params=["file", "redis"])
def backend(request, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("the Redis lock runs where REDIS_URL is set (CI's first pass)")
        settings.REDIS_URL = REDIS_URL
    else:
        settings.REDIS_URL = ""
    return request.param


def _hold_in_threads(names: list[str]) -> int:
    """Start one thread per name, each holding its lock for a moment; return the peak of concurrent holders."""
    holders, peak, guard = 0, 0, threading.Lock()

    def work(name: str) -> None:
        nonlocal holders, peak
        with locks.exclusive(name, wait=10):
            with guard:
                holders += 1
                peak = max(peak, holders)
            time.sleep(0.05)
            with guard:
                holders -= 1

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return peak


def test_one_contact_is_handled_one_at_a_time(backend):
    assert _hold_in_threads(["contact:1:5544998887777"] * 4) == 1


def test_different_contacts_run_in_parallel(backend):
    assert _hold_in_threads([f"contact:1:55449988877{i:02d}" for i in range(4)]) == 4


def test_waiting_too_long_raises(backend):
    with locks.exclusive("contact:busy"):
        errors = []

        def contender() -> None:
            try:
                with locks.exclusive("contact:busy", wait=0.1):
                    pass
            except locks.LockTimeout as exc:
                errors.append(exc)

        thread = threading.Thread(target=contender)
        thread.start()
        thread.join()
    assert len(errors) == 1


@pytest.mark.skipif(not REDIS_URL, reason="the Redis lock runs where REDIS_URL is set (CI's first pass)")
def test_a_dead_holders_redis_lock_expires(settings):
    settings.REDIS_URL = REDIS_URL
    held = redis_client().lock(f"{settings_prefix()}:lock:contact:dead", timeout=1)
    assert held.acquire()  # a holder that never releases
    with pytest.raises(locks.LockTimeout), locks.exclusive("contact:dead", wait=0.2):
        pass
    with locks.exclusive("contact:dead", wait=2):  # taken once the lease ran out
        pass


def settings_prefix() -> str:
    from django.conf import settings as django_settings

    return django_settings.CACHE_KEY_PREFIX
