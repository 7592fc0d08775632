"""The outbox: which channels have messages due, which of those go next, claiming them, giving them back.

The messages table is the outbox. A channel's due messages are read through the partial index
``message_outbox_due``; one message per contact is in flight at a time, so a contact's messages go out
in order. Claims lock rows with ``SKIP LOCKED`` on PostgreSQL (SQLite's ``IMMEDIATE`` transactions
serialise them), so two dispatchers never take the same message. Every status they write goes through
``services.statuses``.

At most once: a message is marked ``sending`` (committed) before its provider call. If the worker dies
after the call, the row stays ``sending`` and ``recover_stuck`` marks it failed with ``outcome_unknown``
after a while: it is never sent again blindly (an operator may retry it).
"""

import datetime as dt

from django.db import transaction
from django.db.models import Min, OuterRef, Q, Subquery
from django.utils import timezone

from companies.models import Channel, Company
from conversations.models import Message
from conversations.services import statuses

STUCK_AFTER = dt.timedelta(minutes=10)
OUTCOME_UNKNOWN = "The worker stopped during the provider call; it may have been sent. Retry if not."
# The largest page of due messages _heads reads at once when looking past contacts' later messages.
MAX_HEADS_PAGE = 1000
CLAIMABLE = frozenset({Message.Status.QUEUED})
# What the dispatcher reads of a claimed message: the content, whom to send it to, and what its outcome writes.
SENDS = (
    *("company_id", "channel_id", "contact_id", "direction", "purpose", "status", "data", "attempts"),
    *("error_code", "error_reason", "pricing", "provider_id"),
    *("contact__wa_id", "contact__phone", "contact__user_id", "contact__last_inbound_at"),
)
IN_FLIGHT = frozenset({Message.Status.SENDING})


def _due_first(channel: Channel | OuterRef, now: dt.datetime):
    """A channel's due queued messages in the order of the outbox index (``message_outbox_due``).

    Ordered as that partial index is, so PostgreSQL reads it and stops at the limit. Unordered (or by id),
    with statistics taken while a burst is still queued, it may walk the channel's rows through the
    foreign-key or primary-key index instead, past every message already sent: each claim gets slower as
    the burst goes out.
    """
    return Message.objects.filter(channel=channel, status=Message.Status.QUEUED, next_attempt_at__lte=now).order_by(
        "next_attempt_at", "pk"
    )


