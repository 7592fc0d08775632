"""What the fake Chatwoot keeps (one account, one API inbox) and how Chatwoot renders it, REST and webhook.

Shapes from Chatwoot v4 (https://github.com/chatwoot/chatwoot): the REST views
(``app/views/api/v1/models/_contact.json.jbuilder``, ``conversations/partials/_conversation.json.jbuilder``,
``conversations/partial/_message.json.jbuilder``) and the webhook bodies (``Message#webhook_data``,
``Conversations::EventDataPresenter#push_data``). REST gives ``message_type`` as a number, webhooks as a word;
conversations are numbered per account (their ``display_id``), in URLs and payloads alike.

Not thread-safe: the fake's lock guards every call.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}
STATUSES = ("open", "resolved", "pending", "snoozed")
E164 = re.compile(r"\+[1-9]\d{1,14}\Z")
# Chatwoot's MessageBuilder keeps only these of a message's content_attributes.
KEPT_CONTENT_ATTRIBUTES = ("in_reply_to", "items", "automation_rule_id")

# The agents and teams of the fixtures (Ana, "financeiro"); the API user is the one the bridge's token belongs to.
AGENT = {"id": 3, "name": "Ana (Suporte)", "available_name": "Ana", "email": "ana@provedor.example"}
AGENTS = {
    3: AGENT,
    4: {"id": 4, "name": "Bruno (Financeiro)", "available_name": "Bruno", "email": "bruno@provedor.example"},
}
API_USER = {"id": 1, "name": "Ponte", "available_name": "Ponte", "email": "ponte@provedor.example"}
TEAMS = {1: {"id": 1, "name": "suporte"}, 2: {"id": 2, "name": "financeiro"}}


class Invalid(Exception):
    """A record Chatwoot's validations refuse: ``messages`` as Rails' full messages, ``attributes`` their fields."""

    def __init__(self, messages: list[str], attributes: list[str]) -> None:
        super().__init__(", ".join(messages))
        self.messages, self.attributes = messages, attributes


def iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def file_type(content_type: str) -> str:
    """Chatwoot's FileTypeHelper: image, audio, video, else file."""
    kind = content_type.split("/", 1)[0].lower()
    return kind if kind in ("image", "audio", "video") else "file"


