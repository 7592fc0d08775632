"""What billing hears of the conversation core: messages queued on Cloud channels and their statuses."""

import datetime as dt
from typing import Any

from billing.services import entries
from companies.events import Event
from conversations.models import Message

Status = Message.Status
# Pricing rides on ``sent`` and on one of ``delivered``/``read``; delivery is what Meta charges for; a
# failure (or a cancellation before sending) undoes an estimate. Other moves tell billing nothing.
HEARD_STATUSES = frozenset({Status.DELIVERED, Status.READ, Status.PLAYED, Status.FAILED, Status.CANCELLED})


def wants_status(payload: dict[str, Any]) -> bool:
    """The status changes spend needs: our messages' receipts that carry pricing, deliveries and failures."""
    if payload.get("direction") != Message.Direction.OUTBOUND:
        return False
    return bool(payload.get("pricing")) or payload.get("status") in HEARD_STATUSES


def on_message_queued(events: list[Event]) -> None:
    entries.settle(
        queued=[
            entries.Queued(
                message_id=event.payload["message_id"],
                at=dt.datetime.fromisoformat(event.payload["at"]),
                category=event.payload.get("category", ""),
                in_window=bool(event.payload.get("in_window")),
            )
            for event in events
        ]
    )


def on_status_changed(events: list[Event]) -> None:
    cancelled = [event.payload["message_id"] for event in events if event.payload["status"] == Status.CANCELLED]
    if cancelled:
        entries.drop_estimates(message_ids=cancelled)
    entries.settle(
        receipts=[
            entries.Receipt(
                message_id=event.payload["message_id"],
                status=event.payload["status"],
                at=dt.datetime.fromisoformat(event.payload["at"]),
                pricing=event.payload.get("pricing") or None,
            )
            for event in events
            if event.payload["status"] != Status.CANCELLED
        ]
    )
