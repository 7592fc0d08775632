"""The inbound lane: a customer's messages, taken in the order they were written, each exactly once.

What the bot and the Chatwoot relay consume. A message's place is its order key: the provider's
timestamp, then its arrival (the webhook event it came in and its position there), then its id. Under a
backlog several drainers record one contact's messages at once, so messages can be recorded out of
order: a message is released only when no webhook event stored before its own that may carry customers'
messages (``WebhookEvent.holds_lane``: not a receipt, not an echo of our sends) is still being processed for
the company (``ORDER_WAIT`` bounds the wait for an event that keeps failing). ``take_unhandled``
runs in the consumer's transaction: it locks the contact's lane, and marking the messages handled
commits with whatever the consumer did with them, or not at all (a worker that dies takes nothing).
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from conversations.models import Contact, Message, WebhookEvent

# An earlier webhook event that failed and stayed unfinished this long after it came or was last claimed (a
# poison event, the database away) no longer holds back the messages after it: they are released, and its own
# are taken when they come.
ORDER_WAIT = dt.timedelta(seconds=30)
ORDER = ("provider_timestamp", "source_event_id", "source_position", "pk")


@dataclass(frozen=True)
class Taken:
    """What ``take_unhandled`` gave: the messages, in order, and how many wait for earlier webhooks."""

    messages: list[Message]
    waiting: int = 0


def unhandled(contact_id: int):
    """A contact's inbound messages no consumer has taken yet, in the lane's order."""
    return Message.objects.filter(
        contact_id=contact_id, direction=Message.Direction.INBOUND, handled_at__isnull=True
    ).order_by(*ORDER)


def take_unhandled(*, contact_id: int) -> Taken:
    """Lock the contact's lane, return its released unhandled messages in order and mark them handled.

    Must run inside the consumer's transaction (``transaction.atomic``); raises TransactionManagementError
    otherwise. Another consumer of the same contact waits for that transaction and then finds nothing.
    """
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError("take_unhandled marks messages handled with the consumer's own work")
    company_id = Contact.objects.select_for_update().filter(pk=contact_id).values_list("company_id", flat=True).first()
    if company_id is None:
        return Taken([])
    now = timezone.now()
    pending = list(unhandled(contact_id).select_related("channel"))
    if not pending:
        return Taken([])
    cutoff = now - ORDER_WAIT
    # An untried event holds, however long it waited in a backlog: a drainer is on it or will be, oldest
    # first. One given back after a failure, or processed alone under a lease, holds for ORDER_WAIT from
    # its last claim (or its arrival).
    unfinished = (
        Q(state=WebhookEvent.State.PENDING, attempts=0)
        | Q(state=WebhookEvent.State.PENDING, received_at__gte=cutoff)
        | Q(state=WebhookEvent.State.PENDING, claimed_at__gte=cutoff)
        | Q(state=WebhookEvent.State.PROCESSING, claimed_at__gte=cutoff)
    )
    frontier = (
        WebhookEvent.objects.filter(unfinished, company_id=company_id, holds_lane=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    released = pending
    if frontier is not None:
        # A message whose own event is still being processed is released: that event's earlier items were
        # recorded before it. One that came after an unfinished event waits for it.
        first_held = next(
            (i for i, m in enumerate(pending) if m.source_event_id is not None and m.source_event_id > frontier),
            None,
        )
        if first_held is not None:
            released = pending[:first_held]
    if released:
        Message.objects.filter(pk__in=[m.pk for m in released]).update(handled_at=now)
        for message in released:
            message.handled_at = now
    return Taken(released, waiting=len(pending) - len(released))
