"""Reads for the API and the admin: what a caller may see of companies, channels and keys."""

import uuid

from django.db.models import QuerySet

from companies import keys
from companies.models import ApiKey, Channel, Company, PlatformToken


def find_active_key(plaintext: str) -> ApiKey | PlatformToken | None:
    """The unrevoked key or token whose hash matches ``plaintext``, or None."""
    model = PlatformToken if plaintext.startswith(keys.PLATFORM_TOKEN_PREFIX) else ApiKey
    related = "user" if model is PlatformToken else "company"
    return (
        model.objects.select_related(related).filter(key_hash=keys.hash_key(plaintext), revoked_at__isnull=True).first()
    )


def list_companies(*, company: Company | None) -> QuerySet[Company]:
    """All companies for a platform admin (``company=None``); only its own for a company key."""
    queryset = Company.objects.order_by("name")
    return queryset.filter(pk=company.pk) if company else queryset


def get_company(*, company: Company | None, contract: uuid.UUID) -> Company | None:
    return list_companies(company=company).filter(contract=contract).first()


def list_channels(*, company: Company) -> QuerySet[Channel]:
    return company.channels.order_by("name", "pk")


def list_api_keys(*, company: Company) -> QuerySet[ApiKey]:
    return company.api_keys.order_by("-created_at")
