"""Cached company and channel lookups (by contract, Cloud phone_number_id, Evolution instance).

Webhooks resolve their tenant on every request, so the lookups live in the cache (Redis in
production). Entries are encrypted with the field encryption key: a cached row carries decrypted
secrets and must not sit in Redis as plaintext. Every save or delete of a Company or Channel drops
the affected keys (``companies.signals``), so a change is seen at once.

In front of a shared cache each process also keeps what it read for COMPANY_LOCAL_CACHE_SECONDS
(2 s by default): a webhook burst then costs no cache round trip per request. A change is seen at once
by the process that made it (its copy is dropped with the shared key) and by the others within those
seconds. The local copy is the pickle, so every caller still gets its own instance (except inside
``local_only()``, below).

Code on an event loop must not wait for Redis or the database: inside ``local_only()`` a lookup answers
from this process's memory or raises ``NotCachedLocally``, and the caller hands the work to a thread.
"""

import contextlib
import contextvars
import hashlib
import pickle
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from companies.models import Channel, Company
from config import crypto
from config.nul import has_nul

# Bump when Company/Channel change shape, so old pickles are never read back.
SCHEMA_VERSION = 1
_MISSING = "missing"
_NEGATIVE_TIMEOUT = 30
T = TypeVar("T")


# What a key may hold as it is; anything else (spaces, control characters, length) is hashed, so that
# no webhook body can make a key the cache backends warn about (memcached's rules, which Django checks).
_PLAIN_KEY_VALUE = re.compile(r"[A-Za-z0-9._@+=-]{1,120}")


def _key(kind: str, value: str) -> str:
    if not _PLAIN_KEY_VALUE.fullmatch(value):
        value = "#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"companies:v{SCHEMA_VERSION}:{kind}:{value}"


def contract_key(contract: uuid.UUID | str) -> str:
    return _key("contract", str(contract).lower())


def phone_number_id_key(phone_number_id: str) -> str:
    return _key("pnid", phone_number_id)


def instance_key(instance_name: str) -> str:
    return _key("instance", instance_name)


class _LocalCopies:
    """This process's recent reads: key -> (expiry on the monotonic clock, pickled value)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._shared: dict[str, tuple[bytes, object]] = {}  # key -> (the pickle it came from, the instance)
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def get_shared(self, key: str) -> object | None:
        """One unpickled instance per entry, the same for every caller: read it, never change it."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        shared = self._shared.get(key)
        if shared is None or shared[0] is not entry[1]:  # none yet, or read before the entry was replaced
            shared = (entry[1], pickle.loads(entry[1]))  # noqa: S301  (our own encrypted data)
            self._shared[key] = shared
        return shared[1]

    def set(self, key: str, pickled: bytes) -> None:
        seconds = settings.COMPANY_LOCAL_CACHE_SECONDS
        if seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= _LOCAL_MAX_ENTRIES:
                self._entries.clear()  # a flood of unknown keys must not grow the process without bound
                self._shared.clear()
            self._entries[key] = (time.monotonic() + seconds, pickled)

    def forget(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)
                self._shared.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._shared.clear()


_LOCAL_MAX_ENTRIES = 10_000
local_copies = _LocalCopies()


class NotCachedLocally(Exception):
    """Inside ``local_only()``: the answer would have to come from Redis or the database."""


_local_only: contextvars.ContextVar[bool] = contextvars.ContextVar("company_cache_local_only", default=False)


@contextlib.contextmanager
def local_only() -> Iterator[None]:
    """Lookups in this block answer from this process's memory, or raise NotCachedLocally.

    They may return one instance shared by every such caller (no unpickling per lookup): read it only.
    """
    token = _local_only.set(True)
    try:
        yield
    finally:
        _local_only.reset(token)


def needs_database() -> None:
    """Say that a query is about to run: inside ``local_only()`` it raises NotCachedLocally instead."""
    if _local_only.get():
        raise NotCachedLocally


def _cached(key: str, load: Callable[[], T | None]) -> T | None:
    if _local_only.get() and (shared := local_copies.get_shared(key)) is not None:
        return None if shared == _MISSING else shared  # type: ignore[return-value]
    pickled = local_copies.get(key)
    if pickled is None:
        if settings.CACHE_IS_SHARED and _local_only.get():
            raise NotCachedLocally(key)
        blob = cache.get(key)
        if blob is not None:
            pickled = crypto.decrypt(blob)
            local_copies.set(key, pickled)
    if pickled is not None:
        value = pickle.loads(pickled)  # noqa: S301  (our own encrypted, authenticated data)
        return None if value == _MISSING else value
    needs_database()
    value = load()
    pickled = pickle.dumps(_MISSING if value is None else value)
    timeout = _NEGATIVE_TIMEOUT if value is None else settings.COMPANY_CACHE_TIMEOUT
    cache.set(key, crypto.encrypt(pickled), timeout)
    local_copies.set(key, pickled)
    return value


def _parse_uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def get_company_by_contract(contract: uuid.UUID | str) -> Company | None:
    """The company with this contract, or None (also for a value that is not a UUID)."""
    parsed = _parse_uuid(contract)
    if parsed is None:
        return None
    return _cached(contract_key(parsed), lambda: Company.objects.filter(contract=parsed).first())


def get_channel_by_phone_number_id(phone_number_id: str) -> Channel | None:
    """The Cloud channel (with its company loaded) that owns this Meta phone_number_id, or None."""
    if not phone_number_id or has_nul(phone_number_id):  # no row holds one; PostgreSQL refuses the query
        return None
    return _cached(
        phone_number_id_key(phone_number_id),
        lambda: Channel.objects.select_related("company").filter(phone_number_id=phone_number_id).first(),
    )


def get_channel_by_instance(instance_name: str) -> Channel | None:
    """The Evolution channel (with its company loaded) named by this instance, or None."""
    if not instance_name or has_nul(instance_name):
        return None
    return _cached(
        instance_key(instance_name),
        lambda: (
            Channel.objects.select_related("company")
            .filter(kind=Channel.Kind.EVOLUTION, instance_name=instance_name)
            .first()
        ),
    )


def keys_for_channel(channel: Channel) -> set[str]:
    keys = set()
    if channel.phone_number_id:
        keys.add(phone_number_id_key(channel.phone_number_id))
    if channel.instance_name:
        keys.add(instance_key(channel.instance_name))
    return keys


def keys_for_company(company: Company, channels: Iterable[Channel] = ()) -> set[str]:
    keys = {contract_key(company.contract)}
    for channel in channels:
        keys |= keys_for_channel(channel)
    return keys


def forget_now_and_on_commit(keys: set[str]) -> None:
    """Drop the keys at once and again on commit: a request that read the old row while the transaction
    was open could have cached it in between."""
    forget(keys)
    transaction.on_commit(lambda: forget(keys))


def forget(keys: Iterable[str]) -> None:
    keys = list(keys)
    if keys:
        local_copies.forget(keys)
        cache.delete_many(keys)
