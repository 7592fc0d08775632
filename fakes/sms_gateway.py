"""A fake SMS gateway with an HTTP GET API like Brazilian SMS gateways': ``GET /api?op=pv&u=&h=&msg=&to=``.

Point a company at it with the URL template :attr:`FakeSmsGateway.template`, i.e.
``http://127.0.0.1:<port>/api?op=pv&u=|USUARIO|&h=|SENHA|&msg=|MENSAGEM|&to=|CELULAR|``.

It answers as such gateways do, with HTTP 200 and a line of text: ``OK <id>`` for an SMS it takes
(recorded in :attr:`FakeSmsGateway.messages`), ``ERRO: ...`` for a wrong user or password, a number
that is not 10 to 15 digits or an empty message. Tests tell it to fail:

- ``fail = "error"``: 200 with ``ERRO: saldo insuficiente`` (the gateway's own refusal);
- ``fail = "json"``: 200 with ``{"status": "error", "message": "Saldo insuficiente"}``;
- ``fail = "down"``: 503 with an nginx page; ``fail = "denied"``: 403;
- ``delay = seconds``: every answer comes that late (a timeout);

``fail_times = n`` makes only the next n requests fail, then it answers normally again (a retry's test).

Runs on a thread (``running_sms_gateway()``) or as its own process, printing ``READY <url>``::

    python -m fakes.sms_gateway --port 0 [--username demo --password demo-sms-password --delay 0]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fakes.server import HOST, Answer, FakeServer, Request, announce_ready, json_answer

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-sms-password"  # noqa: S105 (the fake's public demo credentials)
FAILURES = ("error", "json", "down", "denied")


@dataclass(frozen=True)
class Sms:
    """An SMS the fake took: the number and the text as it decoded them from the query."""

    id: str
    to: str
    text: str


def text(status: int, body: str) -> Answer:
    return Answer(status, body.encode(), content_type="text/plain; charset=UTF-8")


class FakeSmsGateway(FakeServer):
    name = "fake-sms-gateway"

    def __init__(
        self,
        *,
        username: str = DEMO_USERNAME,
        password: str = DEMO_PASSWORD,
        host: str = HOST,
        port: int = 0,
        delay: float = 0.0,
    ) -> None:
        super().__init__(host=host, port=port, delay=delay)
        self.username, self.password = username, password
        self.fail: str | None = None
        self.fail_times: int | None = None
        self._messages: list[Sms] = []
        self._ids = itertools.count(88001)

    @property
    def template(self) -> str:
        return f"{self.url}/api?op=pv&u=|USUARIO|&h=|SENHA|&msg=|MENSAGEM|&to=|CELULAR|"

    @property
    def messages(self) -> list[Sms]:
        """A snapshot of the SMS taken so far, in order."""
        with self._lock:
            return list(self._messages)

    def answer(self, request: Request, raw: bytes) -> Answer:
        answer = self._answer(request)
        request.status = answer.status
        with self._lock:
            self._records.append(request)
        return answer

    def _answer(self, request: Request) -> Answer:
        parts = urlsplit(request.path)
        if request.method != "GET" or parts.path != "/api":
            return text(404, "ERRO: recurso inexistente")
        failure = self._failure()
        if failure == "down":
            page = "<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
            return Answer(503, page.encode(), content_type="text/html")
        if failure == "denied":
            return text(403, "Forbidden")
        # keep_blank_values: an empty msg is the gateway's error to report, not a missing parameter.
        query = {name: values[0] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
        if query.get("op") != "pv":
            return text(200, "ERRO: operacao invalida")
        if query.get("u") != self.username or query.get("h") != self.password:
            return text(200, "ERRO: usuario ou senha invalidos")
        to, message = query.get("to", ""), query.get("msg", "")
        if not (to.isdigit() and 10 <= len(to) <= 15):
            return text(200, "ERRO: numero de celular invalido")
        if not message:
            return text(200, "ERRO: mensagem vazia")
        if failure == "error":
            return text(200, "ERRO: saldo insuficiente")
        if failure == "json":
            return json_answer(200, {"status": "error", "message": "Saldo insuficiente"})
        sms = Sms(id=str(next(self._ids)), to=to, text=message)
        request.message_id = sms.id
        with self._lock:
            self._messages.append(sms)
        return text(200, f"OK {sms.id}")

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
def running_sms_gateway(**kwargs) -> Iterator[FakeSmsGateway]:
    """A fake SMS gateway on a thread of this process, at ``.url``, for the duration of the block."""
    server = FakeSmsGateway(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.sms_gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on the READY line)")
    parser.add_argument("--username", default=DEMO_USERNAME, help="the user every request must carry (u)")
    parser.add_argument("--password", default=DEMO_PASSWORD, help="the password every request must carry (h)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    parser.add_argument("--fail", choices=FAILURES, default=None, help="answer every request with this failure")
    args = parser.parse_args(argv)
    server = FakeSmsGateway(
        host=args.host, port=args.port, username=args.username, password=args.password, delay=args.delay
    )
    server.fail = args.fail
    server.serve(on_ready=announce_ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
