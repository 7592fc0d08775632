"""The dispatcher: claims due messages channel by channel, paces them, sends them, records the outcome.

One round visits every channel with due messages, in a rotating order, and takes at most one
pacing horizon of messages from each: a company with 10,000 queued messages gets its share of a
round, and a company with one message is served in the next round, a fraction of a second later.

At most once: a message is marked ``sending`` (committed) before its provider call. If the worker
dies after the call, the row stays ``sending`` and ``recover_stuck`` marks it failed with
``outcome_unknown`` after a while: it is never sent again blindly (an operator may retry it).
"""

import datetime as dt
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from companies.models import Channel, Company
from conversations.models import Message, MessageStatusChange
from conversations.sending import content as contents
from conversations.sending import pacing
from conversations.services import statuses
from conversations.whatsapp.base import ErrorKind, SendError, Sent, provider_for

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60
STUCK_AFTER = dt.timedelta(minutes=10)
SEND_THREADS = 32
# Evolution channels paced at least this slowly show "typing…" for TYPING_MS before each message.
TYPING_MIN_DELAY_MS = 2000
TYPING_MS = 1000
_round_robin = itertools.count()


@dataclass
class Outcome:
    message: Message
    sent: Sent | None = None
    error: SendError | None = None
    at: dt.datetime = field(default_factory=timezone.now)


def backoff_seconds(attempt: int, *, kind: ErrorKind, retry_after: float | None) -> float:
    """Exponential backoff with jitter; Meta's pair rate limit asks for 4^n seconds (131056)."""
    if retry_after:
        return retry_after
    if kind == ErrorKind.PAIR_RATE_LIMIT:
        return min(BACKOFF_CAP_SECONDS, 4 ** max(attempt - 1, 0))
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return delay * random.uniform(0.5, 1.5)  # noqa: S311 (jitter, not security)


def due_channels() -> list[Channel]:
    """Channels with a message due now that may send: active, healthy, of an active company."""
    due = Message.objects.filter(
        channel=OuterRef("pk"), status=Message.Status.QUEUED, next_attempt_at__lte=timezone.now()
    )
    return list(
        Channel.objects.filter(Exists(due), is_active=True, health="ok", company__status=Company.Status.ACTIVE)
        .select_related("company")
        .order_by("pk")
    )


def _claimable(channel: Channel) -> "Q":
    # One message per contact at a time, oldest first: a contact's messages arrive in order, and a
    # contact backing off (pair rate limit) holds back only its own messages.
    earlier = Message.objects.filter(
        channel=channel,
        contact=OuterRef("contact"),
        status__in=[Message.Status.QUEUED, Message.Status.SENDING],
        pk__lt=OuterRef("pk"),
    )
    return Q(channel=channel, status=Message.Status.QUEUED, next_attempt_at__lte=timezone.now()) & ~Q(Exists(earlier))


def count_due(channel: Channel, limit: int) -> int:
    return Message.objects.filter(_claimable(channel)).order_by("pk")[:limit].count()


def claim(channel: Channel, limit: int) -> list[Message]:
    """Mark up to ``limit`` due messages ``sending`` for this worker (SKIP LOCKED on PostgreSQL)."""
    if limit <= 0:
        return []
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable(channel))
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        Message.objects.filter(pk__in=ids, status=Message.Status.QUEUED).update(
            status=Message.Status.SENDING, status_at=now
        )
    return list(Message.objects.filter(pk__in=ids).select_related("contact").order_by("pk"))


def recipient(message: Message) -> str:
    contact = message.contact
    return contact.wa_id or contact.phone or contact.user_id


def _send_at(slot: float, send: Callable[[], Sent], message: Message) -> Outcome:
    delay = slot - time.time()
    if delay > 0:
        time.sleep(delay)
    try:
        return Outcome(message, sent=send())
    except SendError as exc:
        return Outcome(message, error=exc)
    except Exception as exc:  # a bug in an adapter must not leave the row "sending" forever
        logger.exception("Unexpected error sending message %s", message.pk)
        return Outcome(message, error=SendError(str(exc), kind=ErrorKind.RETRYABLE, code="unexpected"))


def _fail(message: Message, *, now: dt.datetime, code: str, reason: str) -> None:
    message.status, message.status_at = Message.Status.FAILED, now
    message.error_code, message.error_reason = code[:32], reason[:255]


def _record(outcomes: list[Outcome], channels: dict[int, Channel]) -> None:
    """Write a round's outcomes: a few bulk queries, not one per message."""
    if not outcomes:
        return
    now = timezone.now()
    history, auth_failures = [], {}
    for outcome in outcomes:
        message = outcome.message
        message.attempts += 1
        if outcome.sent is not None:
            message.status, message.status_at = Message.Status.SENT, outcome.at
            message.provider_id, message.error_code, message.error_reason = outcome.sent.provider_id, "", ""
        else:
            error = outcome.error
            if error.kind == ErrorKind.AUTH:
                # The channel's credentials are refused: stop the channel, not the message.
                auth_failures[message.channel_id] = error
                message.status, message.attempts = Message.Status.QUEUED, message.attempts - 1
            elif error.retryable and message.attempts < MAX_ATTEMPTS:
                delay = backoff_seconds(message.attempts, kind=error.kind, retry_after=error.retry_after)
                message.status, message.next_attempt_at = Message.Status.QUEUED, now + dt.timedelta(seconds=delay)
                message.error_code, message.error_reason = error.code[:32], error.message[:255]
            else:
                reason = error.kind.value if error.kind != ErrorKind.PERMANENT else error.message
                _fail(message, now=now, code=error.code or error.kind.value, reason=f"{reason}: {error.message}")
        if message.status in (Message.Status.SENT, Message.Status.FAILED):
            history.append(
                MessageStatusChange(
                    message=message,
                    status=message.status,
                    at=message.status_at,
                    error_code=message.error_code,
                    error_title=message.error_reason,
                )
            )
    with transaction.atomic():
        Message.objects.bulk_update(
            [o.message for o in outcomes],
            ["status", "status_at", "provider_id", "error_code", "error_reason", "attempts", "next_attempt_at"],
        )
        MessageStatusChange.objects.bulk_create(history, ignore_conflicts=True)
    for channel_id, error in auth_failures.items():
        mark_unhealthy(channels[channel_id], reason=f"{error.code}: {error.message}")
    for outcome in outcomes:
        if outcome.sent is not None:
            statuses.apply_pending(outcome.message)


