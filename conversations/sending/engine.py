"""The dispatcher: claims due messages channel by channel, paces them, sends them, records the outcome.

One round visits every channel with due messages, in a rotating order, and takes at most one
pacing horizon of messages from each: a company with 10,000 queued messages gets its share of a
round, and a company with one message is served in the next round, a fraction of a second later.
A running dispatcher claims a round every TICK_SECONDS while the earlier ones are still being sent
(``Dispatcher.run``); each send starts within LATE_SECONDS of a pacing slot of its own or is not made
and goes back to the queue (``_wait_for_slot``), so no second ever holds more than the channel's limit.
Sends wait for their slots, and Cloud API calls are made, on the dispatcher's event loop (``send_loop``);
the synchronous providers' calls (Evolution, console) run on SEND_THREADS threads from there.

At most once: a message is marked ``sending`` (committed) before its provider call. If the worker
dies after the call, the row stays ``sending`` and ``recover_stuck`` marks it failed with
``outcome_unknown`` after a while: it is never sent again blindly (an operator may retry it).
"""

import asyncio
import contextvars
import datetime as dt
import itertools
import logging
import math
import random
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Min, OuterRef, Q, Subquery
from django.utils import timezone

from companies.models import Channel, Company
from conversations.models import Message, MessageStatusChange, PendingStatus
from conversations.sending import content as contents
from conversations.sending import pacing
from conversations.sending.send_loop import SendLoop
from conversations.services import statuses
from conversations.whatsapp import cloud
from conversations.whatsapp.base import ErrorKind, SendError, Sent, provider_for

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60
STUCK_AFTER = dt.timedelta(minutes=10)
# The sends a dispatcher holds at once, waiting on its event loop for their slots or in flight: a channel at
# R messages per second whose calls take S seconds holds about R x (S + HORIZON) (1,000 mps with Meta's 60 to
# 200 ms: 310 to 450, shared by the dispatchers). Each is a timer or a socket, not a thread.
MAX_IN_FLIGHT = 320
# Threads for the synchronous providers' calls (Evolution, console). An Evolution send holds one for its
# "typing…" (Evolution answers when it ends, TYPING_MS) and the call, about 1.2 s, while its number sends one
# message every few seconds: at the default 5 s delay, 64 threads keep over 250 numbers at their pace.
SEND_THREADS = 64
# How often a running dispatcher claims the next round while earlier ones are being sent: a round's claim
# and write come out of the tick, so a slow claim delays only the next one (see Dispatcher.run).
TICK_SECONDS = 0.05
# The largest page of due messages _heads reads at once when looking past contacts' later messages.
MAX_HEADS_PAGE = 1000
# A send may start at most this long after its pacing slot (see _wait_for_slot).
LATE_SECONDS = 0.015
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
    missed_slot: bool = False  # not sent: it would have started too long after its pacing slot


def backoff_seconds(attempt: int, *, kind: ErrorKind, retry_after: float | None) -> float:
    """Exponential backoff with jitter; Meta's pair rate limit asks for 4^n seconds (131056)."""
    if retry_after:
        return retry_after
    if kind == ErrorKind.PAIR_RATE_LIMIT:
        return min(BACKOFF_CAP_SECONDS, 4 ** max(attempt - 1, 0))
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return delay * random.uniform(0.5, 1.5)  # noqa: S311 (jitter, not security)


def _due_first(channel: Channel | OuterRef, now: dt.datetime):
    """A channel's due queued messages in the order of the outbox index (``message_outbox_due``).

    Ordered as that partial index is, so PostgreSQL reads it and stops at the limit. Unordered (or by id),
    with statistics taken while a burst was still queued, it walked the channel's rows through the
    foreign-key or primary-key index instead, past every message already sent: each claim got slower as
    the burst went out (4 ms of 20,000, against 0.25 ms from the index).
    """
    return Message.objects.filter(channel=channel, status=Message.Status.QUEUED, next_attempt_at__lte=now).order_by(
        "next_attempt_at", "pk"
    )


