"""Every write to companies, channels and keys goes through here."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from companies import cache as company_cache
from companies import events, keys, members
from companies.models import ApiKey, Channel, Company, PlatformToken


def _assign(instance: Company | Channel, data: dict[str, Any]) -> None:
    for field, value in data.items():
        setattr(instance, field, value)


def save_company(*, company: Company) -> Company:
    """Store a validated company (new or changed); cached lookups see it at once (``signals``)."""
    company.save()
    return company


@transaction.atomic
def create_company(*, data: dict[str, Any]) -> Company:
    """Create a company from validated fields; returns it."""
    company = Company()
    _assign(company, data)
    return save_company(company=company)


@transaction.atomic
def update_company(*, company: Company, data: dict[str, Any]) -> Company:
    """Apply validated fields (secrets omitted from ``data`` are kept); returns the company."""
    _assign(company, data)
    return save_company(company=company)


@transaction.atomic
def delete_company(*, company: Company) -> None:
    """Delete a company and everything of it; its members keep their logins but lose their access."""
    for member in company.members.select_related("user"):
        members.remove_member(member=member)
    company.delete()


def default_instance_name(company: Company) -> str:
    return str(company.contract)


CREDENTIAL_FIELDS = frozenset({"access_token", "api_key", "api_base_url", "phone_number_id", "instance_name"})


def save_channel(*, channel: Channel, changed: set[str] | frozenset[str] = frozenset()) -> Channel:
    """Store a validated channel; an Evolution channel's instance defaults to the company contract.

    New credentials (``changed`` names the fields that changed) let a channel stopped for refused
    credentials send again.
    """
    if channel.kind == Channel.Kind.EVOLUTION and not channel.instance_name:
        channel.instance_name = default_instance_name(channel.company)
    if changed & CREDENTIAL_FIELDS and channel.health != Channel.Health.OK:
        channel.health, channel.health_reason, channel.health_changed_at = Channel.Health.OK, "", timezone.now()
    channel.save()
    return channel


def set_channel_health(*, channel: Channel, health: str, reason: str = "") -> bool:
    """Stop a channel's sending (credentials refused) or let it send again; returns whether it changed.

    The only writer of ``Channel.health`` besides ``save_channel`` (new credentials reset it). A queryset
    update, for the same reasons as ``record_connection_state``.
    """
    changed = (
        Channel.objects.filter(pk=channel.pk)
        .exclude(health=health)
        .update(health=health, health_reason=reason[:255], health_changed_at=timezone.now())
    )
    if changed:
        company_cache.forget_now_and_on_commit(company_cache.keys_for_channel(channel))
    return bool(changed)


@transaction.atomic
def create_channel(*, company: Company, data: dict[str, Any]) -> Channel:
    channel = Channel(company=company)
    _assign(channel, data)
    return save_channel(channel=channel, changed=frozenset(data))


@transaction.atomic
def update_channel(*, channel: Channel, data: dict[str, Any]) -> Channel:
    _assign(channel, data)
    return save_channel(channel=channel, changed=frozenset(data))


def delete_channel(*, channel: Channel) -> None:
    channel.delete()


def record_connection_state(*, channel: Channel, state: str, reason: str) -> bool:
    """Store what the provider says about the connection, touching no other field; returns whether it changed.

    A queryset update, not ``save()``: ``channel`` may be a cached copy, and saving it whole could
    restore an old token or an older state written meanwhile by another worker.
    """
    changed = (
        Channel.objects.filter(pk=channel.pk)
        .exclude(connection_state=state, connection_reason=reason)
        .update(connection_state=state, connection_reason=reason, connection_state_changed_at=timezone.now())
    )
    if changed:
        company_cache.forget_now_and_on_commit(company_cache.keys_for_channel(channel))
        events.CHANNEL_CONNECTION_CHANGED.emit(
            company_id=channel.company_id, payload={"channel_id": channel.pk, "state": state, "reason": reason}
        )
    return bool(changed)


def record_qr_code(*, channel: Channel, qr_code: str) -> None:
    """Keep the latest pairing QR code for the admin (same reasons as ``record_connection_state``)."""
    Channel.objects.filter(pk=channel.pk).update(qr_code=qr_code, qr_code_updated_at=timezone.now())
    company_cache.forget_now_and_on_commit(company_cache.keys_for_channel(channel))


def create_api_key(*, company: Company, name: str) -> tuple[ApiKey, str]:
    """Create a key for ``company``; returns it with its plaintext, which is never stored or shown again."""
    new = keys.generate_key(keys.COMPANY_KEY_PREFIX)
    api_key = ApiKey.objects.create(company=company, name=name, prefix=new.prefix, key_hash=new.key_hash)
    return api_key, new.plaintext


def create_platform_token(*, user: AbstractBaseUser, name: str) -> tuple[PlatformToken, str]:
    """Create a staff token; returns it with its plaintext, shown once."""
    new = keys.generate_key(keys.PLATFORM_TOKEN_PREFIX)
    token = PlatformToken.objects.create(user=user, name=name, prefix=new.prefix, key_hash=new.key_hash)
    return token, new.plaintext


def revoke_key(*, key: ApiKey | PlatformToken) -> None:
    """Revoke a key or token at once; revoking twice keeps the first time."""
    type(key).objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])


def record_key_use(*, key: ApiKey | PlatformToken, resolution_seconds: int) -> None:
    """Stamp ``last_used_at``, at most once per ``resolution_seconds`` so requests don't all write."""
    now = timezone.now()
    if key.last_used_at and (now - key.last_used_at).total_seconds() < resolution_seconds:
        return
    type(key).objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
