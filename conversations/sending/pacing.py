"""Per-channel pacing shared by every worker: send slots from a GCRA schedule.

Each channel has a "theoretical arrival time" (TAT): the moment its next message may go. A worker
reserves a run of slots ``interval`` apart, at most ``HORIZON`` ahead, and sends each message no
earlier than its slot. Because all workers draw from the same TAT (in Redis, or in a file under
``var/pacing`` on embedded defaults), sends of a channel are evenly spaced whatever the number of
workers: a Cloud number set to 80 mps gets a slot every 1/80 s, an Evolution number one per delay.
"""

import collections
import contextlib
import fcntl
import functools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from django.conf import settings

from companies.models import Channel
from config.cache import redis_client

# A send may start at most this long after its pacing slot, or it is not made (dispatcher.wait_for_slot).
LATE_SECONDS = 0.015
# Cloud channels run a little under their limit: a send may start up to LATE_SECONDS after its slot, and
# arrives after some jitter of the network (and the far end's own clock): together these must never put more
# than the limit into any one-second window. A window holds the slots of at most 1 + LATE_SECONDS seconds,
# (1 + LATE_SECONDS) x CLOUD_SAFETY of the limit; the rest absorbs the jitter and the sends woken together
# after a stall of the process. A higher rate or a looser LATE_SECONDS leaves too little for them (the send
# benchmark's busiest second shows it).
CLOUD_SAFETY = 0.96
# How far ahead a worker may reserve: long enough to batch, short enough to stay fair.
HORIZON_SECONDS = 0.25
# A channel's first free slot is at least this far in the future: time to hand the claimed messages to
# the send loop, so the first slot has not already passed when its send starts waiting for it.
LEAD_SECONDS = 0.02

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local lead = tonumber(ARGV[4])
if tat < now + lead then tat = now + lead end
if tat > now + horizon then return {tostring(now), tostring(tat), 0} end
local granted = math.min(wanted, math.floor((now + horizon - tat) / interval) + 1)
redis.call('SET', KEYS[1], tostring(tat + granted * interval), 'PX', 3600000)
return {tostring(now), tostring(tat), granted}
"""


def interval_seconds(channel: Channel) -> float:
    if channel.kind == Channel.Kind.EVOLUTION:
        return max(channel.send_delay_ms, 1) / 1000
    return 1 / (max(channel.throughput_mps, 1) * CLOUD_SAFETY)


def most_per_reservation(channel: Channel) -> int:
    """The most slots one ``reserve`` can grant: a pacing horizon's worth (1 for an Evolution delay)."""
    return int((HORIZON_SECONDS - LEAD_SECONDS) / interval_seconds(channel)) + 1


class _RedisClock:
    """How far our clock is ahead of Redis's, to translate slots (Redis's time) into ours.

    Every worker's slots come from Redis's clock, so workers on machines whose clocks disagree still keep
    one schedule. Each script call tells Redis's time; our clock read when the answer is in hand is later
    by the true difference plus however long the answer took to reach us, which a busy process stretches
    to tens of milliseconds. Taken from one call, that delay would move a whole reservation's slots later,
    onto the next reservation's (another worker's), and put more than the limit into some second. The least
    difference seen over the last calls is the one with the least delay.
    """

    def __init__(self, keep: int = 64) -> None:
        self._seen: collections.deque[float] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def offset(self, redis_ms: str) -> float:
        seen = time.time() - float(redis_ms) / 1000
        with self._lock:
            self._seen.append(seen)
            return min(self._seen)


_redis_clock = _RedisClock()


@functools.cache
def _script(source: str) -> "redis.commands.core.Script":
    return redis_client().register_script(source)


def _key(channel: Channel) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:pace:{channel.pk}"


@contextlib.contextmanager
def _locked_state(channel: Channel) -> Iterator[Path]:
    folder = Path(settings.VAR_DIR) / "pacing"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{channel.pk}.json"
    with (folder / f"{channel.pk}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_tat(path: Path) -> float | None:
    try:
        return float(json.loads(path.read_text())["tat"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def _reserve_file(channel: Channel, wanted: int, interval: float) -> tuple[float, int]:
    with _locked_state(channel) as path:
        now = time.time()
        tat = _read_tat(path) or 0.0
        tat = max(tat, now + LEAD_SECONDS)
        if tat > now + HORIZON_SECONDS:
            return tat, 0
        granted = min(wanted, int((now + HORIZON_SECONDS - tat) / interval) + 1)
        path.write_text(json.dumps({"tat": tat + granted * interval}))
        return tat, granted


def reserve(channel: Channel, wanted: int) -> list[float]:
    """Up to ``wanted`` send times for ``channel``, evenly spaced from its next free slot; empty when it must wait."""
    interval = interval_seconds(channel)
    if wanted <= 0:
        return []
    if settings.REDIS_URL:
        now_ms, first_ms, granted = _script(_RESERVE)(
            keys=[_key(channel)], args=[interval * 1000, HORIZON_SECONDS * 1000, wanted, LEAD_SECONDS * 1000]
        )
        first = float(first_ms) / 1000 + _redis_clock.offset(now_ms)
        return [first + i * interval for i in range(int(granted))]
    first, granted = _reserve_file(channel, wanted, interval)
    return [first + i * interval for i in range(granted)]


_AHEAD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
return tostring(tonumber(redis.call('GET', KEYS[1]) or '0') - now)
"""


def seconds_until_room(channel: Channel) -> float:
    """How long until ``reserve`` would grant a slot: 0 when it would now (a hint: another worker may take it)."""
    if settings.REDIS_URL:
        ahead = float(_script(_AHEAD)(keys=[_key(channel)])) / 1000
    else:
        with _locked_state(channel) as path:
            tat = _read_tat(path)
            ahead = 0.0 if tat is None else tat - time.time()
    return max(0.0, ahead - HORIZON_SECONDS)


_TAKE_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tonumber(ARGV[2]) then return {tostring(now), ''} end
redis.call('SET', KEYS[1], tostring(tat + tonumber(ARGV[1])), 'PX', 3600000)
return {tostring(now), tostring(tat)}
"""


def take_now(channel: Channel, *, within: float) -> float | None:
    """One slot no later than ``within`` seconds from now, if the channel has one free; else None (nothing taken).

    For a send that missed its own slot: a channel below its pace has a free one at once, a channel at its
    pace has none before the slots already handed out.
    """
    interval = interval_seconds(channel)
    if settings.REDIS_URL:
        now_ms, slot_ms = _script(_TAKE_NOW)(keys=[_key(channel)], args=[interval * 1000, within * 1000])
        if not slot_ms:
            return None
        return float(slot_ms) / 1000 + _redis_clock.offset(now_ms)
    with _locked_state(channel) as path:
        now = time.time()
        tat = _read_tat(path) or 0.0
        tat = max(tat, now)
        if tat - now > within:
            return None
        path.write_text(json.dumps({"tat": tat + interval}))
        return tat