def due_channels(known: dict[int, Channel] | None = None) -> list[Channel]:
    """Channels with a message due now that may send: active, healthy, of an active company.

    ``known`` holds channels read before, by id (the dispatcher's, from round to round): one whose row and
    company's row have not been saved since is taken from there, and the rest are read and put there. Read
    whole every round (each time decrypting its secrets), the due channels cost a dispatcher a fifth of the
    CPU of its rounds. What sending uses of a channel changes only through a save (admin, API), which moves
    ``updated_at``; what changes by bulk updates (health, connection state) is in the filter, read every time.
    """
    # A Subquery keeps its ORDER BY ... LIMIT 1 (an Exists would drop it), see _due_first. An alias, not an
    # annotation: only the WHERE clause runs it.
    first_due = _due_first(OuterRef("pk"), timezone.now()).values("next_attempt_at")[:1]
    due = list(
        Channel.objects.alias(first_due=Subquery(first_due))
        .filter(first_due__isnull=False, is_active=True, health="ok", company__status=Company.Status.ACTIVE)
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
    planner's statistics still describe an empty outbox, and it ran that anti-join as a nested loop
    over the whole outbox (20,000 queued messages: one claim query ran for minutes). These two steps
    cost at most a pass over the due rows whatever the statistics say.
    """
    heads: list[int] = []
    # The first page is the size asked for (each contact once: it is all heads); each further page is twice
    # the last, so a backlog of one contact's messages is crossed in a few queries. A first page of 200 for a
    # round of 25 loaded and checked eight times the rows used: a quarter of each claim's CPU.
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
        # The rows are read whole as they are locked: the update below changes only what is set on them here.
        messages = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=heads, status=Message.Status.QUEUED, next_attempt_at__lte=now)
            .select_related("contact")
            .order_by("pk")
        )
        Message.objects.filter(pk__in=[m.pk for m in messages], status=Message.Status.QUEUED).update(
            status=Message.Status.SENDING, status_at=now
        )
    for message in messages:
        message.status, message.status_at = Message.Status.SENDING, now
    return messages


def unqueue(messages: list[Message]) -> None:
    """Give claimed messages back to the queue untouched (never handed to a provider)."""
    Message.objects.filter(pk__in=[m.pk for m in messages], status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED
    )


def recipient(message: Message) -> str:
    contact = message.contact
    return contact.wa_id or contact.phone or contact.user_id


async def _wait_for_slot(slot: float, channel: Channel) -> bool:
    """Wait until ``slot``; False when the send would start more than LATE_SECONDS after any slot of its own.

    Slots are one even schedule shared by every worker. A send started late (a busy machine, a slow claim)
    would bunch up with the sends of the next slots: more than the limit in some second. So every send
    starts within LATE_SECONDS of a slot of its own: any one-second window holds at most the slots of
    1 + LATE_SECONDS seconds, which CLOUD_SAFETY's margin (4 %) keeps within the limit. A late send takes a
    fresh slot if the channel has one free right now (a channel below its pace), else it is not made: the
    message goes back to the queue untouched for the next round.
    """
    for _ in range(3):
        delay = slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.time() - slot <= LATE_SECONDS:
            return True
        # On the loop itself: one Redis round trip (or file lock), and only for a send already late.
        fresh = pacing.take_now(channel, within=LATE_SECONDS)
        if fresh is None:
            return False
        slot = fresh
    return False


def _fail(message: Message, *, now: dt.datetime, code: str, reason: str) -> None:
    message.status, message.status_at = Message.Status.FAILED, now
    message.error_code, message.error_reason = code[:32], reason[:255]


def _record(outcomes: list[Outcome], channels: dict[int, Channel]) -> None:
    """Write a round's outcomes: a few bulk queries, not one per message."""
    missed = sum(1 for o in outcomes if o.missed_slot)
    if missed:
        # Never handed to the provider: queued again as they were (attempts unchanged), due at once.
        unqueue([o.message for o in outcomes if o.missed_slot])
        logger.warning(
            "%d message(s) missed their send slot by more than %d ms (a busy worker?): queued again",
            missed,
            LATE_SECONDS * 1000,
        )
        outcomes = [o for o in outcomes if not o.missed_slot]
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
        if message.status == Message.Status.FAILED:  # a sent message's entry is written by _mark_sent
            history.append(
                MessageStatusChange(
                    message=message,
                    status=message.status,
                    at=message.status_at,
                    error_code=message.error_code,
                    error_title=message.error_reason,
                )
            )
    sent = [o.message for o in outcomes if o.sent is not None]
    others = [o.message for o in outcomes if o.sent is None]
    with transaction.atomic():
        _mark_sent(sent)
        if others:
            Message.objects.bulk_update(
                others,
                ["status", "status_at", "provider_id", "error_code", "error_reason", "attempts", "next_attempt_at"],
            )
        MessageStatusChange.objects.bulk_create(history, ignore_conflicts=True)
    for channel_id, error in auth_failures.items():
        mark_unhealthy(channels[channel_id], reason=f"{error.code}: {error.message}")
    _apply_pending_receipts(sent)


def _mark_sent(messages: list[Message]) -> None:
    """Store the sent messages' status, time, provider id and attempts, and their ``sent`` history entries.

    Per 500 messages one UPDATE ... FROM (VALUES ...) and one INSERT ... SELECT of the history from the rows
    just written. ``bulk_update`` builds a CASE WHEN per field and message in Python: for a round of 250
    messages that was about 140 ms of CPU, a quarter of a busy worker; this is about 3 ms. ``bulk_create`` of
    the history entries was more than half of what remained of writing a round. Same values written.
    """
    if not messages:
        return
    if connection.vendor == "sqlite" and sqlite3.sqlite_version_info < (3, 33):  # no UPDATE ... FROM
        Message.objects.bulk_update(
            messages, ["status", "status_at", "provider_id", "error_code", "error_reason", "attempts"]
        )
        MessageStatusChange.objects.bulk_create(
            [MessageStatusChange(message=m, status=m.status, at=m.status_at) for m in messages], ignore_conflicts=True
        )
        return
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    history = quote(MessageStatusChange._meta.db_table)
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    for start in range(0, len(messages), 500):
        chunk = messages[start : start + 500]
        params: list = []
        for message in chunk:
            params += [message.pk, connection.ops.adapt_datetimefield_value(message.status_at)]
            params += [message.provider_id, message.attempts]
        rows = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
        ids = [message.pk for message in chunk]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH v (id, at, provider_id, attempts) AS (VALUES {rows}) "  # noqa: S608 (names are ours, values are parameters)
                f"UPDATE {table} SET {quote('status')} = %s, {quote('status_at')} = v.at, "
                f"{quote('provider_id')} = v.provider_id, {quote('attempts')} = v.attempts, "
                f"{quote('error_code')} = '', {quote('error_reason')} = '' "
                f"FROM v WHERE {table}.{quote('id')} = v.id",
                [*params, Message.Status.SENT],
            )
            # The WHERE clause is also what SQLite needs to read ON CONFLICT as the upsert clause.
            cursor.execute(
                f"INSERT INTO {history} ({quote('message_id')}, {quote('status')}, {quote('at')}, "  # noqa: S608
                f"{quote('error_code')}, {quote('error_title')}, {quote('applied')}, {quote('raw')}, "
                f"{quote('created_at')}) "
                f"SELECT {quote('id')}, %s, {quote('status_at')}, '', '', %s, %s, %s FROM {table} "
                f"WHERE {quote('id')} IN ({', '.join(['%s'] * len(ids))}) "
                f"ON CONFLICT ({quote('message_id')}, {quote('status')}, {quote('at')}) DO NOTHING",
                [Message.Status.SENT, True, "{}", created_at, *ids],
            )


