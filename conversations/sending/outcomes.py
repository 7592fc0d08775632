"""What became of each send, written per round: sent, retried with backoff, failed, or given back untouched.

A round's outcomes are written together through ``services.statuses`` (a few statements, not a few per
message). Retryable errors (network, 5xx, throughput) back off exponentially with jitter; Meta's pair
rate limit asks for 4^n seconds. Refused credentials stop the channel (``Channel.health``), not the
message, which goes back to the queue for when the channel is fixed.
"""

import datetime as dt
import logging
import random
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from companies import services as company_services
from companies.models import Channel
from config.provider_errors import ErrorKind
from conversations.models import Message
from conversations.sending import outbox, pacing
from conversations.services import statuses
from conversations.whatsapp import content as contents
from conversations.whatsapp.base import SendError, Sent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60
# An outcome's message was claimed (``sending``); a sent one may also have been failed as outcome_unknown
# by the recovery of a worker thought dead: what the provider said wins.
SENT_FROM = frozenset({Message.Status.SENDING, Message.Status.FAILED})


@dataclass
class Outcome:
    message: Message
    sent: Sent | None = None
    error: SendError | None = None
    at: dt.datetime = field(default_factory=timezone.now)
    missed_slot: bool = False  # not sent: it would have started too long after its pacing slot


def backoff_seconds(attempt: int, *, kind: ErrorKind, retry_after: float | None) -> float:
    """Exponential backoff with jitter; Meta's pair rate limit asks for 4^n seconds (131056)."""
    if retry_after:
        return retry_after
    if kind == ErrorKind.PAIR_RATE_LIMIT:
        return min(BACKOFF_CAP_SECONDS, 4 ** max(attempt - 1, 0))
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return delay * random.uniform(0.5, 1.5)  # noqa: S311 (jitter, not security)


WINDOW_CLOSED = SendError(
    "Outside the 24 h customer service window: only templates may be sent",
    kind=ErrorKind.WINDOW_CLOSED,
    code="window_closed",
)


def refusals(channel: Channel, messages: list[Message], now: dt.datetime) -> tuple[list[Message], list[Outcome]]:
    """Split claimed messages into those to send and those failed before any call (the window closed)."""
    to_send, refused = [], []
    for message in messages:
        if contents.needs_template(channel, message.contact, message.data.get("content") or {}):
            refused.append(Outcome(message, error=WINDOW_CLOSED, at=now))
        else:
            to_send.append(message)
    return to_send, refused


def _change(outcome: Outcome, now: dt.datetime, auth_failures: dict[int, SendError]) -> statuses.Change:
    message = outcome.message
    attempts = message.attempts + 1
    if outcome.sent is not None or outcome.error is None:
        return statuses.Change(
            message.pk,
            Message.Status.SENT,
            outcome.at,
            from_statuses=SENT_FROM,
            fields={"provider_id": outcome.sent.provider_id if outcome.sent else "", "attempts": attempts},
        )
    error = outcome.error
    if error.kind == ErrorKind.AUTH:
        # The channel's credentials are refused: stop the channel, not the message (attempts unchanged).
        auth_failures[message.channel_id] = error
        return statuses.Change(message.pk, Message.Status.QUEUED, now, from_statuses=outbox.IN_FLIGHT, recorded=False)
    if error.retryable and attempts < MAX_ATTEMPTS:
        delay = backoff_seconds(attempts, kind=error.kind, retry_after=error.retry_after)
        return statuses.Change(
            message.pk,
            Message.Status.QUEUED,
            now,
            error_code=error.code,
            error_title=error.message,
            from_statuses=outbox.IN_FLIGHT,
            fields={"attempts": attempts, "next_attempt_at": now + dt.timedelta(seconds=delay)},
            recorded=False,
        )
    reason = error.kind.value if error.kind != ErrorKind.PERMANENT else error.message
    return statuses.Change(
        message.pk,
        Message.Status.FAILED,
        now,
        error_code=error.code or error.kind.value,
        error_title=f"{reason}: {error.message}",
        from_statuses=outbox.IN_FLIGHT,
        fields={"attempts": attempts},
    )


def record(outcomes: list[Outcome], channels: dict[int, Channel]) -> None:
    """Write a round's outcomes: one move through ``services.statuses``, then what they imply."""
    missed = [o.message for o in outcomes if o.missed_slot]
    if missed:
        # Never handed to the provider: queued again as they were (attempts unchanged), due at once.
        outbox.unqueue(missed)
        logger.warning(
            "%d message(s) missed their send slot by more than %d ms (a busy worker?): queued again",
            len(missed),
            pacing.LATE_SECONDS * 1000,
        )
    done = [o for o in outcomes if not o.missed_slot]
    if not done:
        return
    now = timezone.now()
    auth_failures: dict[int, SendError] = {}
    sent = [o.message for o in done if o.sent is not None]
    for outcome in done:
        if outcome.sent is not None:
            outcome.message.provider_id = outcome.sent.provider_id
    with transaction.atomic():
        # Claimed by this worker, so read without a second lock; written only if nothing else moved them.
        statuses.move(
            [_change(outcome, now, auth_failures) for outcome in done],
            locked=statuses.held(outcome.message for outcome in done),
            unless_moved=SENT_FROM,
        )
        # Receipts that arrived before their message was sent (a fast provider's webhook): applied now.
        statuses.apply_pending_for(sent)
    for channel_id, error in auth_failures.items():
        stop_channel(channels[channel_id], reason=f"{error.code}: {error.message}")


def stop_channel(channel: Channel, *, reason: str) -> None:
    if company_services.set_channel_health(channel=channel, health=Channel.Health.AUTH_FAILED, reason=reason):
        logger.warning("Channel %s stopped sending: the provider refused its credentials (%s)", channel.pk, reason)
