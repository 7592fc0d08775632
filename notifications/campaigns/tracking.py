"""Recipients follow their messages: sent, delivered, read or failed from the core's status events, and
replied when the contact writes back.

Handlers of ``conversations.events`` (subscribed in ``NotificationsConfig.ready``), idempotent and in any
order: a recipient only moves forward (a late "delivered" after "read" changes nothing), a failure
counts only before delivery, and a repeated event finds nothing left to change.
"""

import datetime as dt

from django.utils import timezone

from companies.events import Event
from conversations.models import Message
from notifications.models import CampaignRecipient

Recipient = CampaignRecipient.Status
# A contact's message counts as a reply to the campaign message it got within this long.
REPLY_WINDOW = dt.timedelta(days=3)
_ORDER = [Recipient.PENDING, Recipient.QUEUED, Recipient.SENT, Recipient.DELIVERED, Recipient.READ, Recipient.REPLIED]
_FROM_MESSAGE = {
    Message.Status.SENT: Recipient.SENT,
    Message.Status.DELIVERED: Recipient.DELIVERED,
    Message.Status.READ: Recipient.READ,
    Message.Status.PLAYED: Recipient.READ,
    Message.Status.FAILED: Recipient.FAILED,
}
# A failure after "sent" is Meta's (undeliverable, the 24 h rule...); one reported after delivery is not.
_FAILS_FROM = (Recipient.PENDING, Recipient.QUEUED, Recipient.SENT)
REACHED = (Recipient.SENT, Recipient.DELIVERED, Recipient.READ)


def _moves_to(status: str) -> tuple[str, ...]:
    if status == Recipient.FAILED:
        return _FAILS_FROM
    return tuple(_ORDER[: _ORDER.index(status)])


def _failure(payload: dict) -> str:
    title, code = payload.get("error_title") or "", payload.get("error_code") or ""
    return (f"{title} ({code})" if code and title else title or code or "The message could not be delivered.")[:300]


def is_campaigns(payload: dict) -> bool:
    """What ``on_message_status_changed`` wants: the status changes of campaign messages (not every reply's)."""
    return payload.get("purpose") == Message.Purpose.CAMPAIGN


def on_message_status_changed(events: list[Event]) -> None:
    """Move each campaign recipient to its message's new status (see the module)."""
    latest: dict[int, tuple[str, str]] = {}
    for event in events:
        payload = event.payload
        status = _FROM_MESSAGE.get(payload.get("status"))
        if payload.get("direction") != Message.Direction.OUTBOUND or status is None:
            continue
        current = latest.get(payload["message_id"])
        if current is None or _rank(status) > _rank(current[0]):
            latest[payload["message_id"]] = (status, _failure(payload) if status == Recipient.FAILED else "")
    by_change: dict[tuple[str, str], list[int]] = {}
    for message_id, change in latest.items():
        by_change.setdefault(change, []).append(message_id)
    now = timezone.now()
    for (status, failure), message_ids in by_change.items():
        CampaignRecipient.objects.filter(message_id__in=message_ids, status__in=_moves_to(status)).update(
            status=status, status_at=now, failure=failure
        )


def _rank(status: str) -> int:
    return len(_ORDER) if status == Recipient.FAILED else _ORDER.index(status)


def on_inbound_message_recorded(events: list[Event]) -> None:
    """A contact who got a campaign message lately and writes back has replied to it."""
    contact_ids = {event.payload["contact_id"] for event in events if event.payload.get("contact_id")}
    if not contact_ids:
        return
    now = timezone.now()
    CampaignRecipient.objects.filter(
        contact_id__in=contact_ids, status__in=REACHED, status_at__gte=now - REPLY_WINDOW
    ).update(status=Recipient.REPLIED, status_at=now)
