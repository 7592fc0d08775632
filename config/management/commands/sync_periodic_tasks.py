"""Load ``config.celery.PERIODIC_TASKS`` into django-celery-beat (idempotent; run on every deploy)."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import PERIODIC_TASKS

MANAGED_MARKER = "[managed by sync_periodic_tasks]"


class Command(BaseCommand):
    help = "Create or update the periodic jobs declared in config/celery.py; disable ones no longer declared."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        names = set()
        for job in PERIODIC_TASKS:
            schedule, _ = IntervalSchedule.objects.get_or_create(
                every=job.every_seconds, period=IntervalSchedule.SECONDS
            )
            PeriodicTask.objects.update_or_create(
                name=job.name,
                defaults={
                    "task": job.task,
                    "interval": schedule,
                    "enabled": True,
                    # A run that waited its whole interval in the queue is dropped: the next one comes.
                    "expire_seconds": job.every_seconds,
                    "description": f"{job.why} {MANAGED_MARKER}",
                },
            )
            names.add(job.name)
        stale = PeriodicTask.objects.filter(description__endswith=MANAGED_MARKER).exclude(name__in=names)
        disabled = stale.update(enabled=False)
        self.stdout.write(f"{len(names)} periodic tasks in place, {disabled} stale ones disabled.")
