"""The dispatcher: claims due messages channel by channel, paces them, sends them, records the outcome.

One round visits every channel with due messages, in a rotating order, and takes at most one
pacing horizon of messages from each: a company with 10,000 queued messages gets its share of a
round, and a company with one message is served in the next round, a fraction of a second later.
A running dispatcher claims a round every TICK_SECONDS while the earlier ones are still being sent
(``Dispatcher.run``); each send starts within ``pacing.LATE_SECONDS`` of a pacing slot of its own or is not made
and goes back to the queue (``wait_for_slot``), so no second ever holds more than the channel's limit.
Sends wait for their slots on the dispatcher's event loop (``send_loop``), and each is handed to its
channel's provider there (``send_async``): the Cloud API posts from the loop, the blocking providers
(Evolution, console) run on SEND_THREADS threads. The dispatcher never asks what kind a channel is.
"""

import asyncio
import contextvars
import datetime as dt
import itertools
import logging
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.utils import timezone

from companies.models import Channel
from config.provider_errors import ErrorKind
from conversations.models import Message
from conversations.sending import outbox, pacing
from conversations.sending.outcomes import Outcome, record, refusals
from conversations.sending.send_loop import SendLoop
from conversations.whatsapp.base import SendError, SendRuntime, Sent, WhatsAppProvider, provider_for

logger = logging.getLogger(__name__)

# The sends a dispatcher holds at once, waiting on its event loop for their slots or in flight: a channel at
# R messages per second whose calls take S seconds holds about R x (S + HORIZON) (1,000 mps with Meta's 60 to
# 200 ms: 310 to 450, shared by the dispatchers). Each is a timer or a socket, not a thread.
MAX_IN_FLIGHT = 320
# Threads for the blocking providers' calls (Evolution, console). An Evolution send holds one for its
# "typing…" (Evolution answers when it ends) and the call, about 1.2 s, while its number sends one message
# every few seconds: at the default 5 s delay, 64 threads keep over 250 numbers at their pace.
SEND_THREADS = 64
# How often a running dispatcher claims the next round while earlier ones are being sent: a round's claim
# and write come out of the tick, so a slow claim delays only the next one (see Dispatcher.run). A tick's
# queries cost about the same whatever the round's size, so a shorter tick spends on queries the CPU that
# the sends need to wake in time for their slots (most where the cores are shared). A fresh message waits a
# tick at most, which the fairness benchmark measures.
TICK_SECONDS = 0.1
SWITCH_INTERVAL_SECONDS = 0.001
_round_robin = itertools.count()


