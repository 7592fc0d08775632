"""Cached company and channel lookups (by contract, Cloud phone_number_id, Evolution instance).

Webhooks resolve their tenant on every request, so the lookups live in the cache (Redis in
production). Entries are encrypted with the field encryption key: a cached row carries decrypted
secrets and must not sit in Redis as plaintext. Every save or delete of a Company or Channel drops
the affected keys (``companies.signals``), so a change is seen at once.
"""

import pickle
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

from companies.models import Channel, Company
from config import crypto

# Bump when Company/Channel change shape, so old pickles are never read back.
SCHEMA_VERSION = 1
_MISSING = "missing"
_NEGATIVE_TIMEOUT = 30
T = TypeVar("T")


def _key(kind: str, value: str) -> str:
    return f"companies:v{SCHEMA_VERSION}:{kind}:{value}"


def contract_key(contract: uuid.UUID | str) -> str:
    return _key("contract", str(contract).lower())


def phone_number_id_key(phone_number_id: str) -> str:
    return _key("pnid", phone_number_id)


def instance_key(instance_name: str) -> str:
    return _key("instance", instance_name)


def _cached(key: str, load: Callable[[], T | None]) -> T | None:
    blob = cache.get(key)
    if blob is not None:
        value = pickle.loads(crypto.decrypt(blob))  # noqa: S301  (our own encrypted, authenticated data)
        return None if value == _MISSING else value
    value = load()
    if value is None:
        cache.set(key, crypto.encrypt(pickle.dumps(_MISSING)), _NEGATIVE_TIMEOUT)
    else:
        cache.set(key, crypto.encrypt(pickle.dumps(value)), settings.COMPANY_CACHE_TIMEOUT)
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
    if not phone_number_id:
        return None
    return _cached(
        phone_number_id_key(phone_number_id),
        lambda: Channel.objects.select_related("company").filter(phone_number_id=phone_number_id).first(),
    )


def get_channel_by_instance(instance_name: str) -> Channel | None:
    """The Evolution channel (with its company loaded) named by this instance, or None."""
    if not instance_name:
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


def forget(keys: Iterable[str]) -> None:
    keys = list(keys)
    if keys:
        cache.delete_many(keys)