class Store:
    def __init__(self, *, account_id: int, account_name: str, inbox_id: int, inbox_name: str) -> None:
        self.account = {"id": account_id, "name": account_name}
        self.inbox = {"id": inbox_id, "name": inbox_name}
        self.base_url = ""  # where attachments are served: the fake's URL, once listening
        self.contacts: dict[int, dict] = {}
        self.contact_inboxes: dict[int, dict] = {}
        self.conversations: dict[int, dict] = {}
        self.messages: dict[int, dict] = {}
        self.files: dict[str, dict] = {}  # blob key -> attachment
        # Distinct ranges, so a test that mixes up a contact id and a conversation id fails.
        self._ids = {
            "contact": itertools.count(101),
            "contact_inbox": itertools.count(501),
            "conversation": itertools.count(1),
            "message": itertools.count(1001),
            "attachment": itertools.count(9001),
        }

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    # ------------------------------------------------------------------ changes

    def add_contact(
        self,
        *,
        name: str = "",
        phone_number: str | None = None,
        identifier: str | None = None,
        email: str | None = None,
        custom_attributes: dict | None = None,
        additional_attributes: dict | None = None,
    ) -> dict:
        """A new contact; Invalid as Chatwoot's validations (E.164 phone; phone, identifier, email unique)."""
        phone_number, identifier, email = phone_number or None, identifier or None, email or None
        messages, attributes = [], []
        if phone_number is not None and not E164.match(phone_number):
            messages.append("Phone number should be in e164 format")
            attributes.append("phone_number")
        for field, value in (("phone_number", phone_number), ("identifier", identifier), ("email", email)):
            if value is not None and any(c[field] == value for c in self.contacts.values()):
                messages.append(f"{field.replace('_', ' ').capitalize()} has already been taken")
                attributes.append(field)
        if messages:
            raise Invalid(messages, attributes)
        now = time.time()
        contact = {
            "id": self.next_id("contact"),
            "name": name or "",
            "email": email,
            "phone_number": phone_number,
            "identifier": identifier,
            "custom_attributes": dict(custom_attributes or {}),
            "additional_attributes": dict(additional_attributes or {}),
            "blocked": False,
            "thumbnail": "",
            "created_at": now,
            "last_activity_at": now,
        }
        self.contacts[contact["id"]] = contact
        return contact

    def add_contact_inbox(self, contact: dict, source_id: str | None = None) -> dict:
        """The contact's contact inbox with ``source_id`` (a UUID when None), as ContactInboxBuilder makes it.

        An API inbox's ``source_id`` is unique per inbox: one held by another contact is refused.
        """
        source_id = source_id or str(uuid.uuid4())
        for contact_inbox in self.contact_inboxes.values():
            if contact_inbox["source_id"] == source_id:
                if contact_inbox["contact_id"] == contact["id"]:
                    return contact_inbox
                raise Invalid(["Source has already been taken"], ["source_id"])
        now = time.time()
        contact_inbox = {
            "id": self.next_id("contact_inbox"),
            "contact_id": contact["id"],
            "inbox_id": self.inbox["id"],
            "source_id": source_id,
            "created_at": now,
            "updated_at": now,
            "hmac_verified": False,
            "pubsub_token": secrets.token_urlsafe(18),
        }
        self.contact_inboxes[contact_inbox["id"]] = contact_inbox
        return contact_inbox

    def add_conversation(
        self,
        contact_inbox: dict,
        *,
        status: str = "open",
        custom_attributes: dict | None = None,
        additional_attributes: dict | None = None,
        assignee: dict | None = None,
        team: dict | None = None,
    ) -> dict:
        now = time.time()
        conversation = {
            "id": self.next_id("conversation"),
            "uuid": str(uuid.uuid4()),
            "contact_id": contact_inbox["contact_id"],
            "contact_inbox_id": contact_inbox["id"],
            "inbox_id": self.inbox["id"],
            "status": status if status in STATUSES else "open",
            "assignee": assignee,
            "team": team,
            "custom_attributes": dict(custom_attributes or {}),
            "additional_attributes": dict(additional_attributes or {}),
            "labels": [],
            "created_at": now,
            "updated_at": now,
            "last_activity_at": now,
            "first_reply_created_at": None,
        }
        self.conversations[conversation["id"]] = conversation
        return conversation

    def add_message(
        self,
        conversation: dict,
        *,
        content: str | None,
        message_type: str,
        sender: dict,
        private: bool = False,
        source_id: str | None = None,
        content_attributes: dict | None = None,
        attachments: Sequence[tuple[str, bytes, str]] = (),
    ) -> dict:
        """A message from ``sender`` (``{"type": "contact"|"user"|"agent_bot", "id"}``); files: (name, data, type)."""
        now = time.time()
        kept = {k: v for k, v in (content_attributes or {}).items() if k in KEPT_CONTENT_ATTRIBUTES}
        if "in_reply_to" in kept:  # Message#ensure_in_reply_to: the quoted message's source_id, for the channel
            quoted = self.messages.get(kept["in_reply_to"]) if isinstance(kept["in_reply_to"], int) else None
            kept["in_reply_to_external_id"] = quoted["source_id"] if quoted else None
        message = {
            "id": self.next_id("message"),
            "conversation_id": conversation["id"],
            "content": content,
            "message_type": message_type,
            "content_type": "text",
            "content_attributes": kept,
            "additional_attributes": {},
            "private": bool(private),
            "source_id": source_id or None,
            "status": "sent",
            "sender": sender,
            "attachments": [],
            "created_at": now,
        }
        for filename, data, content_type in attachments:
            key = secrets.token_urlsafe(16)
            attachment = {
                "id": self.next_id("attachment"),
                "message_id": message["id"],
                "file_type": file_type(content_type),
                "filename": filename,
                "content_type": content_type,
                "data": data,
                "key": key,
            }
            message["attachments"].append(attachment)
            self.files[key] = attachment
        self.messages[message["id"]] = message
        conversation["last_activity_at"] = conversation["updated_at"] = now
        if message_type == "outgoing" and not private and conversation["first_reply_created_at"] is None:
            conversation["first_reply_created_at"] = now
        return message

    def conversation_messages(self, conversation: dict) -> list[dict]:
        return [m for m in self.messages.values() if m["conversation_id"] == conversation["id"]]

    def contact_inbox_of(self, conversation: dict) -> dict:
        return self.contact_inboxes[conversation["contact_inbox_id"]]

    # ------------------------------------------------------------------ REST shapes

    def inbox_slim(self) -> dict:
        return {
            "id": self.inbox["id"],
            "avatar_url": "",
            "channel_id": self.inbox["id"],
            "name": self.inbox["name"],
            "channel_type": "Channel::Api",
            "provider": None,
        }

    def contact_inbox_rest(self, contact_inbox: dict) -> dict:
        return {"source_id": contact_inbox["source_id"], "inbox": self.inbox_slim()}

    def contact_rest(self, contact: dict, *, with_contact_inboxes: bool = True) -> dict:
        shown = {
            "additional_attributes": contact["additional_attributes"],
            "availability_status": "offline",
            "email": contact["email"],
            "id": contact["id"],
            "name": contact["name"],
            "phone_number": contact["phone_number"],
            "blocked": contact["blocked"],
            "identifier": contact["identifier"],
            "thumbnail": contact["thumbnail"],
            "custom_attributes": contact["custom_attributes"],
            "last_activity_at": int(contact["last_activity_at"]),
            "created_at": int(contact["created_at"]),
        }
        if with_contact_inboxes:
            shown["contact_inboxes"] = [
                self.contact_inbox_rest(ci) for ci in self.contact_inboxes.values() if ci["contact_id"] == contact["id"]
            ]
        return shown

    def message_rest(self, message: dict) -> dict:
        shown = {
            "id": message["id"],
            "content": message["content"],
            "inbox_id": self.inbox["id"],
            "echo_id": None,
            "conversation_id": message["conversation_id"],
            "message_type": MESSAGE_TYPES[message["message_type"]],
            "content_type": message["content_type"],
            "status": message["status"],
            "content_attributes": message["content_attributes"],
            "created_at": int(message["created_at"]),
            "private": message["private"],
            "source_id": message["source_id"],
            "sender": self._sender_push(message),
        }
        if message["attachments"]:
            shown["attachments"] = [self.attachment(a) for a in message["attachments"]]
        return shown

    def conversation_rest(self, conversation: dict) -> dict:
        contact = self.contacts[conversation["contact_id"]]
        meta: dict[str, Any] = {
            "sender": self.contact_rest(contact, with_contact_inboxes=False),
            "channel": "Channel::Api",
        }
        if conversation["assignee"]:
            meta["assignee"] = self._user_rest(conversation["assignee"])
        if conversation["team"]:
            meta["team"] = dict(conversation["team"])
        meta["hmac_verified"] = False
        messages = self.conversation_messages(conversation)
        last = [self.message_push(messages[-1])] if messages else []
        return {
            "meta": meta,
            "id": conversation["id"],
            "messages": last,
            "account_id": self.account["id"],
            "uuid": conversation["uuid"],
            "additional_attributes": conversation["additional_attributes"],
            "agent_last_seen_at": 0,
            "assignee_last_seen_at": 0,
            "can_reply": True,
            "contact_last_seen_at": 0,
            "custom_attributes": conversation["custom_attributes"],
            "inbox_id": conversation["inbox_id"],
            "labels": list(conversation["labels"]),
            "muted": False,
            "snoozed_until": None,
            "status": conversation["status"],
            "created_at": int(conversation["created_at"]),
            "timestamp": int(conversation["last_activity_at"]),
            "first_reply_created_at": int(conversation["first_reply_created_at"] or 0),
            "unread_count": 0,
            "last_non_activity_message": last[0] if last else None,
            "last_activity_at": int(conversation["last_activity_at"]),
            "priority": None,
            "waiting_since": 0,
        }

    # ------------------------------------------------------------------ webhook shapes

    def contact_webhook(self, contact: dict) -> dict:
        return {
            "additional_attributes": contact["additional_attributes"],
            "custom_attributes": contact["custom_attributes"],
            "email": contact["email"],
            "id": contact["id"],
            "identifier": contact["identifier"],
            "name": contact["name"],
            "phone_number": contact["phone_number"],
            "thumbnail": contact["thumbnail"],
            "blocked": contact["blocked"],
        }

    def contact_inbox_webhook(self, contact_inbox: dict) -> dict:
        return {
            "id": contact_inbox["id"],
            "contact_id": contact_inbox["contact_id"],
            "inbox_id": contact_inbox["inbox_id"],
            "source_id": contact_inbox["source_id"],
            "created_at": iso(contact_inbox["created_at"]),
            "updated_at": iso(contact_inbox["updated_at"]),
            "hmac_verified": contact_inbox["hmac_verified"],
            "pubsub_token": contact_inbox["pubsub_token"],
        }

    def conversation_webhook(self, conversation: dict) -> dict:
        """``Conversations::EventDataPresenter#push_data``: the root of conversation events, and inside messages'."""
        contact = self.contacts[conversation["contact_id"]]
        # The last message that is neither an activity nor a private note.
        shown = [m for m in self.conversation_messages(conversation) if not m["private"]]
        first_reply = conversation["first_reply_created_at"]
        return {
            "additional_attributes": conversation["additional_attributes"],
            "can_reply": True,
            "channel": "Channel::Api",
            "contact_inbox": self.contact_inbox_webhook(self.contact_inbox_of(conversation)),
            "id": conversation["id"],
            "inbox_id": conversation["inbox_id"],
            "messages": [self.message_push(shown[-1])] if shown else [],
            "labels": list(conversation["labels"]),
            "meta": {
                "sender": self.contact_webhook(contact) | {"type": "contact"},
                "assignee": self._user_rest(conversation["assignee"]) if conversation["assignee"] else None,
                "team": dict(conversation["team"]) if conversation["team"] else None,
                "hmac_verified": False,
            },
            "status": conversation["status"],
            "custom_attributes": conversation["custom_attributes"],
            "snoozed_until": None,
            "unread_count": 0,
            "first_reply_created_at": iso(first_reply) if first_reply else None,
            "priority": None,
            "waiting_since": 0,
            "agent_last_seen_at": 0,
            "contact_last_seen_at": 0,
            "last_activity_at": int(conversation["last_activity_at"]),
            "timestamp": int(conversation["last_activity_at"]),
            "created_at": int(conversation["created_at"]),
            "updated_at": round(conversation["updated_at"], 1),
        }

    def message_webhook(self, message: dict) -> dict:
        """``Message#webhook_data``: the root of message events (``message_type`` a word, ``created_at`` ISO)."""
        conversation = self.conversations[message["conversation_id"]]
        sender = message["sender"]
        if sender["type"] == "contact":
            shown_sender = self.contact_webhook(self.contacts[sender["id"]])
        elif sender["type"] == "agent_bot":
            shown_sender = {"id": sender["id"], "name": sender["name"], "type": "agent_bot"}
        else:
            shown_sender = {"id": sender["id"], "name": sender["name"], "email": sender.get("email"), "type": "user"}
        payload = {
            "id": message["id"],
            "content": message["content"],
            "created_at": iso(message["created_at"]),
            "message_type": message["message_type"],
            "content_type": message["content_type"],
            "content_attributes": message["content_attributes"],
            "additional_attributes": message["additional_attributes"],
            "private": message["private"],
            "source_id": message["source_id"],
            "sender": shown_sender,
            "inbox": dict(self.inbox),
            "account": dict(self.account),
            "conversation": self.conversation_webhook(conversation),
        }
        if message["attachments"]:
            payload["attachments"] = [self.attachment(a) for a in message["attachments"]]
        return payload

    def message_push(self, message: dict) -> dict:
        """``Message#push_event_data``: a message inside a conversation (``message_type`` a number)."""
        conversation = self.conversations[message["conversation_id"]]
        sender = message["sender"]
        shown = {
            "id": message["id"],
            "content": message["content"],
            "account_id": self.account["id"],
            "inbox_id": self.inbox["id"],
            "conversation_id": message["conversation_id"],
            "message_type": MESSAGE_TYPES[message["message_type"]],
            "created_at": int(message["created_at"]),
            "private": message["private"],
            "status": message["status"],
            "source_id": message["source_id"],
            "content_type": message["content_type"],
            "content_attributes": message["content_attributes"],
            "sender_type": {"contact": "Contact", "agent_bot": "AgentBot"}.get(sender["type"], "User"),
            "sender_id": sender["id"],
            "external_source_ids": {},
            "additional_attributes": message["additional_attributes"],
            "processed_message_content": message["content"],
            "sentiment": {},
            "conversation": {
                "assignee_id": conversation["assignee"]["id"] if conversation["assignee"] else None,
                "unread_count": 0,
                "last_activity_at": int(conversation["last_activity_at"]),
                "contact_inbox": {"source_id": self.contact_inbox_of(conversation)["source_id"]},
            },
            "sender": self._sender_push(message),
        }
        if message["attachments"]:
            shown["attachments"] = [self.attachment(a) for a in message["attachments"]]
        return shown

    def attachment(self, attachment: dict) -> dict:
        """An attachment with its ActiveStorage redirect URL (``data_url``), which the fake serves."""
        name = quote(attachment["filename"])
        image = attachment["file_type"] == "image"
        return {
            "id": attachment["id"],
            "message_id": attachment["message_id"],
            "file_type": attachment["file_type"],
            "account_id": self.account["id"],
            "extension": None,
            "data_url": f"{self.base_url}/rails/active_storage/blobs/redirect/{attachment['key']}/{name}",
            "thumb_url": f"{self.base_url}/rails/active_storage/representations/redirect/{attachment['key']}/{name}"
            if image
            else "",
            "file_size": len(attachment["data"]),
            "width": None,
            "height": None,
        }

    def _sender_push(self, message: dict) -> dict:
        sender = message["sender"]
        if sender["type"] == "contact":
            return self.contact_webhook(self.contacts[sender["id"]]) | {"type": "contact"}
        if sender["type"] == "agent_bot":
            return {"id": sender["id"], "name": sender["name"], "avatar_url": "", "type": "agent_bot"}
        return self._user_rest(sender)

    @staticmethod
    def _user_rest(user: dict) -> dict:
        return {
            "id": user["id"],
            "name": user["name"],
            "available_name": user.get("available_name") or user["name"],
            "avatar_url": "",
            "type": "user",
            "availability_status": "online",
            "thumbnail": "",
        }