async def wait_for_slot(slot: float, channel: Channel) -> bool:
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
        if time.time() - slot <= pacing.LATE_SECONDS:
            return True
        # On the loop itself: one Redis round trip (or file lock), and only for a send already late.
        fresh = pacing.take_now(channel, within=pacing.LATE_SECONDS)
        if fresh is None:
            return False
        slot = fresh
    return False


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
        # The thread claiming and writing rounds hands the interpreter lock to the send loop at most this far
        # apart: at Python's default of 5 ms, sends would wake later than their slots allow whenever a round
        # is being written. It is the process's setting; a dispatcher has its worker process to itself.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self.in_flight = in_flight
        self.sends = SendLoop(connections=in_flight)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
        self.runtime = SendRuntime(http=self.sends.http, run_sync=self._on_thread)
        self._providers: dict[int, tuple[dt.datetime, WhatsAppProvider]] = {}
        self._channels: dict[int, Channel] = {}  # see outbox.due_channels
        # Claimed messages waiting for a slot of a later round, by channel: their slot passed, or the round had
        # none left for them. Kept (``sending``) rather than given back and claimed again, which costs a busy
        # dispatcher two more writes each; given back when the run ends.
        self._carried: dict[int, list[Message]] = {}

    def close(self) -> None:
        self.sends.close()
        self.pool.shutdown(wait=True)

    def _provider(self, channel: Channel) -> WhatsAppProvider:
        # One provider per channel, shared by the loop and the send threads. Made again once the channel was
        # saved (new token, URL or limits): the dispatcher outlives any one version of it.
        held = self._providers.get(channel.pk)
        if held is None or held[0] != channel.updated_at:
            held = self._providers[channel.pk] = (channel.updated_at, provider_for(channel))
        return held[1]

    async def _send_at(self, slot: float, channel: Channel, message: Message) -> Outcome:
        """Send at ``slot`` (see wait_for_slot); a message whose slot passed is returned ``missed_slot``, unsent."""
        if not await wait_for_slot(slot, channel):
            return Outcome(message, missed_slot=True)
        try:
            provider = self._provider(channel)
            sent = await provider.send_async(
                to=outbox.recipient(message), content=message.data["content"], runtime=self.runtime
            )
            return Outcome(message, sent=sent)
        except SendError as exc:
            return Outcome(message, error=exc)
        except Exception as exc:  # a bug in an adapter must not leave the row "sending" forever
            logger.exception("Unexpected error sending message %s", message.pk)
            return Outcome(message, error=SendError(str(exc), kind=ErrorKind.RETRYABLE, code="unexpected"))

    async def _on_thread(self, call: Callable[[], Sent]) -> Sent:
        # In the send's context (its request id in the logs), on one of the dispatcher's threads.
        return await asyncio.get_running_loop().run_in_executor(self.pool, contextvars.copy_context().run, call)

    def _start_round(self, room: int) -> Round:
        """Claim a round (in rotating channel order) and hand it to the send loop.

        ``room`` bounds the round: at most that many sends are handed over (see MAX_IN_FLIGHT).
        """
        if room <= 0:
            return Round()
        channels = outbox.due_channels(self._channels, also=set(self._carried))
        for channel_id in set(self._carried) - {channel.pk for channel in channels}:
            outbox.unqueue(self._carried.pop(channel_id))  # stopped meanwhile (credentials, inactive): back
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
            # Carried messages first, then claim, then reserve: slots taken before a slow claim (a large outbox,
            # a busy database) would have passed by the time their messages are handed over.
            wanted = min(share, pacing.most_per_reservation(channel))
            carried = self._carried.pop(channel.pk, [])
            messages = carried[:wanted] + outbox.claim(channel, wanted - len(carried))
            slots = pacing.reserve(channel, len(messages))
            self._carry(carried[wanted:] + messages[len(slots) :])  # another worker took the slots meanwhile
            messages = messages[: len(slots)]
            to_send, failed_now = refusals(channel, messages, now)
            refused += failed_now
            # Handed over now, not with the round: the slots of the first channels of a round of many would pass
            # while the others are claimed, and their sends would not be made.
            futures += self.sends.submit(
                [self._send_at(slot, channel, message) for message, slot in zip(to_send, slots, strict=False)]
            )
            room -= len(messages)
        return Round(futures, refused, {c.pk: c for c in channels}, paced_for)

    def _carry(self, messages: list[Message]) -> None:
        for message in messages:
            self._carried.setdefault(message.channel_id, []).append(message)

    def _give_back_carried(self) -> None:
        carried = [message for messages in self._carried.values() for message in messages]
        self._carried.clear()
        outbox.unqueue(carried)

    def _settle(self, outcomes: list[Outcome], channels: dict[int, Channel], *, carry: bool) -> int:
        """Write what was sent or failed; a send whose slot passed is carried to a later round (or given back)."""
        missed = [outcome.message for outcome in outcomes if outcome.missed_slot]
        if missed:
            logger.warning(
                "%d message(s) missed their send slot by more than %d ms (a busy worker?): %s",
                len(missed),
                pacing.LATE_SECONDS * 1000,
                "sent at a later slot" if carry else "queued again",
            )
            if carry:
                self._carry(missed)
            else:
                outbox.unqueue(missed)
        done = [outcome for outcome in outcomes if not outcome.missed_slot]
        record(done, channels)
        return len(done)

    def run_round(self) -> int:
        """One pass over the due channels, waiting for its sends; returns how many messages were handled."""
        try:
            started = self._start_round(self.in_flight)
            outcomes = started.refused + [future.result() for future in started.futures]
            return self._settle(outcomes, started.channels, carry=False)
        finally:
            self._give_back_carried()

    def run(self, *, budget_seconds: float, idle_wait: float = pacing.HORIZON_SECONDS) -> int:
        """Rounds until ``budget_seconds`` pass or nothing is due; returns messages handled.

        Pipelined: every TICK_SECONDS a round is claimed and handed to the send loop while the earlier ones
        are still being sent, and the outcomes that came in meanwhile are written. Waiting for each round's
        last send before claiming the next would leave every channel idle while a round is claimed and
        written, a large part of a fast channel's capacity. Sends held never outnumber ``in_flight``.
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
            return self._settle([future.result() for future in finished], channels, carry=not wait)

        try:
            while (tick_started := time.monotonic()) < deadline:
                # Room for as many new sends as the in-flight bound leaves.
                busy = sum(1 for future in in_flight if not future.done())
                started = self._start_round(self.in_flight - busy)
                channels.update(started.channels)
                in_flight += started.futures
                record(started.refused, channels)
                idle = not (busy or in_flight or started.futures or started.refused or self._carried)
                handled += len(started.refused) + record_finished(wait=False)
                # ``busy``: a round with no room looked at no channel, so finding none says nothing about what
                # is due (its sends may all have ended meanwhile, leaving nothing in flight).
                if not idle:
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
            # Whatever happens, what was handed to the send loop is waited for and written, and what waits
            # for a slot goes back to the queue.
            handled += record_finished(wait=True)
            self._give_back_carried()
        return handled
