"""Chatwoot's application API as the bridge uses it: contacts, their contact inbox, conversations, messages.

Everything goes through one API-channel inbox of one account, with a user's ``api_access_token`` (an
agent-bot token cannot search or create contacts). Chatwoot's reference:
https://developers.chatwoot.com/api-reference/introduction. Answers come back as plain ids and dicts.

Every message we create carries a ``source_id`` with :data:`SOURCE_PREFIX`: Chatwoot echoes each one back
as a ``message_created`` webhook, which :func:`is_own` recognises so the bridge does not relay it again.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from companies import phones
from conversations.chatwoot.errors import ChatwootError, ChatwootNotConfigured
from conversations.chatwoot.transport import ATTEMPTS, TIMEOUT, ChatwootTransport

if TYPE_CHECKING:
    from companies.models import Company

SOURCE_PREFIX = "ponte:"
STATUSES = frozenset({"open", "resolved", "pending"})
MESSAGE_TYPES = frozenset({"outgoing", "incoming"})


def own_source_id(kind: str, id: int | str) -> str:
    """The ``source_id`` of a message we create: ``ponte:<kind>:<id>`` (e.g. ``ponte:message:42``)."""
    return f"{SOURCE_PREFIX}{kind}:{id}"


def is_own(source_id: str | None) -> bool:
    """Whether a webhook's message ``source_id`` is one of ours: its echo, not something to relay."""
    return bool(source_id) and str(source_id).startswith(SOURCE_PREFIX)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file for a message: posted as ``attachments[]`` of a multipart request."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def phone_variants(phone: str) -> tuple[str, ...]:
    """The digits Chatwoot may hold for ``phone``: the canonical one (with the Brazilian ninth digit), then
    the old 8-digit mobile form, which WhatsApp accounts created before the ninth digit still use."""
    canonical = phones.normalize_phone(phone)
    if not canonical:
        return ()
    if canonical.startswith("55") and len(canonical) == 13 and canonical[4] == "9":
        old = canonical[:4] + canonical[5:]
        if phones.normalize_phone(old) == canonical:  # a mobile, not a landline that happens to look like one
            return (canonical, old)
    return (canonical,)


