"""Run the whole product in the foreground: ASGI web server, one Celery worker per pool and beat; Ctrl-C stops all."""

import argparse
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from companies.models import Company
from config import demo, queues


class Command(BaseCommand):
    help = "Start web (uvicorn), the Celery workers (one per pool) and Celery beat; stop them all on Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--fakes",
            action=argparse.BooleanOptionalAction,
            default=settings.LOCAL_FAKES,
            help="also start the fakes of the Graph API and of Evolution the demo's channels use (LOCAL_FAKES)",
        )

    def handle(self, *args, host: str, port: int, fakes: bool, **options) -> None:
        python = sys.executable
        # The fakes post their webhooks to this server, on an address that reaches it from this machine.
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"  # noqa: S104
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
            **(fake_commands(python, base) if fakes else {}),
        }
        processes = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}  # noqa: S603
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
        if fakes:
            self.stdout.write(demo_banner(base))
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


def fake_commands(python: str, base: str) -> dict[str, list[str]]:
    """The fakes of the Graph API and of Evolution, reporting to this server as the demo company's providers."""
    state = settings.VAR_DIR / "fakes" / "graph_api_templates.json"
    return {
        "fake-graph-api": [
            python,
            "-m",
            "fakes.graph_api",
            "--port",
            str(settings.FAKE_GRAPH_API_PORT),
            "--webhook",
            f"{base}/webhooks/meta/?contract={demo.CONTRACT}",
            "--app-secret",
            demo.META_APP_SECRET,
            "--waba-id",
            demo.WABA_ID,
            "--display-number",
            demo.CLOUD_NUMBER,
            "--state",
            str(state),
        ],
        "fake-evolution": [
            python,
            "-m",
            "fakes.evolution",
            "--port",
            str(settings.FAKE_EVOLUTION_PORT),
            "--api-key",
            demo.EVOLUTION_API_KEY,
            "--webhook",
            f"{base}/webhooks/evolution/{demo.CONTRACT}/",
            "--number",
            demo.EVOLUTION_NUMBER,
            "--instance",
            demo.EVOLUTION_INSTANCE,
        ],
    }


def demo_banner(base: str) -> str:
    """What a newcomer needs to talk to the demo company: its channels, webhook URLs and secrets."""
    company = Company.objects.filter(contract=demo.CONTRACT).first()
    if company is None:
        return "  Fakes     no demo company: `make demo` creates it\n"
    channels = "\n".join(
        f"              {channel.pk}  {channel.name} ({channel.display_number})"
        for channel in company.channels.order_by("pk")
    )
    return (
        f"  Fakes     Graph API {demo.graph_api_url()}  Evolution {demo.evolution_url()}\n"
        f"  Demo      {company.name}, contract {company.contract}; channels (id, name):\n{channels}\n"
        f"  Webhooks  Meta       {base}/webhooks/meta/?contract={company.contract}\n"
        f"            Evolution  {base}/webhooks/evolution/{company.contract}/\n"
        f"  Meta      app secret {demo.META_APP_SECRET}  verify token {demo.META_VERIFY_TOKEN}\n"
        f"  Try       .venv/bin/python manage.py post_webhook text   (then see the README)\n"
    )
