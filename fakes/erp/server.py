"""The fake ERP: a real HTTP server on 127.0.0.1 answering in the shapes of one ERP kind.

``FakeErp(kind="ixc")`` serves the demo data (``fakes.erp.data``) as IXC Soft would; the kinds live
in ``fakes.erp.<kind>`` (ixc, routerbox, sgp, mkauth, hubsoft). Tests tell it to fail:

- ``fail = "down"``: HTTP 503 with an nginx page;
- ``fail = "html"``: HTTP 200 with an HTML error page, as ERPs behind a PHP front do;
- ``fail = "empty"``: HTTP 200 with an empty body;
- ``fail = "garbage"``: HTTP 200 with text that is not JSON;
- ``fail = "error"``: HTTP 200 with the kind's own error shape (IXC's ``{"type": "error"}``...);
- ``delay = seconds``: every answer comes that late (a timeout).

``fail_times = n`` makes only the next n requests fail, then answers normally again (a retry's test).
``requests`` keeps what it received.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from fakes.erp.data import DemoErp
from fakes.server import HOST, Answer, FakeServer, Request, announce_ready

KINDS = ("ixc", "routerbox", "sgp", "mkauth", "hubsoft")


@dataclass(frozen=True)
class Credentials:
    """What the fake accepts, by the names of the Company's ERP fields."""

    username: str = "demo"
    password: str = "demo-password"  # noqa: S105 (the fake's public demo credentials)
    token: str = "demo-erp-token"  # noqa: S105
    client_id: str = "demo-client"
    client_secret: str = "demo-client-secret"  # noqa: S105


DEMO_CREDENTIALS = Credentials()


class Kind(Protocol):
    """One ERP's wire shapes over the shared records."""

    def answer(self, request: Request, raw: bytes) -> Answer: ...

    def error(self, request: Request) -> Answer:
        """The ERP's own error shape, for ``fail = "error"``."""
        ...


def html(status: int, text: str) -> Answer:
    page = f"<html><body><div style='background:#FF0000'>{text}</div></body></html>"
    return Answer(status, page.encode(), content_type="text/html; charset=UTF-8")


class FakeErp(FakeServer):
    name = "fake-erp"

    def __init__(
        self,
        *,
        kind: str,
        data: DemoErp | None = None,
        credentials: Credentials = DEMO_CREDENTIALS,
        today: dt.date | None = None,
        host: str = HOST,
        port: int = 0,
        delay: float = 0.0,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown ERP kind {kind!r}: one of {', '.join(KINDS)}")
        super().__init__(host=host, port=port, delay=delay)
        self.kind = kind
        self.data = data or DemoErp(today)
        self.credentials = credentials
        self.fail: str | None = None
        self.fail_times: int | None = None
        self.handler: Kind = importlib.import_module(f"fakes.erp.{kind}").Handler(self)

    def answer(self, request: Request, raw: bytes) -> Answer:
        answer = self._answer(request, raw)
        request.status = answer.status
        with self._lock:
            self._records.append(request)
        return answer

    def _answer(self, request: Request, raw: bytes) -> Answer:
        failure = self._failure()
        if failure == "down":
            return html(503, "503 Service Temporarily Unavailable")
        if failure == "html":
            return html(200, "Ocorreu um erro ao processar. Contate o suporte.")
        if failure == "empty":
            return Answer(200, b"", content_type="application/json")
        if failure == "garbage":
            return Answer(200, b"Fatal error: Uncaught exception in /var/www/api.php:42", content_type="text/plain")
        if failure == "error":
            return self.handler.error(request)
        return self.handler.answer(request, raw)

    def _failure(self) -> str | None:
        with self._lock:
            if self.fail is None:
                return None
            if self.fail_times is not None:
                if self.fail_times <= 0:
                    return None
                self.fail_times -= 1
            return self.fail


@contextlib.contextmanager
def running_erp(kind: str, **kwargs) -> Iterator[FakeErp]:
    """A fake ERP of ``kind`` on a thread of this process, at ``.url``, for the duration of the block."""
    server = FakeErp(kind=kind, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.erp", description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=KINDS, default="ixc")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on the READY line)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    parser.add_argument(
        "--customers", type=int, default=0, help="generated customers besides the demo's (mobile (44) 98100-0000 on)"
    )
    args = parser.parse_args(argv)
    data = DemoErp(generated_customers=args.customers)
    FakeErp(kind=args.kind, host=args.host, port=args.port, delay=args.delay, data=data).serve(on_ready=announce_ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
