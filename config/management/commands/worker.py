"""Run one Celery worker of a pool (``config.queues.pools``): ``manage.py worker inbound``."""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from config import queues


class Command(BaseCommand):
    help = "Start one Celery worker of the named pool (its queues, execution pool and concurrency)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("pool", choices=[pool.name for pool in queues.pools()])
        parser.add_argument("--loglevel", default="info")

    def handle(self, *args, pool: str, loglevel: str, **options) -> None:
        chosen = next(p for p in queues.pools() if p.name == pool)
        command = queues.worker_command(chosen, python=sys.executable, loglevel=loglevel)
        self.stdout.write(f"{chosen.name}: {' '.join(command[3:])}")
        self.stdout.flush()
        try:
            os.execv(command[0], command)  # noqa: S606 (our own interpreter and arguments)
        except OSError as exc:
            raise CommandError(f"Could not start the worker: {exc}") from exc