def _apply_pending_receipts(messages: list[Message]) -> None:
    """Receipts that arrived before their message was sent: one query for the round, then apply those found."""
    provider_ids = {m.provider_id for m in messages if m.provider_id}
    if not provider_ids:
        return
    waiting = set(PendingStatus.objects.filter(provider_id__in=provider_ids).values_list("company_id", "provider_id"))
    for message in messages:
        if (message.company_id, message.provider_id) in waiting:
            statuses.apply_pending(message)


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
        if contents.needs_template(channel, message.contact, content):
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


@dataclass
class Round:
    """What ``Dispatcher._start_round`` handed to the send loop, and what it could not."""

    futures: list[Future] = field(default_factory=list)
    refused: list[Outcome] = field(default_factory=list)  # failed before any call (window closed)
    channels: dict[int, Channel] = field(default_factory=dict)  # the due channels visited
    paced_for: float = math.inf  # seconds until the soonest paced-out channel may send again


class Dispatcher:
    """Runs rounds until nothing is due or the time budget is spent."""

    def __init__(self, *, in_flight: int = MAX_IN_FLIGHT, threads: int = SEND_THREADS) -> None:
        self.in_flight = in_flight
        self.sends = SendLoop(connections=in_flight)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
        self._providers: dict[tuple[int, int], tuple[dt.datetime, Any]] = {}
        self._channels: dict[int, Channel] = {}  # see due_channels

    def close(self) -> None:
        self.sends.close()
        self.pool.shutdown(wait=True)

    def _provider(self, channel: Channel) -> Any:
        # One provider (and HTTP session) per channel and thread: sessions are not thread-safe. Made again once
        # the channel was saved (new token, URL or limits): the dispatcher outlives any one version of it.
        key = (channel.pk, threading.get_ident())
        held = self._providers.get(key)
        if held is None or held[0] != channel.updated_at:
            held = self._providers[key] = (channel.updated_at, provider_for(channel))
        return held[1]

    async def _send_at(self, slot: float, channel: Channel, message: Message) -> Outcome:
        """Send at ``slot`` (see _wait_for_slot); a message whose slot passed is returned ``missed_slot``, unsent."""
        if not await _wait_for_slot(slot, channel):
            return Outcome(message, missed_slot=True)
        try:
            return Outcome(message, sent=await self._send(channel, message))
        except SendError as exc:
            return Outcome(message, error=exc)
        except Exception as exc:  # a bug in an adapter must not leave the row "sending" forever
            logger.exception("Unexpected error sending message %s", message.pk)
            return Outcome(message, error=SendError(str(exc), kind=ErrorKind.RETRYABLE, code="unexpected"))

    async def _send(self, channel: Channel, message: Message) -> Sent:
        content, to = message.data["content"], recipient(message)
        if channel.kind == Channel.Kind.CLOUD:
            # Built as CloudProvider.send_* would, posted from the loop.
            body = contents.send(cloud.MESSAGE_BODIES, to=to, content=content)
            return await self._provider(channel).deliver_async(self.sends.http, body)
        # Other providers (Evolution, console) are synchronous: their call runs on a send thread.
        typing_first = channel.kind == Channel.Kind.EVOLUTION and channel.send_delay_ms >= TYPING_MIN_DELAY_MS

        def call() -> Sent:
            provider = self._provider(channel)
            if typing_first:
                # Unofficial numbers look less like robots when "typing…" precedes the message.
                provider.send_presence(to=to, delay_ms=TYPING_MS)
            return contents.send(provider, to=to, content=content)

        return await asyncio.get_running_loop().run_in_executor(self.pool, contextvars.copy_context().run, call)

    def _start_round(self, room: int) -> Round:
        """Claim a round (in rotating channel order) and hand it to the send loop.

        ``room`` bounds the round: at most that many sends are handed over (see MAX_IN_FLIGHT).
        """
        if room <= 0:
            return Round()
        channels = due_channels(self._channels)
        if not channels:
            return Round()
        start = next(_round_robin) % len(channels)
        channels = channels[start:] + channels[:start]
        futures: list[Future] = []
        refused: list[Outcome] = []
        paced_for = math.inf
        now = timezone.now()
        for index, channel in enumerate(channels):
            if room <= 0:
                break
            # An even share of what is left, so one channel's backlog never takes another's turn; a share
            # a channel does not use passes on to the channels after it.
            share = -(-room // (len(channels) - index))
            wait = pacing.seconds_until_room(channel)
            if wait > 0:
                paced_for = min(paced_for, wait)
                continue  # paced out for now: claiming would only put its messages back
            # Claim, then reserve: slots taken before a slow claim (a large outbox, a busy database) had
            # passed by the time their messages were handed over, and those sends were not made.
            messages = claim(channel, min(share, pacing.most_per_reservation(channel)))
            slots = pacing.reserve(channel, len(messages))
            if len(slots) < len(messages):
                unqueue(messages[len(slots) :])  # another worker took the slots meanwhile
                messages = messages[: len(slots)]
            to_send, failed_now = _prepare(channel, messages, now)
            refused += failed_now
            # Handed over now, not with the round: the slots of the first channels of a round of many passed
            # while the others were claimed, and their sends were not made.
            futures += self.sends.submit(
                [self._send_at(slot, channel, message) for message, slot in zip(to_send, slots, strict=False)]
            )
            room -= len(messages)
        return Round(futures, refused, {c.pk: c for c in channels}, paced_for)

    def run_round(self) -> int:
        """One pass over the due channels, waiting for its sends; returns how many messages were handled."""
        started = self._start_round(self.in_flight)
        outcomes = started.refused + [future.result() for future in started.futures]
        _record(outcomes, started.channels)
        return len(outcomes)

    def run(self, *, budget_seconds: float, idle_wait: float = pacing.HORIZON_SECONDS) -> int:
        """Rounds until ``budget_seconds`` pass or nothing is due; returns messages handled.

        Pipelined: every TICK_SECONDS a round is claimed and handed to the send loop while the earlier ones
        are still being sent, and the outcomes that came in meanwhile are written. Waiting for each round's
        last send before claiming the next left every channel idle while a round was claimed and written
        (about half of a 1,000 mps channel's capacity on a 2-core machine). Sends held never outnumber
        ``in_flight``.
        """
        deadline, handled = time.monotonic() + budget_seconds, 0
        in_flight: list[Future] = []
        channels: dict[int, Channel] = {}

        def record_finished(*, wait: bool) -> int:
            nonlocal in_flight
            finished, still = [], []
            for future in in_flight:  # one look at each: a future finishing meanwhile lands in one list only
                (finished if wait or future.done() else still).append(future)
            in_flight = still
            outcomes = [future.result() for future in finished]
            _record(outcomes, channels)
            return len(outcomes)

        try:
            while (tick_started := time.monotonic()) < deadline:
                # Room for as many new sends as the in-flight bound leaves.
                busy = sum(1 for future in in_flight if not future.done())
                started = self._start_round(self.in_flight - busy)
                channels.update(started.channels)
                in_flight += started.futures
                _record(started.refused, channels)
                handled += len(started.refused) + record_finished(wait=False)
                # ``busy``: a round with no room looked at no channel, so finding none says nothing about what
                # is due (its sends may all have ended meanwhile, leaving nothing in flight).
                if busy or in_flight or started.futures or started.refused:
                    # A tick is counted from its start: the claim and the writes above come out of it, not
                    # on top of it (a fixed sleep after them made each round later than the last).
                    time.sleep(max(0.0, tick_started + TICK_SECONDS - time.monotonic()))
                elif not started.channels:
                    break
                else:
                    # Due, but every channel is paced out until its next slot is within the horizon: no later
                    # (with two dispatchers on one channel, a fixed wait left the channel's slots unused).
                    time.sleep(min(idle_wait, started.paced_for))
        finally:
            # Whatever happens, what was handed to the send loop is waited for and written.
            handled += record_finished(wait=True)
        return handled


def recover_stuck(*, older_than: dt.timedelta = STUCK_AFTER) -> int:
    """Messages left ``sending`` by a worker that died: failed as ``outcome_unknown``, never resent blindly."""
    now = timezone.now()
    stuck = Message.objects.filter(status=Message.Status.SENDING, status_at__lt=now - older_than)
    entry = {"status": Message.Status.FAILED, "at": now, "error_code": "outcome_unknown"}
    recovered = 0
    while True:
        with transaction.atomic():
            # Locked as they are read, and rows a writer holds are skipped: a worker that was merely slow and
            # is writing its outcome right now keeps it.
            failed = list(stuck.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:500])
            if not failed:
                return recovered
            Message.objects.filter(pk__in=failed).update(
                status=Message.Status.FAILED,
                status_at=now,
                error_code="outcome_unknown",
                error_reason="The worker stopped during the provider call; it may have been sent. Retry if not.",
            )
            MessageStatusChange.objects.bulk_create(
                [MessageStatusChange(message_id=pk, **entry) for pk in failed], ignore_conflicts=True
            )
        recovered += len(failed)
