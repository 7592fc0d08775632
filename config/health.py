"""``/healthz``: the process answers. ``/readyz``: the database, the cache and the broker answer too."""

import os
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app
from config.errors import error_response, require_methods
from config.tasks import HEARTBEAT_CACHE_KEY

CHECK_TIMEOUT_SECONDS = 3


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key, value = f"readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("value written was not read back")
    cache.delete(key)


def check_broker() -> None:
    transport_options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    folder = transport_options.get("data_folder_in")
    if folder and not os.access(folder, os.W_OK):
        raise RuntimeError(f"broker folder {folder} is not writable")
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


@never_cache
@require_methods("GET", "HEAD")
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_methods("GET", "HEAD")
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which, without internals
            results[name] = f"failed: {type(exc).__name__}"
    failed = [name for name, result in results.items() if result != "ok"]
    if failed:
        return error_response(503, "not_ready", f"Not ready: {', '.join(failed)} unreachable.", {"checks": results})
    body: dict[str, object] = {"status": "ok", "checks": results}
    # Informational: workers write it every 30 s through beat. Only a shared cache (Redis) carries it
    # between processes; a local-memory cache would always show none.
    if settings.CACHE_IS_SHARED:
        body["worker_last_heartbeat"] = cache.get(HEARTBEAT_CACHE_KEY)
    return JsonResponse(body)
