"""Per-contact locks: one holder at a time for a name, different names in parallel, on both backends."""

import threading
import time

import pytest

from conversations import locks


@pytest.fixture(params=["file", "cache"])
def backend(request, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CACHE_IS_SHARED = request.param == "cache"
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


def test_a_dead_holders_cache_lock_expires(settings):
    from django.core.cache import cache

    settings.CACHE_IS_SHARED = True
    cache.add("lock:contact:dead", "someone-else", timeout=1)  # a holder that never released
    time.sleep(1.1)
    with locks.exclusive("contact:dead", wait=1):
        pass
