"""A fake of Meta's Graph API for WhatsApp: sends, media, templates, and the webhooks Meta sends back.

* ``POST /<version>/<phone_number_id>/messages`` answers 200 as Meta does (a wamid of its own per send,
  ``contacts[0].wa_id`` = the ``to`` digits, ``message_status`` for templates); a read receipt answers
  ``{"success": true}``. It can be told to answer the next N sends, or the sends to one recipient, with
  an error (``{"http_status": N, "body": {...}}``, as Meta's error bodies), and to answer slowly.
* ``GET /<version>/<media_id>`` and the URL it names serve a customer's media (a real PNG).
* ``/<version>/<waba_id>/message_templates`` lists, creates and deletes templates, kept in memory;
  ``POST /<version>/<template_id>`` edits one. A created or edited template is approved at once, and
  the approval reported by webhook a moment later.
* ``GET /<version>/<waba_id>?fields=pricing_analytics...`` answers Meta's pricing analytics
  (``fakes.pricing_analytics``) from the figures seeded for the WABA (``seed_pricing_analytics``, or
  ``POST /_fake/pricing_analytics`` from another process) and the sends accepted for the webhook's WABA;
  it can be told to answer the next N of them with an error (``fail_pricing_analytics``).
* With a webhook (``webhook_url`` and ``app_secret``), every accepted send is followed by its ``sent``,
  ``delivered`` and ``read`` statuses and every template review by its ``message_template_status_update``,
  signed with the app secret and POSTed as Meta does, retried until taken.

Every request is recorded (arrival on the monotonic and wall clocks, path, parsed body, headers, the
status answered). Two ways to run it:

* on a thread of this process, for tests::

      with running_graph_api() as graph:
          channel.api_base_url = graph.url
          graph.fail_next(2, error_fixture)
          ...
          assert graph.recipients() == [...]

* as its own process (``make run``, the benchmarks: it then competes for no GIL with the code measured)::

      python -m fakes.graph_api --port 0 [--record FILE] [--webhook URL --app-secret S --waba-id W]

  It prints ``READY http://127.0.0.1:<port>`` once listening, and on SIGTERM or SIGINT writes what it
  received to FILE as JSON before exiting. ``GET /_fake/count`` answers ``{"count": n, "ok": n_ok}``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes import meta_payloads, pricing_analytics
from fakes.callbacks import CallbackPoster
from fakes.media import SAMPLE_IMAGE, SAMPLE_IMAGE_MIME
from fakes.server import HOST, Answer, FakeServer, Request, announce_ready, json_answer

VERSIONED = re.compile(r"^/(v\d+\.\d+)/([^/]+)(?:/([a-z_]+))?$")
# After an accepted send: seconds until Meta would report it sent, delivered and read.
STATUS_DELAYS = (("sent", 0.3), ("delivered", 0.8), ("read", 2.0))
REVIEW_SECONDS = 2.0


@dataclass(slots=True)
class Webhook:
    """Where the fake reports statuses, as the app's webhook subscription would."""

    url: str
    app_secret: str
    waba_id: str = "0"
    display_number: str = ""


