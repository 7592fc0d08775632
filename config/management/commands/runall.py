"""Run the whole product in the foreground: ASGI web server, one Celery worker per pool and beat; Ctrl-C stops all."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from config import queues


class Command(BaseCommand):
    help = "Start web (uvicorn), the Celery workers (one per pool) and Celery beat; stop them all on Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options) -> None:
        python = sys.executable
        commands = {
            # No access log: uvicorn writes it outside our masking filter (webhook URLs carry secrets);
            # Django still logs every 4xx/5xx through it.
            "web": [
                python,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                host,
                "--port",
                str(port),
                "--no-access-log",
            ],
            **{f"worker-{pool.name}": queues.worker_command(pool, python=python) for pool in queues.pools()},
            "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "info"],
        }
        processes = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}  # noqa: S603
        base = f"http://{host}:{port}"
        workers = ", ".join(f"{p.name} ({'+'.join(p.queues)}, {p.concurrency} {p.pool})" for p in queues.pools())
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Ponte is starting ({settings.DJANGO_ENV}; database {settings.DATABASES['default']['ENGINE']},"
                f" broker {settings.CELERY_BROKER_URL.split('://')[0]})\n"
                f"  Admin     {base}/admin/\n"
                f"  API docs  {base}/api/docs/\n"
                f"  Health    {base}/healthz  {base}/readyz\n"
                f"  Workers   {workers}\n"
                f"  Demo login and API key: printed above by load_demo. Ctrl-C stops everything.\n"
            )
        )
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the others.")
                        exit_code, stopping = process.returncode or 1, True
                        break
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        sys.exit(exit_code)