class ChatwootClient:
    """One company's Chatwoot: its account, its API inbox and the token of the user the bridge acts as.

    Not shared between threads (it keeps one HTTP session).
    """

    def __init__(
        self,
        *,
        base_url: str,
        account_id: int,
        inbox_id: int,
        token: str,
        timeout: tuple[float, float] = TIMEOUT,
        attempts: int = ATTEMPTS,
        max_wait: float = 4.0,
    ) -> None:
        self.account_id, self.inbox_id = account_id, inbox_id
        self.transport = ChatwootTransport(
            base_url=base_url, account_id=account_id, token=token, timeout=timeout, attempts=attempts, max_wait=max_wait
        )

    @classmethod
    def for_company(cls, company: "Company") -> "ChatwootClient":
        """The company's Chatwoot; ChatwootNotConfigured names the settings that are missing."""
        settings = {
            "chatwoot_base_url": company.chatwoot_base_url,
            "chatwoot_account_id": company.chatwoot_account_id,
            "chatwoot_inbox_id": company.chatwoot_inbox_id,
            "chatwoot_api_token": company.chatwoot_api_token,
        }
        missing = [name for name, value in settings.items() if not value]
        if missing:
            raise ChatwootNotConfigured(f"Chatwoot is not configured for this company: {', '.join(missing)} missing.")
        return cls(
            base_url=company.chatwoot_base_url,
            account_id=company.chatwoot_account_id,
            inbox_id=company.chatwoot_inbox_id,
            token=company.chatwoot_api_token,
        )

    # ------------------------------------------------------------------ contacts

    def find_contact(self, *, phone: str, identifier: str = "") -> dict | None:
        """The contact with this ``identifier``, else the one with this phone in either Brazilian form, or None.

        A contact holding the canonical number (with the ninth digit) wins over one with the old form.
        """
        if identifier:
            found = self._filter([("identifier", identifier)])
            if found:
                return found[0]
        variants = phone_variants(phone)
        if not variants:
            return None
        # Chatwoot adds the "+" to a phone_number filter value itself (Contacts::FilterService#filter_values).
        found = self._filter([("phone_number", variant) for variant in variants])
        wanted = f"+{variants[0]}"
        return next(
            (contact for contact in found if contact.get("phone_number") == wanted), found[0] if found else None
        )

    def find_or_create_contact(
        self, *, phone: str, name: str, identifier: str = "", custom_attributes: dict | None = None
    ) -> int:
        """The id of the contact for ``phone``/``identifier``, created when there is none; never a second one.

        Searched first; when another worker creates it between the search and our create, Chatwoot answers
        422 "... has already been taken" and it is searched again (as Chatwoot's ContactInboxWithContactBuilder does).
        """
        variants = phone_variants(phone)
        if not variants and not identifier:
            raise ValueError("A Chatwoot contact needs a phone number or an identifier.")
        found = self.find_contact(phone=phone, identifier=identifier)
        if found:
            return _id(found, "contact")
        body: dict[str, Any] = {"name": name, "custom_attributes": custom_attributes or {}}
        if variants:
            body["phone_number"] = f"+{variants[0]}"
        if identifier:
            body["identifier"] = identifier
        try:
            answer = self.transport.call("POST", "/contacts", json=body)
        except ChatwootError as exc:
            if exc.status != 422 or "already been taken" not in str(exc):
                raise
            found = self.find_contact(phone=phone, identifier=identifier)
            if found is None:
                raise
            return _id(found, "contact")
        return _id(_payload(answer, "contact"), "contact")

    def ensure_contact_inbox(self, *, contact_id: int, source_id: str) -> str:
        """The source id of the contact's contact inbox in our inbox: its own, else a new one with ``source_id``."""
        contact = _payload(self.transport.call("GET", f"/contacts/{contact_id}"))
        for contact_inbox in contact.get("contact_inboxes") or []:
            inbox = contact_inbox.get("inbox") or {}
            if inbox.get("id") == self.inbox_id and contact_inbox.get("source_id"):
                return str(contact_inbox["source_id"])
        body = {"inbox_id": self.inbox_id, "source_id": source_id}
        answer = self.transport.call("POST", f"/contacts/{contact_id}/contact_inboxes", json=body)
        if not isinstance(answer, dict) or not answer.get("source_id"):
            raise ChatwootError("Chatwoot answered a contact inbox without its source_id.")
        return str(answer["source_id"])

    # ------------------------------------------------------------------ conversations

    def contact_conversations(self, *, contact_id: int) -> list[dict]:
        """The contact's conversations in our inbox, latest activity first (Chatwoot lists at most 20, all inboxes)."""
        answer = self.transport.call("GET", f"/contacts/{contact_id}/conversations")
        conversations = answer.get("payload") if isinstance(answer, dict) else None
        if not isinstance(conversations, list):
            raise ChatwootError("Chatwoot answered a contact's conversations without their list.")
        return [c for c in conversations if isinstance(c, dict) and c.get("inbox_id") == self.inbox_id]

    def get_conversation(self, conversation_id: int) -> dict:
        """The conversation (``status``, ``meta.assignee``, ``meta.team``, ``custom_attributes``...)."""
        answer = self.transport.call("GET", f"/conversations/{conversation_id}")
        _id(answer, "conversation")
        return answer

    def create_conversation(
        self, *, contact_id: int, source_id: str, custom_attributes: dict | None = None, status: str = "open"
    ) -> int:
        """A new conversation of the contact in our inbox; returns its id (the account's display id)."""
        _check_status(status)
        body = {
            "source_id": source_id,
            "inbox_id": self.inbox_id,
            "contact_id": contact_id,
            "status": status,
            "custom_attributes": custom_attributes or {},
        }
        return _id(self.transport.call("POST", "/conversations", json=body), "conversation")

    def toggle_status(self, conversation_id: int, status: str) -> None:
        """Set the conversation ``open``, ``resolved`` or ``pending``."""
        _check_status(status)
        self.transport.call("POST", f"/conversations/{conversation_id}/toggle_status", json={"status": status})

    def set_custom_attributes(self, conversation_id: int, attributes: dict) -> None:
        """Set the conversation's custom attributes; Chatwoot replaces the whole set with ``attributes``."""
        body = {"custom_attributes": attributes}
        self.transport.call("POST", f"/conversations/{conversation_id}/custom_attributes", json=body)

    # ------------------------------------------------------------------ messages

    def create_message(
        self,
        conversation_id: int,
        *,
        content: str,
        message_type: str = "outgoing",
        private: bool = False,
        source_id: str = "",
        attachments: Sequence[Attachment] = (),
        content_attributes: dict | None = None,
    ) -> int:
        """Post a message (``incoming``: the customer's; ``outgoing``: the bot's or a private note); returns its id.

        With ``attachments`` it is a multipart request. Chatwoot keeps only some ``content_attributes``
        (``in_reply_to``, ``items``). Give ``source_id`` (see :func:`own_source_id`) so its echo is ignored.
        """
        if message_type not in MESSAGE_TYPES:
            raise ValueError(f"message_type must be one of {sorted(MESSAGE_TYPES)}, not {message_type!r}.")
        path = f"/conversations/{conversation_id}/messages"
        fields: dict[str, Any] = {"content": content, "message_type": message_type, "private": private}
        if source_id:
            fields["source_id"] = source_id
        if content_attributes:
            fields["content_attributes"] = content_attributes
        if not attachments:
            return _id(self.transport.call("POST", path, json=fields), "message")
        # A form carries text only: booleans as Rails reads them, content_attributes as a JSON string.
        form = {key: _form_value(value) for key, value in fields.items()}
        files = [("attachments[]", (a.filename, a.content, a.content_type)) for a in attachments]
        return _id(self.transport.call("POST", path, data=form, files=files), "message")

    # ------------------------------------------------------------------ helpers

    def _filter(self, conditions: list[tuple[str, str]]) -> list[dict]:
        """Contacts matching any of ``conditions`` (attribute, value), with POST /contacts/filter."""
        payload = [
            {
                "attribute_key": attribute,
                "filter_operator": "equal_to",
                "values": [value],
                "query_operator": "OR" if index < len(conditions) - 1 else None,
            }
            for index, (attribute, value) in enumerate(conditions)
        ]
        answer = self.transport.call("POST", "/contacts/filter", json={"payload": payload})
        contacts = answer.get("payload") if isinstance(answer, dict) else None
        if not isinstance(contacts, list):
            raise ChatwootError("Chatwoot answered a contact search without its list of contacts.")
        return [contact for contact in contacts if isinstance(contact, dict) and contact.get("id")]


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {sorted(STATUSES)}, not {status!r}.")


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _payload(answer: Any, key: str = "") -> dict:
    """``answer["payload"]`` (or ``answer["payload"][key]``): where Chatwoot puts a contact."""
    payload = answer.get("payload") if isinstance(answer, dict) else None
    if key and isinstance(payload, dict):
        payload = payload.get(key)
    if not isinstance(payload, dict):
        raise ChatwootError(f"Chatwoot answered without the {key or 'payload'} it was asked for.")
    return payload


def _id(answer: Any, what: str) -> int:
    value = answer.get("id") if isinstance(answer, dict) else None
    if type(value) is not int:
        raise ChatwootError(f"Chatwoot answered a {what} without its id.")
    return value
