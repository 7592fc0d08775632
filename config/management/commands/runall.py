"""Run the whole product in the foreground: ASGI web server, one Celery worker per pool and beat; Ctrl-C stops all.

A child that exits on its own is started again (``Supervisor``); to run one more, add it to ``children``.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand

from companies.models import Company
from config import demo, queues, web_server


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
        # The fakes post their webhooks to this server, on an address that reaches it from this machine.
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"  # noqa: S104
        supervisor = Supervisor(
            children(python=sys.executable, host=host, port=port, base=base, fakes=fakes), log=self.stderr.write
        )
        supervisor.start()
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
        try:
            while not stopping:
                supervisor.restart_exited()
                time.sleep(0.5)
        finally:
            supervisor.stop()
        sys.exit(0)


def children(*, python: str, host: str, port: int, base: str, fakes: bool) -> dict[str, list[str]]:
    """What runall starts and keeps running, by name: the web server, one Celery worker per pool, beat, the fakes."""
    return {
        "web": web_server.uvicorn_command(python=python, host=host, port=port),
        **{f"worker-{pool.name}": queues.worker_command(pool, python=python) for pool in queues.pools()},
        "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "info"],
        **(fake_commands(python, base) if fakes else {}),
    }


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while it waits to be started again
    delay: float = 0.0


class Supervisor:
    """Keeps each child running: one that exits is started again, after a pause that doubles while it keeps
    exiting soon after its start (from ``first_delay`` up to ``max_delay``) and is reset once it ran
    ``stable_after`` seconds. A database or broker outage, or a crash, costs that child a restart, not the others.
    """

    def __init__(
        self,
        commands: Mapping[str, list[str]],
        *,
        log: Callable[[str], object],
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        stable_after: float = 30.0,
    ) -> None:
        self.children = [Child(name, list(command)) for name, command in commands.items()]
        self.log, self.first_delay, self.max_delay, self.stable_after = log, first_delay, max_delay, stable_after

    def start(self) -> None:
        for child in self.children:
            self._start(child)

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command)  # noqa: S603
        child.started_at, child.restart_at = time.monotonic(), None

    def restart_exited(self) -> None:
        """Note the children that exited and start again those whose pause is over; call it every so often."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.log(f"Restarting {child.name}.")
                    self._start(child)
                continue
            code = child.process.poll() if child.process else None
            if code is None:
                continue
            ran = now - child.started_at
            kept_failing = child.delay and ran < self.stable_after
            child.delay = min(self.max_delay, child.delay * 2) if kept_failing else self.first_delay
            child.restart_at = now + child.delay
            self.log(f"{child.name} exited with code {code} after {ran:.1f} s; restarting it in {child.delay:g} s.")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every child still running, then SIGKILL those still there after ``timeout`` seconds."""
        running = [child.process for child in self.children if child.process and child.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def fake_commands(python: str, base: str) -> dict[str, list[str]]:
    """The fakes of the Graph API, Evolution, the ERP, the SMS gateway and Chatwoot the demo company uses."""
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
        "fake-erp": [python, "-m", "fakes.erp", "--kind", "ixc", "--port", str(settings.FAKE_ERP_PORT)],
        "fake-sms-gateway": [python, "-m", "fakes.sms_gateway", "--port", str(settings.FAKE_SMS_GATEWAY_PORT)],
        "fake-chatwoot": [
            python,
            "-m",
            "fakes.chatwoot",
            "--port",
            str(settings.FAKE_CHATWOOT_PORT),
            "--token",
            demo.CHATWOOT_API_TOKEN,
            "--webhook-url",
            chatwoot_webhook_url(base),
            f"--signing-secret={demo.CHATWOOT_SIGNING_SECRET}",
            "--account-id",
            str(demo.CHATWOOT_ACCOUNT_ID),
            "--inbox-id",
            str(demo.CHATWOOT_INBOX_ID),
            "--account-name",
            "Provedor Demo",
            "--inbox-name",
            "WhatsApp (Ponte)",
        ],
    }


def chatwoot_webhook_url(base: str) -> str:
    return f"{base}/webhooks/chatwoot/{demo.CONTRACT}/{demo.CHATWOOT_WEBHOOK_SECRET}/"


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
        f"  Fakes     Graph API {demo.graph_api_url()}  Evolution {demo.evolution_url()}  ERP {demo.erp_url()}\n"
        f"            SMS gateway http://127.0.0.1:{settings.FAKE_SMS_GATEWAY_PORT}  Chatwoot {demo.chatwoot_url()}\n"
        f"  Demo      {company.name}, contract {company.contract}; channels (id, name):\n{channels}\n"
        f"  Webhooks  Meta       {base}/webhooks/meta/?contract={company.contract}\n"
        f"            Evolution  {base}/webhooks/evolution/{company.contract}/\n"
        f"            Chatwoot   {chatwoot_webhook_url(base)}\n"
        f"  Meta      app secret {demo.META_APP_SECRET}  verify token {demo.META_VERIFY_TOKEN}\n"
        f"  Try       .venv/bin/python manage.py post_webhook text   (then see the README)\n"
    )