def mark_unhealthy(channel: Channel, *, reason: str) -> None:
    Channel.objects.filter(pk=channel.pk).update(
        health="auth_failed", health_reason=reason[:255], health_changed_at=timezone.now()
    )
    logger.warning("Channel %s stopped sending: the provider refused its credentials (%s)", channel.pk, reason)


def _prepare(channel: Channel, messages: list[Message], now: dt.datetime) -> tuple[list[Message], list[Outcome]]:
    """Split claimed messages into those to send and those failed before any call (window closed)."""
    to_send, refused = [], []
    for message in messages:
        content = message.data.get("content") or {}
        if channel.kind == Channel.Kind.CLOUD and not contents.is_template(content) and not message.contact.window_open:
            refused.append(
                Outcome(
                    message,
                    error=SendError(
                        "Outside the 24 h customer service window: only templates may be sent",
                        kind=ErrorKind.WINDOW_CLOSED,
                        code="window_closed",
                    ),
                    at=now,
                )
            )
        else:
            to_send.append(message)
    return to_send, refused


class Dispatcher:
    """Runs rounds until nothing is due or the time budget is spent."""

    def __init__(self, *, threads: int = SEND_THREADS) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
        self._providers: dict[tuple[int, int], object] = {}

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def _provider(self, channel: Channel):
        # One provider (and HTTP session) per channel and thread: sessions are not thread-safe.
        key = (channel.pk, threading.get_ident())
        if key not in self._providers:
            self._providers[key] = provider_for(channel)
        return self._providers[key]

    def _send_job(self, channel: Channel, message: Message) -> Callable[[], Sent]:
        content = message.data["content"]
        to = recipient(message)
        typing_first = channel.kind == Channel.Kind.EVOLUTION and channel.send_delay_ms >= TYPING_MIN_DELAY_MS

        def job() -> Sent:
            provider = self._provider(channel)
            if typing_first:
                # Unofficial numbers look less like robots when "typing…" precedes the message.
                provider.send_presence(to=to, delay_ms=TYPING_MS)
            return contents.send(provider, to=to, content=content)

        return job

    def run_round(self, batch: int = 500) -> int:
        """One pass over the due channels; returns how many messages were handled."""
        channels = due_channels()
        if not channels:
            return 0
        start = next(_round_robin) % len(channels)
        channels = channels[start:] + channels[:start]
        futures: list[Future] = []
        refused: list[Outcome] = []
        by_id = {c.pk: c for c in channels}
        now = timezone.now()
        for channel in channels:
            slots = pacing.reserve(channel, count_due(channel, batch))
            messages = claim(channel, len(slots))
            pacing.refund(slots, len(messages))
            to_send, failed_now = _prepare(channel, messages, now)
            refused += failed_now
            for message, slot in zip(to_send, slots, strict=False):
                futures.append(self.pool.submit(_send_at, slot, self._send_job(channel, message), message))
        outcomes = refused + [future.result() for future in futures]
        _record(outcomes, by_id)
        return len(outcomes)

    def run(self, *, budget_seconds: float, idle_wait: float = pacing.HORIZON_SECONDS) -> int:
        """Rounds until ``budget_seconds`` pass or nothing is due; returns messages handled."""
        deadline, handled = time.monotonic() + budget_seconds, 0
        while time.monotonic() < deadline:
            done = self.run_round()
            handled += done
            if done == 0:
                if not due_channels():
                    break
                time.sleep(idle_wait)  # due, but every channel is paced out for now
        return handled


def recover_stuck(*, older_than: dt.timedelta = STUCK_AFTER) -> int:
    """Messages left ``sending`` by a worker that died: failed as ``outcome_unknown``, never resent blindly."""
    now = timezone.now()
    stuck = list(
        Message.objects.filter(status=Message.Status.SENDING, status_at__lt=now - older_than).values_list(
            "pk", flat=True
        )
    )
    for pk in stuck:
        with transaction.atomic():
            updated = Message.objects.filter(pk=pk, status=Message.Status.SENDING).update(
                status=Message.Status.FAILED,
                status_at=now,
                error_code="outcome_unknown",
                error_reason="The worker stopped during the provider call; it may have been sent. Retry if not.",
            )
            if updated:
                MessageStatusChange.objects.create(
                    message_id=pk, status=Message.Status.FAILED, at=now, error_code="outcome_unknown"
                )
    return len(stuck)
