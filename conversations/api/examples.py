"""OpenAPI examples for the conversation endpoints."""

from drf_spectacular.utils import OpenApiExample

CUSTOMER = {"code": "1001", "name": "Maria Souza", "document": "529.***.***-25", "confirmed": True}

CONTACT = {
    "id": 812,
    "phone": "5544998887777",
    "name": "Maria",
    "saved_name": "Maria Souza (Centro)",
    "username": "",
    "user_id": "",
    "last_inbound_at": "2026-12-04T09:12:03-03:00",
    "window_open": True,
    "chatwoot_contact_id": 3310,
    "open_session": 4021,
    "customers": [CUSTOMER],
    "created_at": "2026-11-02T14:40:10-03:00",
}

SESSION = {
    "id": 4021,
    "contact": 812,
    "protocol": "202612040007",
    "state": "menu",
    "handoff": "agent",
    "handed_off_at": "2026-12-04T09:13:40-03:00",
    "chatwoot_conversation_id": 5120,
    "bot_paused": True,
    "bot_paused_until": "2026-12-04T10:13:40-03:00",
    "customer": CUSTOMER,
    "tags": ["segunda-via", "vip"],
    "is_open": True,
    "created_at": "2026-12-04T09:12:03-03:00",
    "last_activity_at": "2026-12-04T09:20:11-03:00",
    "closed_at": None,
    "close_reason": "",
}
CLOSED_SESSION = {
    **SESSION,
    "is_open": False,
    "bot_paused": False,
    "bot_paused_until": None,
    "closed_at": "2026-12-04T09:30:00-03:00",
    "close_reason": "closed",
}

MESSAGE_IN = {
    "id": 90211,
    "session": 4021,
    "contact": 812,
    "channel": 1,
    "direction": "in",
    "author": "customer",
    "type": "text",
    "text": "quero a segunda via",
    "status": "received",
    "status_at": "2026-12-04T09:12:03-03:00",
    "error_code": "",
    "error_reason": "",
    "provider_id": "wamid.HBgNNTU0NDk5ODg4Nzc3NxUCABIYFDNBMjdGRTM2QjQ1RjgwQzg4QzFGAA==",
    "attachment": None,
    "created_at": "2026-12-04T09:12:04-03:00",
    "history": [],
}
MESSAGE_OUT = {
    "id": 90214,
    "session": 4021,
    "contact": 812,
    "channel": 1,
    "direction": "out",
    "author": "bot",
    "type": "document",
    "text": "[document: boleto.pdf]",
    "status": "read",
    "status_at": "2026-12-04T09:12:10-03:00",
    "error_code": "",
    "error_reason": "",
    "provider_id": "wamid.HBgNNTU0NDk5ODg4Nzc3NxUCABEYEjQ4RjNCMzVFQzcyMDRBNEQ1MQA=",
    "attachment": None,
    "created_at": "2026-12-04T09:12:06-03:00",
    "history": [
        {"status": "queued", "at": "2026-12-04T09:12:06-03:00", "error_code": "", "error_title": "", "applied": True},
        {"status": "sent", "at": "2026-12-04T09:12:07-03:00", "error_code": "", "error_title": "", "applied": True},
        {"status": "read", "at": "2026-12-04T09:12:10-03:00", "error_code": "", "error_title": "", "applied": True},
    ],
}
TAG = {"id": 7, "name": "vip", "created_at": "2026-11-20T10:00:00-03:00"}


def _page(*results: dict) -> dict:
    return {"count": len(results), "next": None, "previous": None, "results": list(results)}


CONTACT_PAGE = OpenApiExample("Contacts", response_only=True, value=_page(CONTACT))
CONTACT_RESPONSE = OpenApiExample("Contact", response_only=True, value=CONTACT)
SESSION_PAGE = OpenApiExample("Sessions", response_only=True, value=_page(SESSION))
SESSION_RESPONSE = OpenApiExample("Session", response_only=True, value=SESSION)
CLOSED_RESPONSE = OpenApiExample("Closed", response_only=True, value=CLOSED_SESSION)
MESSAGE_PAGE = OpenApiExample("Messages", response_only=True, value=_page(MESSAGE_OUT, MESSAGE_IN))
TAG_PAGE = OpenApiExample("Tags", response_only=True, value=_page(TAG))
TAG_RESPONSE = OpenApiExample("Tag", response_only=True, value=TAG)
TAG_CREATE = OpenApiExample("New tag", request_only=True, value={"name": "vip"})
SESSION_TAGS = OpenApiExample("Add tags", request_only=True, value={"tags": ["vip", "segunda-via"]})
TIMELINE_RESPONSE = OpenApiExample(
    "Timeline",
    response_only=True,
    value={
        "contact": CONTACT,
        "sessions": [SESSION],
        "messages": [MESSAGE_IN, MESSAGE_OUT],
        "limit": 200,
        "sessions_truncated": False,
        "messages_truncated": False,
    },
)
PAUSE_TTL = OpenApiExample("For an hour", request_only=True, value={"ttl_minutes": 60})
PAUSE_UNTIL = OpenApiExample("Until a time", request_only=True, value={"until": "2026-12-04T18:00:00-03:00"})
PAUSED = OpenApiExample(
    "Paused",
    response_only=True,
    value={
        "contact": 812,
        "session": 4021,
        "protocol": "202612040007",
        "bot_paused": True,
        "bot_paused_until": "2026-12-04T18:00:00-03:00",
    },
)
RESUMED = OpenApiExample(
    "Resumed",
    response_only=True,
    value={"contact": 812, "session": 4021, "protocol": "202612040007", "bot_paused": False, "bot_paused_until": None},
)
