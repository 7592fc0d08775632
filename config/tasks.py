"""Platform tasks."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_CACHE_KEY = "worker:heartbeat"


@shared_task(ignore_result=True)
def heartbeat() -> str:
    """Record that a worker ran a task sent by beat; returns the time written."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=None)
    return now