class _Failure:
    """An error to answer with, ``remaining`` more times (None: for ever)."""

    def __init__(self, error: Mapping[str, Any], remaining: int | None, retry_after: str = "") -> None:
        self.status = int(error["http_status"])
        self.body = json.dumps(error["body"]).encode()
        self.remaining = remaining
        self.retry_after = retry_after

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class FakeGraphAPI(FakeServer):
    """The server's state and behaviour; ``start()`` runs it on a thread, ``serve()`` in this process."""

    name = "fake-graph-api"

    def __init__(
        self,
        *,
        host: str = HOST,
        port: int = 0,
        delay: float = 0.0,
        webhook: Webhook | None = None,
        errors: Path | None = None,
        state: Path | None = None,
    ) -> None:
        super().__init__(host=host, port=port, delay=delay)
        self.webhook = webhook
        self.state = state  # where the templates are kept across restarts, as Meta keeps them
        self.errors = errors  # a folder of {"http_status", "body"} files, for failures given by name
        self.run_id = secrets.token_hex(4)
        self._ok = 0
        self._counter = itertools.count(1)
        self._next: list[_Failure] = []
        self._by_recipient: dict[str, _Failure] = {}
        self._templates: dict[str, dict[str, Any]] = {}
        self.analytics = pricing_analytics.PricingAnalytics()
        self._analytics_failures: list[_Failure] = []
        if state is not None and state.exists():
            self._templates = json.loads(state.read_text())

    # ------------------------------------------------------------------ what tests use

    def recipients(self) -> list[str]:
        """``to`` of every accepted send, in arrival order (duplicates kept: tests look for them)."""
        return [r.to for r in self.sent]

    def fail_next(self, n: int, error: Mapping[str, Any] | str, *, retry_after: str = "") -> None:
        """Answer the next ``n`` sends (any recipient) with this error's status and body."""
        with self._lock:
            self._next.append(_Failure(self._error(error), n, retry_after))

    def fail_recipient(
        self, to: str, error: Mapping[str, Any] | str, *, times: int | None = None, retry_after: str = ""
    ) -> None:
        """Answer sends to ``to`` with this error, ``times`` times (None: until cleared)."""
        with self._lock:
            self._by_recipient[to] = _Failure(self._error(error), times, retry_after)

    def clear_failures(self) -> None:
        with self._lock:
            self._next.clear()
            self._by_recipient.clear()
            self._analytics_failures.clear()

    def seed_pricing_analytics(self, waba_id: str, points: list[dict[str, Any]], *, with_cost: bool = True) -> None:
        """Make ``points`` (Meta's data points) the WABA's figures; ``with_cost=False``: a WABA on a Solution
        Partner's credit line, answered with volumes only."""
        self.analytics.seed(waba_id, points, with_cost=with_cost)

    def fail_pricing_analytics(self, n: int, error: Mapping[str, Any] | str) -> None:
        """Answer the next ``n`` pricing analytics requests with this error's status and body."""
        with self._lock:
            self._analytics_failures.append(_Failure(self._error(error), n))

    def control(self, request: Request) -> Answer | None:
        """Besides ``/_fake/requests``: ``POST /_fake/pricing_analytics`` with ``{"waba_id", "points",
        "with_cost"}`` seeds a WABA's pricing analytics from another process (a demo, a harness)."""
        if request.method != "POST" or urlsplit(request.path).path != "/_fake/pricing_analytics":
            return super().control(request)
        body = request.body if isinstance(request.body, dict) else {}
        waba_id, points = body.get("waba_id"), body.get("points")
        if not isinstance(waba_id, str) or not isinstance(points, list):
            return json_answer(400, {"error": "waba_id (a string) and points (a list) are required"})
        try:
            self.seed_pricing_analytics(waba_id, points, with_cost=body.get("with_cost", True) is not False)
        except (ValueError, TypeError) as exc:
            return json_answer(400, {"error": str(exc)})
        return json_answer(200, {"seeded": len(points)})

    def reset(self) -> None:
        """Forget the requests received (failures stay as set)."""
        with self._lock:
            self._records.clear()
            self._ok = 0

    def wait_for(self, count: int, *, timeout: float = 10.0, accepted_only: bool = True) -> list[Request]:
        """Block until ``count`` requests (accepted sends by default) arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sent if accepted_only else self.requests
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            time.sleep(0.01)

    def _error(self, error: Mapping[str, Any] | str) -> Mapping[str, Any]:
        if not isinstance(error, str):
            return error
        if self.errors is None:
            raise ValueError("errors given by name need the fake's errors folder")
        name = error if error.endswith(".json") else f"{error}.json"
        return json.loads((self.errors / name).read_text())

    # ------------------------------------------------------------------ answering

    def on_started(self) -> None:
        if self.webhook is not None and self._poster is None:
            self._poster = CallbackPoster()

    def answer(self, request: Request, raw: bytes) -> Answer:
        parts = urlsplit(request.path)
        path, query = parts.path, parse_qs(parts.query)
        if request.method == "GET" and path == "/_fake/count":
            with self._lock:
                return json_answer(200, {"count": len(self._records), "ok": self._ok})
        if request.method == "GET" and path.startswith("/_media/"):
            return self._record(request, Answer(200, SAMPLE_IMAGE, content_type=SAMPLE_IMAGE_MIME))
        match = VERSIONED.match(path)
        if match is None:
            return self._record(request, _unknown_path(path))
        _version, node, edge = match.groups()
        if edge == "messages" and request.method == "POST":
            return self._send(request, node)
        if edge == "message_templates":
            return self._record(request, self._templates_edge(request, node, query))
        fields = (query.get("fields") or [""])[0]
        if edge is None and request.method == "GET" and pricing_analytics.is_pricing_analytics(fields):
            return self._record(request, self._pricing_analytics(request, node, fields))
        if edge is None and request.method == "GET":
            return self._record(request, self._media_info(node))
        if edge is None and request.method == "POST" and node in self._templates:
            return self._record(request, self._edit_template(node, request.body))
        return self._record(request, _unknown_path(path))

    def _record(self, request: Request, answer: Answer) -> Answer:
        request.status = answer.status
        with self._lock:
            self._records.append(request)
        return answer

    def _failure_for(self, to: str) -> _Failure | None:
        failure = self._by_recipient.get(to)
        if failure is not None and failure.take():
            return failure
        while self._next:
            if self._next[0].take():
                return self._next[0]
            self._next.pop(0)
        return None

    def _send(self, request: Request, phone_number_id: str) -> Answer:
        body = request.body
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return self._record(request, _graph_error(100, "(#100) The parameter messaging_product is required."))
        if body.get("status") == "read":
            return self._record(request, json_answer(200, {"success": True}))
        to = str(body.get("to", ""))
        with self._lock:
            failure = self._failure_for(to)
            if failure is None:
                request.message_id = f"wamid.fake.{self.run_id}.{next(self._counter)}"
                self._ok += 1
            request.status = failure.status if failure else 200
            self._records.append(request)
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return Answer(failure.status, failure.body, headers=headers)
        template = body.get("type") == "template"
        digits = "".join(ch for ch in to if ch.isdigit())
        message: dict[str, str] = {"id": request.message_id}
        if template:
            message["message_status"] = "accepted"
        category = "utility" if template else "service"
        if self.webhook is not None:  # Meta counts the delivered message in the WABA's pricing analytics
            display = "".join(ch for ch in self.webhook.display_number if ch.isdigit())
            self.analytics.count_send(
                self.webhook.waba_id, at=request.wall, phone_number=display, recipient=digits, category=category
            )
        self._report_statuses(phone_number_id, request.message_id, digits, category)
        return json_answer(
            200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": digits}], "messages": [message]}
        )

    def _report_statuses(self, phone_number_id: str, message_id: str, recipient: str, category: str) -> None:
        if self._poster is None or self.webhook is None:
            return
        for state, delay in STATUS_DELAYS:
            payload = meta_payloads.status(
                waba_id=self.webhook.waba_id,
                phone_number_id=phone_number_id,
                display_number=self.webhook.display_number,
                message_id=message_id,
                state=state,
                recipient=recipient,
                category=category,
            )
            self._post(delay, payload)

    def _post(self, delay: float, payload: dict[str, Any]) -> None:
        if self._poster is None or self.webhook is None:
            return
        body = meta_payloads.encode(payload)
        signature = meta_payloads.sign(self.webhook.app_secret, body)
        self._poster.post(delay, self.webhook.url, body, {"X-Hub-Signature-256": signature})

    def _pricing_analytics(self, request: Request, waba_id: str, fields: str) -> Answer:
        if not request.authorization and "access_token=" not in request.path:
            return _graph_error(104, "An access token is required to request this resource.")
        with self._lock:
            while self._analytics_failures and not self._analytics_failures[0].take():
                self._analytics_failures.pop(0)
            failure = self._analytics_failures[0] if self._analytics_failures else None
        if failure is not None:
            return Answer(failure.status, failure.body)
        try:
            query = pricing_analytics.parse(fields)
        except pricing_analytics.QueryError as exc:
            return _graph_error(100, str(exc))
        return json_answer(200, self.analytics.answer(waba_id, query))

    def _media_info(self, media_id: str) -> Answer:
        return json_answer(
            200,
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/_media/{media_id}",
                "mime_type": SAMPLE_IMAGE_MIME,
                "sha256": hashlib.sha256(SAMPLE_IMAGE).hexdigest(),
                "file_size": len(SAMPLE_IMAGE),
                "id": media_id,
            },
        )

    # ------------------------------------------------------------------ templates

    def _templates_edge(self, request: Request, waba_id: str, query: dict[str, list[str]]) -> Answer:
        if request.method == "GET":
            with self._lock:
                data = [dict(t) for t in self._templates.values() if t["waba_id"] == waba_id]
            for item in data:
                item.pop("waba_id")
            return json_answer(200, {"data": data, "paging": {"cursors": {"before": "", "after": ""}}})
        if request.method == "POST":
            body = request.body if isinstance(request.body, dict) else {}
            name, language = str(body.get("name") or ""), str(body.get("language") or "")
            if not name or not language or not isinstance(body.get("components"), list):
                return _graph_error(100, "Invalid parameter", kind="OAuthException")
            with self._lock:
                if any(t["name"] == name and t["language"] == language for t in self._templates.values()):
                    return _graph_error(100, "Content in this language already exists", subcode=2388024)
                template_id = str(10**15 + next(self._counter))
                category = str(body.get("category") or "UTILITY").upper()
                self._templates[template_id] = {
                    "waba_id": waba_id,
                    "id": template_id,
                    "name": name,
                    "language": language,
                    "category": category,
                    "parameter_format": str(body.get("parameter_format") or "POSITIONAL").upper(),
                    "components": body["components"],
                    "status": "PENDING",
                }
            self._review(template_id)
            return json_answer(200, {"id": template_id, "status": "PENDING", "category": category})
        if request.method == "DELETE":
            name = (query.get("name") or [""])[0]
            only = (query.get("hsm_id") or [""])[0]
            with self._lock:
                doomed = [
                    k
                    for k, t in self._templates.items()
                    if t["waba_id"] == waba_id and t["name"] == name and (not only or k == only)
                ]
                for key in doomed:
                    del self._templates[key]
                self._save_templates()
            if not doomed:
                return _graph_error(100, "Invalid parameter: template not found")
            return json_answer(200, {"success": True})
        return _unknown_path(request.path)

    def _save_templates(self) -> None:
        """Called under the lock after every change."""
        if self.state is None:
            return
        self.state.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state.with_name(self.state.name + ".tmp")
        temporary.write_text(json.dumps(self._templates))
        os.replace(temporary, self.state)

    def _edit_template(self, template_id: str, body: Any) -> Answer:
        body = body if isinstance(body, dict) else {}
        with self._lock:
            template = self._templates[template_id]
            if isinstance(body.get("components"), list):
                template["components"] = body["components"]
            if body.get("category"):
                template["category"] = str(body["category"]).upper()
            template["status"] = "PENDING"
        self._review(template_id)
        return json_answer(200, {"success": True})

    def _review(self, template_id: str) -> None:
        """Meta reviews a template within minutes; the fake approves it at once and says so by webhook."""
        with self._lock:
            template = self._templates[template_id]
            template["status"] = "APPROVED"
            snapshot = dict(template)
            self._save_templates()
        if self._poster is None or self.webhook is None:
            return
        value = {
            "event": "APPROVED",
            "message_template_id": int(template_id),
            "message_template_name": snapshot["name"],
            "message_template_language": snapshot["language"],
            "reason": "NONE",
            "message_template_category": snapshot["category"],
        }
        change = {"value": value, "field": "message_template_status_update"}
        entry = {"id": snapshot["waba_id"], "time": int(time.time()), "changes": [change]}
        self._post(REVIEW_SECONDS, {"entry": [entry], "object": "whatsapp_business_account"})

    # ------------------------------------------------------------------ as a process

    def dump(self, path: Path) -> None:
        """Write the requests (compactly: times, recipient, status, path) to ``path``, atomically."""
        rows = [
            {"t": r.wall, "m": r.monotonic, "to": r.to, "status": r.status, "path": r.path, "wamid": r.message_id}
            for r in self.requests
        ]
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps({"run_id": self.run_id, "requests": rows}))
        os.replace(temporary, path)


def _graph_error(code: int, message: str, *, kind: str = "OAuthException", subcode: int | None = None) -> Answer:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    error["fbtrace_id"] = f"Fake{secrets.token_hex(8)}"
    if subcode is not None:
        error["error_subcode"] = subcode
    return json_answer(400, {"error": error})


def _unknown_path(path: str) -> Answer:
    return _graph_error(2500, f"Unknown path components: {path}")


@contextlib.contextmanager
def running_graph_api(
    *, delay: float = 0.0, webhook: Webhook | None = None, errors: Path | None = None
) -> Iterator[FakeGraphAPI]:
    """A fake Graph API on a thread of this process, at ``.url``, for the duration of the block."""
    server = FakeGraphAPI(delay=delay, webhook=webhook, errors=errors).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.graph_api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on the READY line)")
    parser.add_argument("--record", type=Path, help="write the requests received here on SIGTERM/SIGINT")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    parser.add_argument("--webhook", help="POST statuses and template reviews here, as Meta does")
    parser.add_argument("--app-secret", default=os.environ.get("FAKE_META_APP_SECRET", ""), help="signs the webhooks")
    parser.add_argument("--waba-id", default="0", help="the WhatsApp Business Account id the webhooks name")
    parser.add_argument("--display-number", default="", help="the business number the webhooks name")
    parser.add_argument("--state", type=Path, help="keep the templates in this file across restarts")
    args = parser.parse_args(argv)
    if args.webhook and not args.app_secret:
        parser.error("--webhook needs --app-secret (or FAKE_META_APP_SECRET)")
    webhook = Webhook(args.webhook, args.app_secret, args.waba_id, args.display_number) if args.webhook else None
    server = FakeGraphAPI(host=args.host, port=args.port, delay=args.delay, webhook=webhook, state=args.state)
    try:
        server.serve(on_ready=announce_ready)
    finally:
        if args.record:
            server.dump(args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
