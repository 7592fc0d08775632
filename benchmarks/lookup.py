"""Company lookups as webhooks do them: cached (encrypted entry in the cache) against a database query.

Figures: lookups per second through ``companies.cache`` (warm) and through the ORM, and the ratio.
"""

import time

from benchmarks.harness import emit, setup_django, throwaway_database


def _rate(fn, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            fn()
        count += 100
    return count / elapsed


def run(*, quick: bool) -> dict:
    setup_django()
    from django.conf import settings

    from companies import cache
    from companies.models import Channel, Company

    seconds = 0.5 if quick else 3.0
    with throwaway_database():
        company = Company.objects.create(name="Bench", meta_app_secret="s")
        Channel.objects.create(
            company=company, kind="cloud", name="c", phone_number_id="123456789", waba_id="1", access_token="EAAGx"
        )
        assert cache.get_channel_by_phone_number_id("123456789") is not None
        cached = _rate(lambda: cache.get_channel_by_phone_number_id("123456789"), seconds)
        uncached = _rate(
            lambda: Channel.objects.select_related("company").filter(phone_number_id="123456789").first(), seconds
        )
    return {
        "benchmark": "lookup",
        "cache_backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "cached_per_s": round(cached),
        "db_per_s": round(uncached),
        "ratio": round(cached / uncached, 2),
    }


if __name__ == "__main__":
    emit(run(quick=False))
