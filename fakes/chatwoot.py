"""A fake Chatwoot: one account's API-channel inbox through the application API, and the webhooks it sends.

* Under ``/api/v1/accounts/<id>``, with the ``api_access_token`` header (401 otherwise): contacts (filter,
  search, create, show, contact inboxes, their conversations), conversations (create, show,
  ``toggle_status``, ``custom_attributes``, ``assignments``) and messages (create as JSON or multipart with
  ``attachments[]``, list), answered in Chatwoot's shapes (``fakes.chatwoot_store``). A phone number,
  identifier or e-mail already taken is a 422 ``{"message": "Phone number has already been taken", ...}``.
  Attachments are served at their ``data_url`` (an ActiveStorage redirect, as Chatwoot's).
* To ``webhook_url``, like the API inbox's webhook: ``message_created`` for every message (ours included,
  with its ``source_id``; activities never), ``conversation_created``, ``conversation_status_changed``
  (then ``conversation_updated`` with the status change, as Chatwoot does) and ``conversation_updated``
  with ``changed_attributes`` for assignee, team and custom attributes. JSON bodies with
  ``X-Chatwoot-Delivery``, and ``X-Chatwoot-Timestamp``/``X-Chatwoot-Signature`` when ``signing_secret``
  is set (Chatwoot ≥ 4.13). Like Chatwoot: 5 s timeout, no retry (``webhook_retries=True`` retries).
* Test controls: ``agent_message``, ``resolve``, ``reopen``, ``assign``, ``agent_opens_conversation``,
  ``add_contact``, ``redeliver``, ``down`` (503 from the proxy, or ``refuse=True``: nothing listens),
  ``fail_next``, ``intercept``; inspection: ``contacts``, ``conversations``, ``messages(id)``, ``webhooks``.
  From another process: ``POST /_fake/agent_message`` and ``GET /_fake/requests?since=N`` (``control``).

Runs on a thread (``running_chatwoot()``) or as its own process::

    python -m fakes.chatwoot --port 0 --token TOKEN [--webhook-url URL --signing-secret S --inbox-id 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.callbacks import RETRY_DELAYS, CallbackPoster
from fakes.chatwoot_store import AGENT, AGENTS, API_USER, TEAMS, Invalid, Store, iso
from fakes.server import HOST, Answer, FakeServer, Request, announce_ready, json_answer

KEEP: Any = object()  # assign(): leave the assignee or the team as it is
ACCOUNT_PATH = re.compile(r"/api/v1/accounts/(\d+)(/.*)")
MAX_ATTACHMENTS = 15  # Chatwoot's NUMBER_OF_PERMITTED_ATTACHMENTS
PROXY_DOWN = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class NotFound(Exception):
    """Answered as Chatwoot's RecordNotFound: 404 ``{"error": "Resource could not be found"}``."""


class Unprocessable(Exception):
    """Answered 422 ``{"error": ...}``, as Chatwoot's other refusals."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as the fake sent it: its event, body (the exact bytes signed) and headers."""

    event: str
    payload: dict
    body: bytes
    headers: dict[str, str]

    @property
    def delivery_id(self) -> str:
        return self.headers["X-Chatwoot-Delivery"]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Chatwoot's ``X-Chatwoot-Signature``: ``sha256=`` HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _files_of(attachments: Sequence[Any]) -> list[tuple[str, bytes, str]]:
    """(filename, data, content type) from tuples or from objects with those attributes."""
    files = []
    for item in attachments:
        if isinstance(item, tuple):
            files.append((str(item[0]), bytes(item[1]), str(item[2]) if len(item) > 2 else "application/octet-stream"))
        else:
            files.append((item.filename, bytes(item.content), item.content_type))
    return files


def parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, str], list[tuple[str, bytes, str]]]:
    """A multipart/form-data body: its text fields, and its ``attachments[]`` files (filename, data, type)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes, str]] = []
    if not found:
        return fields, files
    for part in raw.split(b"--" + found.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]*)"', headers)
        filename = re.search(r'\bfilename="([^"]*)"', headers)
        kind = re.search(r"(?im)^content-type:\s*([^\r\n;]+)", headers)
        if filename is not None:
            if name and name.group(1) == "attachments[]":
                files.append((filename.group(1), data, kind.group(1).strip() if kind else "application/octet-stream"))
        elif name:
            fields[name.group(1)] = data.decode("utf-8", "replace")
    return fields, files


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


class FakeChatwoot(FakeServer):
    name = "fake-chatwoot"

    def __init__(
        self,
        *,
        token: str,
        host: str = HOST,
        port: int = 0,
        webhook_url: str = "",
        signing_secret: str = "",
        account_id: int = 1,
        account_name: str = "Provedor X",
        inbox_id: int = 1,
        inbox_name: str = "WhatsApp",
        webhook_retries: bool = False,
        webhook_timeout: float = 5.0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.webhook_url = webhook_url  # may be changed at any time; "" sends nothing (still listed in webhooks)
        self.signing_secret = signing_secret
        self.webhook_retries, self.webhook_timeout = webhook_retries, webhook_timeout
        self.api_user = dict(API_USER)  # who the token belongs to: the sender of outgoing messages made through the API
        self.agents = copy.deepcopy(AGENTS)
        self.teams = copy.deepcopy(TEAMS)
        # Called first with every request; an Answer it returns is answered instead (a test's failure or race).
        self.intercept: Callable[[Request], Answer | None] | None = None
        self._state = threading.RLock()
        self._store = Store(account_id=account_id, account_name=account_name, inbox_id=inbox_id, inbox_name=inbox_name)
        self._webhooks: list[Webhook] = []
        self._down = False
        self._refusing = False
        self._failures: list[int] = []

    @property
    def account_id(self) -> int:
        return self._store.account["id"]

    @property
    def inbox_id(self) -> int:
        return self._store.inbox["id"]

    def on_started(self) -> None:
        self._store.base_url = self.url

    # ------------------------------------------------------------------ HTTP

    def answer(self, request: Request, raw: bytes) -> Answer:
        answer = self._answer(request, raw, urlsplit(request.path).path)
        request.status = answer.status
        with self._lock:
            self._records.append(request)
        return answer

    def _answer(self, request: Request, raw: bytes, path: str) -> Answer:
        if self.intercept is not None:
            intercepted = self.intercept(request)
            if intercepted is not None:
                return intercepted
        with self._state:
            if self._failures:
                return Answer(self._failures.pop(0), PROXY_DOWN, content_type="text/html")
            if self._down:
                return Answer(503, PROXY_DOWN, content_type="text/html")
        if path.startswith("/rails/active_storage/"):
            return self._file(path)
        match = ACCOUNT_PATH.fullmatch(path)
        if match is None:
            return json_answer(404, {"error": "Resource could not be found"})
        token = request.headers.get("api_access_token", "")
        if not token:
            return json_answer(401, {"error": "You need to sign in or sign up before continuing."})
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return json_answer(401, {"error": "Invalid Access Token"})
        if int(match.group(1)) != self.account_id:
            return json_answer(401, {"error": "You are not authorized to access this account"})
        for method, pattern, handler in ROUTES:
            found = pattern.fullmatch(match.group(2))
            if found and method == request.method:
                with self._state:
                    try:
                        return getattr(self, handler)(request, raw, *map(int, found.groups()))
                    except Invalid as exc:
                        return json_answer(422, {"message": str(exc), "attributes": exc.attributes})
                    except Unprocessable as exc:
                        return json_answer(422, {"error": str(exc)})
                    except NotFound:
                        return json_answer(404, {"error": "Resource could not be found"})
        return json_answer(404, {"error": "Resource could not be found"})

    def _file(self, path: str) -> Answer:
        parts = path.split("/")  # "", rails, active_storage, kind, [redirect,] key, filename
        with self._state:
            redirect = len(parts) == 7 and parts[3] in ("blobs", "representations") and parts[4] == "redirect"
            if redirect and parts[5] in self._store.files:
                # ActiveStorage's redirect to the stored file (a signed storage URL in production).
                return Answer(302, b"", headers={"Location": f"/rails/active_storage/disk/{parts[5]}/{parts[6]}"})
            if len(parts) == 6 and parts[3] == "disk" and parts[4] in self._store.files:
                attachment = self._store.files[parts[4]]
                return Answer(200, attachment["data"], content_type=attachment["content_type"])
        return json_answer(404, {"error": "Resource could not be found"})

    def control(self, request: Request) -> Answer | None:
        """Besides ``/_fake/requests``: ``POST /_fake/agent_message`` with ``{"conversation_id", "content"}``, an
        agent's reply (``agent_message``) made by a harness in another process; answers the message and ``at``,
        the wall time it was made (its webhook is posted after)."""
        if request.method != "POST" or urlsplit(request.path).path != "/_fake/agent_message":
            return super().control(request)
        body = _body(request)
        conversation_id, content = body.get("conversation_id"), body.get("content")
        if not isinstance(conversation_id, int) or not isinstance(content, str):
            return json_answer(400, {"error": "conversation_id (an integer) and content (a string) are required"})
        at = time.time()
        try:
            message = self.agent_message(conversation_id, content)
        except NotFound:
            return json_answer(404, {"error": "Resource could not be found"})
        return json_answer(200, {"message": message, "at": at})

    # ------------------------------------------------------------------ contacts

    def _contact(self, contact_id: int) -> dict:
        contact = self._store.contacts.get(contact_id)
        if contact is None:
            raise NotFound
        return contact

    def _filter_contacts(self, request: Request, raw: bytes) -> Answer:
        conditions = _body(request).get("payload")
        if not isinstance(conditions, list) or not conditions:
            raise Unprocessable("Invalid filter payload")
        matches = [c for c in self._store.contacts.values() if self._matches(c, conditions)]
        return self._contact_page(request, matches)

    def _matches(self, contact: dict, conditions: list) -> bool:
        # Chatwoot joins the conditions with each one's query_operator, AND binding tighter than OR (SQL).
        groups, group = [], []
        for condition in conditions:
            if not isinstance(condition, dict):
                raise Unprocessable("Invalid filter payload")
            group.append(self._condition(contact, condition))
            if str(condition.get("query_operator") or "").upper() == "OR":
                groups.append(group)
                group = []
        groups.append(group)
        return any(all(g) for g in groups if g)

    def _condition(self, contact: dict, condition: dict) -> bool:
        attribute, operator = condition.get("attribute_key"), condition.get("filter_operator")
        values = condition.get("values") or [""]
        if attribute not in ("phone_number", "identifier", "email", "name"):
            raise Unprocessable(f"Invalid attribute key - [{attribute}]")
        # Contacts::FilterService#filter_values: the first value only; "+" put before a phone_number's value.
        wanted = f"+{values[0]}" if attribute == "phone_number" else str(values[0]).lower()
        held = contact[attribute] or ""
        held = held if attribute == "phone_number" else held.lower()
        if operator == "equal_to":
            return held == wanted
        if operator == "not_equal_to":
            return held != wanted
        if operator == "contains":
            return wanted in held
        if operator == "starts_with":
            return held.startswith(wanted)
        raise Unprocessable(f"Invalid filter operator - [{operator}]")

    def _search_contacts(self, request: Request, raw: bytes) -> Answer:
        query = parse_qs(urlsplit(request.path).query).get("q", [""])[0].lower()
        if not query:
            raise Unprocessable("Specify search string with parameter q")
        fields = ("name", "email", "phone_number", "identifier")
        matches = [c for c in self._store.contacts.values() if any(query in (c[f] or "").lower() for f in fields)]
        return self._contact_page(request, matches)

    def _contact_page(self, request: Request, contacts: list[dict]) -> Answer:
        page = parse_qs(urlsplit(request.path).query).get("page", ["1"])[0]
        number = int(page) if page.isdigit() and int(page) > 0 else 1
        shown = [self._store.contact_rest(c) for c in contacts[(number - 1) * 15 : number * 15]]
        return json_answer(200, {"meta": {"count": len(contacts), "current_page": number}, "payload": shown})

    def _create_contact(self, request: Request, raw: bytes) -> Answer:
        body = _body(request)
        if body.get("inbox_id") not in (None, self.inbox_id):
            raise NotFound
        source_id = body.get("source_id")
        if (
            body.get("inbox_id")
            and source_id
            and any(ci["source_id"] == source_id for ci in self._store.contact_inboxes.values())
        ):
            raise Invalid(["Source has already been taken"], ["source_id"])
        contact = self._store.add_contact(
            name=str(body.get("name") or ""),
            phone_number=body.get("phone_number"),
            identifier=body.get("identifier"),
            email=body.get("email"),
            custom_attributes=body.get("custom_attributes") if isinstance(body.get("custom_attributes"), dict) else {},
            additional_attributes=body.get("additional_attributes")
            if isinstance(body.get("additional_attributes"), dict)
            else {},
        )
        contact_inbox = self._store.add_contact_inbox(contact, source_id) if body.get("inbox_id") else None
        shown = {
            "contact": self._store.contact_rest(contact),
            "contact_inbox": {
                "inbox": self._store.inbox_slim() if contact_inbox else None,
                "source_id": contact_inbox["source_id"] if contact_inbox else None,
            },
        }
        return json_answer(200, {"payload": shown})

    def _show_contact(self, request: Request, raw: bytes, contact_id: int) -> Answer:
        return json_answer(200, {"payload": self._store.contact_rest(self._contact(contact_id))})

    def _create_contact_inbox(self, request: Request, raw: bytes, contact_id: int) -> Answer:
        body = _body(request)
        contact = self._contact(contact_id)
        if body.get("inbox_id") != self.inbox_id:
            raise NotFound
        contact_inbox = self._store.add_contact_inbox(contact, body.get("source_id") or None)
        return json_answer(200, self._store.contact_inbox_rest(contact_inbox))

    def _contact_conversations(self, request: Request, raw: bytes, contact_id: int) -> Answer:
        self._contact(contact_id)
        mine = [c for c in self._store.conversations.values() if c["contact_id"] == contact_id]
        mine.sort(key=lambda c: c["last_activity_at"], reverse=True)
        return json_answer(200, {"payload": [self._store.conversation_rest(c) for c in mine[:20]]})

    # ------------------------------------------------------------------ conversations

    def _conversation(self, conversation_id: int) -> dict:
        conversation = self._store.conversations.get(conversation_id)
        if conversation is None:
            raise NotFound
        return conversation

    def _create_conversation(self, request: Request, raw: bytes) -> Answer:
        body = _body(request)
        source_id = body.get("source_id") or None
        if body.get("contact_id") and body.get("inbox_id"):
            if body["inbox_id"] != self.inbox_id:
                raise NotFound
            contact_inbox = self._store.add_contact_inbox(self._contact(body["contact_id"]), source_id)
        else:
            contact_inbox = next(
                (ci for ci in self._store.contact_inboxes.values() if source_id and ci["source_id"] == source_id), None
            )
            if contact_inbox is None:
                raise NotFound
        status = body.get("status") or "open"
        if status not in ("open", "resolved", "pending", "snoozed"):
            raise Unprocessable(f"'{status}' is not a valid status")
        assignee = self.agents.get(body.get("assignee_id")) if body.get("assignee_id") else None
        team = self.teams.get(body.get("team_id")) if body.get("team_id") else None
        conversation = self._store.add_conversation(
            contact_inbox,
            status=status,
            custom_attributes=body.get("custom_attributes") if isinstance(body.get("custom_attributes"), dict) else {},
            additional_attributes=body.get("additional_attributes")
            if isinstance(body.get("additional_attributes"), dict)
            else {},
            assignee=assignee,
            team=team,
        )
        self._emit_conversation("conversation_created", conversation)
        first = body.get("message")
        if isinstance(first, dict) and first.get("content"):
            self._add_message(conversation, content=str(first["content"]), message_type="outgoing", sender=self._user())
        return json_answer(200, self._store.conversation_rest(conversation))

    def _show_conversation(self, request: Request, raw: bytes, conversation_id: int) -> Answer:
        return json_answer(200, self._store.conversation_rest(self._conversation(conversation_id)))

    def _toggle_status(self, request: Request, raw: bytes, conversation_id: int) -> Answer:
        conversation = self._conversation(conversation_id)
        status = _body(request).get("status")
        if not status:  # no status toggles: open <-> resolved, pending and snoozed to open
            status = "resolved" if conversation["status"] == "open" else "open"
        if status not in ("open", "resolved", "pending", "snoozed"):
            raise Unprocessable(f"'{status}' is not a valid status")
        self._set_status(conversation, status)
        shown = {"success": True, "conversation_id": conversation_id, "current_status": status, "snoozed_until": None}
        return json_answer(200, {"meta": {}, "payload": shown})

    def _custom_attributes(self, request: Request, raw: bytes, conversation_id: int) -> Answer:
        conversation = self._conversation(conversation_id)
        attributes = _body(request).get("custom_attributes")
        attributes = attributes if isinstance(attributes, dict) else {}
        previous = conversation["custom_attributes"]
        if attributes != previous:  # replaced, not merged
            conversation["custom_attributes"] = dict(attributes)
            self._updated(
                conversation, [{"custom_attributes": {"previous_value": previous, "current_value": attributes}}]
            )
        return json_answer(200, {"custom_attributes": conversation["custom_attributes"]})

    def _assignments(self, request: Request, raw: bytes, conversation_id: int) -> Answer:
        conversation = self._conversation(conversation_id)
        body = _body(request)
        if "assignee_id" in body:
            agent = self.agents.get(body["assignee_id"]) if body["assignee_id"] is not None else None
            if body["assignee_id"] is not None and agent is None:
                raise NotFound
            self._set_assignment(conversation, assignee=agent)
            return json_answer(200, self._store.conversation_rest(conversation)["meta"].get("assignee"))
        team = self.teams.get(body.get("team_id")) if body.get("team_id") is not None else None
        if body.get("team_id") is not None and team is None:
            raise NotFound
        self._set_assignment(conversation, team=team)
        return json_answer(200, team)

    # ------------------------------------------------------------------ messages

    def _create_message(self, request: Request, raw: bytes, conversation_id: int) -> Answer:
        conversation = self._conversation(conversation_id)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            body, files = parse_multipart(content_type, raw)
        else:
            body, files = _body(request), []
        if len(files) > MAX_ATTACHMENTS:
            raise Invalid([f"Attachments exceeded maximum allowed ({MAX_ATTACHMENTS})"], ["attachments"])
        message_type = body.get("message_type") or "outgoing"
        if message_type not in ("outgoing", "incoming", "template"):
            raise Unprocessable(f"'{message_type}' is not a valid message_type")
        attributes = body.get("content_attributes") or {}
        if isinstance(attributes, str):  # a form sends it as JSON text
            try:
                attributes = json.loads(attributes)
            except ValueError:
                attributes = {}
        if message_type == "incoming" and conversation["status"] in ("resolved", "snoozed"):
            # Message#reopen_resolved_conversation: the customer writing again reopens it (open: no agent bot).
            self._set_status(conversation, "open")
        sender = {"type": "contact", "id": conversation["contact_id"]} if message_type == "incoming" else self._user()
        message = self._add_message(
            conversation,
            content=body.get("content"),
            message_type=message_type,
            sender=sender,
            private=_truthy(body.get("private")),
            source_id=body.get("source_id") or None,
            content_attributes=attributes if isinstance(attributes, dict) else {},
            attachments=files,
        )
        return json_answer(200, self._store.message_rest(message))

    def _list_messages(self, request: Request, raw: bytes, conversation_id: int) -> Answer:
        conversation = self._conversation(conversation_id)
        contact = self._store.contacts[conversation["contact_id"]]
        messages = [self._store.message_push(m) for m in self._store.conversation_messages(conversation)]
        meta = {
            "labels": conversation["labels"],
            "additional_attributes": {},
            "contact": self._store.contact_webhook(contact),
        }
        return json_answer(200, {"meta": meta, "payload": messages})

    # ------------------------------------------------------------------ changes and their webhooks

    def _user(self, agent: dict | None = None) -> dict:
        return {"type": "user", **(agent or self.api_user)}

    def _add_message(self, conversation: dict, **fields: Any) -> dict:
        message = self._store.add_message(conversation, **fields)
        self._emit("message_created", {"event": "message_created", **self._store.message_webhook(message)})
        return message

    def _set_status(self, conversation: dict, status: str) -> None:
        previous = conversation["status"]
        if previous == status:
            return
        conversation["status"] = status
        before = conversation["updated_at"]
        conversation["updated_at"] = time.time()
        # Chatwoot's status_change is empty after the save: changed_attributes is null here.
        self._emit_conversation("conversation_status_changed", conversation, changed=None)
        self._updated(conversation, [{"status": {"previous_value": previous, "current_value": status}}], before=before)

    def _set_assignment(self, conversation: dict, *, assignee: Any = KEEP, team: Any = KEEP) -> None:
        changes = []
        for field, key, new in (("assignee", "assignee_id", assignee), ("team", "team_id", team)):
            if new is KEEP:
                continue
            old_id = conversation[field]["id"] if conversation[field] else None
            new_id = new["id"] if new else None
            if old_id != new_id:
                conversation[field] = dict(new) if new else None
                changes.append({key: {"previous_value": old_id, "current_value": new_id}})
        if changes:
            self._updated(conversation, changes)

    def _updated(self, conversation: dict, changes: list[dict], *, before: float | None = None) -> None:
        """``conversation_updated`` with ``changed_attributes`` (Rails' previous_changes: updated_at among them)."""
        previous = conversation["updated_at"] if before is None else before
        if before is None:
            conversation["updated_at"] = time.time()
        timestamps = {"previous_value": iso(previous), "current_value": iso(conversation["updated_at"])}
        self._emit_conversation("conversation_updated", conversation, changed=[*changes, {"updated_at": timestamps}])

    def _emit_conversation(self, event: str, conversation: dict, *, changed: Any = KEEP) -> None:
        payload = {**self._store.conversation_webhook(conversation), "event": event}
        if changed is not KEEP:
            payload["changed_attributes"] = changed
        self._emit(event, payload)

    def _emit(self, event: str, payload: dict, *, delivery_id: str = "") -> Webhook:
        # Ruby's to_json: compact, UTF-8 as is; the signature is over these exact bytes.
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"X-Chatwoot-Delivery": delivery_id or str(uuid.uuid4())}
        if self.signing_secret:
            timestamp = str(int(time.time()))
            headers["X-Chatwoot-Timestamp"] = timestamp
            headers["X-Chatwoot-Signature"] = signature(self.signing_secret, timestamp, body)
        webhook = Webhook(event, payload, body, headers)
        with self._state:
            self._webhooks.append(webhook)
            if self.webhook_url:
                if self._poster is None:
                    delays = RETRY_DELAYS if self.webhook_retries else ()
                    self._poster = CallbackPoster(timeout=self.webhook_timeout, retry_delays=delays)
                self._poster.post(0.0, self.webhook_url, body, headers)
        return webhook

    # ------------------------------------------------------------------ test controls

    def add_contact(
        self,
        *,
        name: str,
        phone_number: str | None = None,
        identifier: str | None = None,
        email: str | None = None,
        custom_attributes: dict | None = None,
        source_id: str | None = None,
    ) -> dict:
        """A contact already in Chatwoot (with a contact inbox in the inbox when ``source_id`` is given)."""
        with self._state:
            contact = self._store.add_contact(
                name=name,
                phone_number=phone_number,
                identifier=identifier,
                email=email,
                custom_attributes=custom_attributes,
            )
            if source_id is not None:
                self._store.add_contact_inbox(contact, source_id)
            return copy.deepcopy(self._store.contact_rest(contact))

    def agent_message(
        self,
        conversation_id: int,
        content: str | None,
        *,
        attachments: Sequence[Any] = (),
        private: bool = False,
        agent: dict | int | None = None,
    ) -> dict:
        """An agent replies (or writes a private note) in the conversation; the message, as ``messages`` lists it.

        ``attachments``: (filename, bytes, content type) tuples, or objects with those attributes.
        """
        with self._state:
            conversation = self._conversation(conversation_id)
            message = self._add_message(
                conversation,
                content=content,
                message_type="outgoing",
                sender=self._user(self._agent(agent)),
                private=private,
                attachments=_files_of(attachments),
            )
            return self._summary(message)

    def resolve(self, conversation_id: int) -> None:
        """An agent resolves the conversation."""
        with self._state:
            self._set_status(self._conversation(conversation_id), "resolved")

    def reopen(self, conversation_id: int) -> None:
        """An agent reopens the conversation."""
        with self._state:
            self._set_status(self._conversation(conversation_id), "open")

    def assign(self, conversation_id: int, *, assignee: Any = KEEP, team: Any = KEEP) -> None:
        """Assign the conversation to an agent (an id of ``agents`` or an agent dict; None unassigns) and/or a team."""
        with self._state:
            conversation = self._conversation(conversation_id)
            agent = KEEP if assignee is KEEP else (None if assignee is None else self._agent(assignee))
            chosen = team if team is KEEP or team is None or isinstance(team, dict) else self.teams[team]
            self._set_assignment(conversation, assignee=agent, team=chosen)

    def agent_opens_conversation(self, contact_id: int, *, message: str = "", agent: dict | int | None = None) -> int:
        """An agent starts a conversation with the contact from Chatwoot (optionally with a first message); its id."""
        with self._state:
            contact = self._contact(contact_id)
            contact_inbox = next(
                (ci for ci in self._store.contact_inboxes.values() if ci["contact_id"] == contact_id), None
            ) or self._store.add_contact_inbox(contact)
            conversation = self._store.add_conversation(contact_inbox)
            self._emit_conversation("conversation_created", conversation)
            if message:
                sender = self._user(self._agent(agent))
                self._add_message(conversation, content=message, message_type="outgoing", sender=sender)
            return conversation["id"]

    def redeliver(self, webhook: Webhook | None = None) -> Webhook:
        """Post a webhook again (the last one by default) with the same X-Chatwoot-Delivery, as a retry does."""
        with self._state:
            original = webhook or self._webhooks[-1]
            return self._emit(original.event, original.payload, delivery_id=original.delivery_id)

    def down(self, value: bool = True, *, refuse: bool = False) -> None:
        """Chatwoot down: every call answered 503 by its proxy, or with ``refuse`` nothing listening at all."""
        with self._state:
            self._down = value and not refuse
        if self._loop is None:
            return
        if value and refuse and not self._refusing:
            asyncio.run_coroutine_threadsafe(self._stop_listening(), self._loop).result(10)
        elif not (value and refuse) and self._refusing:
            asyncio.run_coroutine_threadsafe(self._listen_again(), self._loop).result(10)

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """The next ``count`` calls answered ``status`` (an nginx page), then as usual again."""
        with self._state:
            self._failures.extend([status] * count)

    # ------------------------------------------------------------------ inspection

    @property
    def contacts(self) -> list[dict]:
        """Every contact, in Chatwoot's REST shape (with its contact_inboxes)."""
        with self._state:
            return [copy.deepcopy(self._store.contact_rest(c)) for c in self._store.contacts.values()]

    @property
    def conversations(self) -> list[dict]:
        """Every conversation: id, contact_id, inbox_id, source_id, status, assignee, team, custom_attributes..."""
        with self._state:
            return [
                copy.deepcopy(
                    {
                        "id": c["id"],
                        "contact_id": c["contact_id"],
                        "inbox_id": c["inbox_id"],
                        "source_id": self._store.contact_inbox_of(c)["source_id"],
                        "status": c["status"],
                        "assignee": c["assignee"],
                        "team": c["team"],
                        "custom_attributes": c["custom_attributes"],
                        "labels": c["labels"],
                    }
                )
                for c in self._store.conversations.values()
            ]

    def messages(self, conversation_id: int) -> list[dict]:
        """The conversation's messages in order (``message_type`` a word; attachments with their bytes)."""
        with self._state:
            return [self._summary(m) for m in self._store.conversation_messages(self._conversation(conversation_id))]

    @property
    def webhooks(self) -> list[Webhook]:
        """Every webhook made so far, in order (posted or not)."""
        with self._state:
            return list(self._webhooks)

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until every webhook was delivered (or given up); False on timeout."""
        poster = self._poster
        return poster.wait_idle(timeout) if poster is not None else True

    # ------------------------------------------------------------------ helpers

    def _agent(self, agent: dict | int | None) -> dict:
        if agent is None:
            return dict(AGENT)
        if isinstance(agent, int):
            return dict(self.agents[agent])
        return {"name": f"Agent {agent['id']}", "email": None, **agent}

    def _summary(self, message: dict) -> dict:
        attachments = [
            {
                "filename": a["filename"],
                "content_type": a["content_type"],
                "file_type": a["file_type"],
                "data": a["data"],
                "data_url": self._store.attachment(a)["data_url"],
            }
            for a in message["attachments"]
        ]
        return copy.deepcopy(
            {
                "id": message["id"],
                "conversation_id": message["conversation_id"],
                "content": message["content"],
                "message_type": message["message_type"],
                "private": message["private"],
                "source_id": message["source_id"],
                "content_attributes": message["content_attributes"],
                "status": message["status"],
                "sender": message["sender"],
                "attachments": attachments,
            }
        )

    async def _stop_listening(self) -> None:
        self._refusing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):  # kept-alive connections too: a down host answers nothing
            with contextlib.suppress(Exception):
                writer.close()

    async def _listen_again(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, reuse_address=True)
        self._refusing = False


def _body(request: Request) -> dict:
    return request.body if isinstance(request.body, dict) else {}


ROUTES = tuple(
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("POST", r"/contacts/filter", "_filter_contacts"),
        ("GET", r"/contacts/search", "_search_contacts"),
        ("POST", r"/contacts", "_create_contact"),
        ("GET", r"/contacts/(\d+)", "_show_contact"),
        ("POST", r"/contacts/(\d+)/contact_inboxes", "_create_contact_inbox"),
        ("GET", r"/contacts/(\d+)/conversations", "_contact_conversations"),
        ("POST", r"/conversations", "_create_conversation"),
        ("GET", r"/conversations/(\d+)", "_show_conversation"),
        ("POST", r"/conversations/(\d+)/toggle_status", "_toggle_status"),
        ("POST", r"/conversations/(\d+)/custom_attributes", "_custom_attributes"),
        ("POST", r"/conversations/(\d+)/assignments", "_assignments"),
        ("POST", r"/conversations/(\d+)/messages", "_create_message"),
        ("GET", r"/conversations/(\d+)/messages", "_list_messages"),
    )
)


@contextlib.contextmanager
def running_chatwoot(**kwargs: Any) -> Iterator[FakeChatwoot]:
    """A fake Chatwoot on a thread of this process, at ``.url``, for the duration of the block."""
    server = FakeChatwoot(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.chatwoot", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on the READY line)")
    parser.add_argument("--token", required=True, help="the api_access_token every call must carry")
    parser.add_argument("--webhook-url", default="", help="POST events here, as the API inbox's webhook")
    parser.add_argument("--signing-secret", default="", help="sign the webhooks with it (X-Chatwoot-Signature)")
    parser.add_argument("--account-id", type=int, default=1)
    parser.add_argument("--inbox-id", type=int, default=1)
    parser.add_argument("--account-name", default="Provedor X")
    parser.add_argument("--inbox-name", default="WhatsApp")
    parser.add_argument("--webhook-retries", action="store_true", help="retry webhooks not taken (Chatwoot does not)")
    args = parser.parse_args(argv)
    server = FakeChatwoot(
        host=args.host,
        port=args.port,
        token=args.token,
        webhook_url=args.webhook_url,
        signing_secret=args.signing_secret,
        account_id=args.account_id,
        account_name=args.account_name,
        inbox_id=args.inbox_id,
        inbox_name=args.inbox_name,
        webhook_retries=args.webhook_retries,
    )
    server.serve(on_ready=announce_ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