def due_channels(
    known: dict[int, Channel] | None = None, *, also: frozenset[int] | set[int] = frozenset()
) -> list[Channel]:
    """Channels with a message due now, or among ``also``, that may send: active, healthy, of an active company.

    ``known`` holds channels read before, by id (the dispatcher's, from round to round): one whose row and
    company's row have not been saved since is taken from there, and the rest are read and put there. Read
    whole every round (each time decrypting its secrets), the due channels would take a large share of a
    dispatcher's CPU. What sending uses of a channel changes only through a save (admin, API), which moves
    ``updated_at``; what changes by bulk updates (health, connection state) is in the filter, read every time.
    """
    # A Subquery keeps its ORDER BY ... LIMIT 1 (an Exists would drop it), see _due_first. An alias, not an
    # annotation: only the WHERE clause runs it.
    first_due = _due_first(OuterRef("pk"), timezone.now()).values("next_attempt_at")[:1]
    due = list(
        Channel.objects.alias(first_due=Subquery(first_due))
        .filter(Q(first_due__isnull=False) | Q(pk__in=also))
        .filter(is_active=True, health=Channel.Health.OK, company__status=Company.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", "updated_at", "company__updated_at")
    )
    known = {} if known is None else known
    stale = [
        pk
        for pk, saved, company_saved in due
        if pk not in known or (known[pk].updated_at, known[pk].company.updated_at) != (saved, company_saved)
    ]
    if stale:
        known.update((c.pk, c) for c in Channel.objects.filter(pk__in=stale).select_related("company"))
    return [known[pk] for pk, _, _ in due if pk in known]  # one deleted meanwhile is left out


def _heads(channel: Channel, limit: int, now: dt.datetime) -> list[int]:
    """Ids of up to ``limit`` due queued messages of ``channel``, earliest due first, each first in its contact's line.

    Earliest due first (oldest first among messages due at the same time, as fresh ones are). One message
    per contact at a time, the contact's oldest: a contact's messages arrive in order, and a contact
    backing off (pair rate limit) holds back only its own messages. Two plain index lookups rather than
    one ``NOT EXISTS`` (earlier message of the same contact): right after a burst of inserts the
    planner's statistics still describe an empty outbox, and it may run that anti-join as a nested loop
    over the whole outbox, a claim query whose time grows with the square of the backlog. These two steps
    cost at most a pass over the due rows whatever the statistics say.
    """
    heads: list[int] = []
    # The first page is the size asked for (each contact once: it is all heads); each further page is twice
    # the last, so a backlog of one contact's messages is crossed in a few queries. A first page larger than
    # the round would load and check rows the round never uses, a large share of each claim's CPU.
    page, after = limit, None
    while len(heads) < limit:
        due = _due_first(channel, now)
        if after is not None:  # the next page: after the last candidate, in the index's order
            due = due.filter(Q(next_attempt_at__gt=after[0]) | Q(next_attempt_at=after[0], pk__gt=after[1]))
        candidates = list(due.values_list("pk", "contact_id", "next_attempt_at")[:page])
        if not candidates:
            break
        first = dict(
            Message.objects.filter(
                channel=channel,
                contact_id__in={contact for _, contact, _ in candidates},
                status__in=[Message.Status.QUEUED, Message.Status.SENDING],
            )
            .order_by()
            .values("contact_id")
            .annotate(first=Min("pk"))
            .values_list("contact_id", "first")
        )
        heads += [pk for pk, contact, _ in candidates if first.get(contact) == pk]
        if len(candidates) < page:
            break
        after = (candidates[-1][2], candidates[-1][0])
        page = min(page * 2, MAX_HEADS_PAGE)
    return heads[:limit]


def claim(channel: Channel, limit: int) -> list[Message]:
    """Mark up to ``limit`` due messages ``sending`` for this worker (SKIP LOCKED on PostgreSQL)."""
    if limit <= 0:
        return []
    now = timezone.now()
    with transaction.atomic():
        # Inside the transaction: on SQLite it holds the write lock (IMMEDIATE), so two workers never pick
        # the same heads; on PostgreSQL the row locks below (re-checked after any wait) do that.
        heads = _heads(channel, limit, now)
        # Locked as they are read, with what sending and its outcome need of them (SENDS), no more: the
        # provider's payload and the media columns are not sent again, and loading them costs a busy
        # dispatcher more CPU than the claim's queries.
        messages = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=heads, status=Message.Status.QUEUED, next_attempt_at__lte=now)
            .select_related("contact")
            .only(*SENDS)
            .order_by("pk")
        )
        statuses.move(
            [
                statuses.Change(
                    m.pk,
                    Message.Status.SENDING,
                    now,
                    error_code=m.error_code,  # the last attempt's error stays until this one's outcome
                    error_title=m.error_reason,
                    from_statuses=CLAIMABLE,
                    recorded=False,
                )
                for m in messages
            ],
            locked=statuses.held(messages),
        )
    for message in messages:
        message.status, message.status_at = Message.Status.SENDING, now
    return messages


def unqueue(messages: list[Message]) -> None:
    """Give claimed messages back to the queue untouched (never handed to a provider)."""
    now = timezone.now()
    statuses.move(
        [
            statuses.Change(
                m.pk,
                Message.Status.QUEUED,
                now,
                error_code=m.error_code,
                error_title=m.error_reason,
                from_statuses=IN_FLIGHT,
                recorded=False,
            )
            for m in messages
        ],
        locked=statuses.held(messages),  # claimed by this worker: no second lock, written if still sending
        unless_moved=IN_FLIGHT,
    )


def recipient(message: Message) -> str:
    contact = message.contact
    return contact.wa_id or contact.phone or contact.user_id


def recover_stuck(*, older_than: dt.timedelta = STUCK_AFTER) -> int:
    """Messages left ``sending`` by a worker that died: failed as ``outcome_unknown``, never resent blindly."""
    now = timezone.now()
    stuck = Message.objects.filter(status=Message.Status.SENDING, status_at__lt=now - older_than)
    recovered = 0
    while True:
        with transaction.atomic():
            # Locked as they are read, and rows a writer holds are skipped: a worker that was merely slow and
            # is writing its outcome right now keeps it.
            failed = statuses.lock(stuck, limit=500, skip_locked=True)
            if not failed:
                return recovered
            statuses.move(
                [
                    statuses.Change(
                        pk,
                        Message.Status.FAILED,
                        now,
                        error_code="outcome_unknown",
                        error_title=OUTCOME_UNKNOWN,
                        from_statuses=IN_FLIGHT,
                    )
                    for pk in failed
                ],
                locked=failed,
            )
        recovered += len(failed)
