"""API authentication: a company API key or a staff platform token, as ``X-API-Key`` or Bearer."""

from dataclasses import dataclass

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from companies import selectors, services
from companies.models import ApiKey, Company, PlatformToken


@dataclass(frozen=True)
class CompanyPrincipal:
    """``request.user`` for a company API key: authenticated, never staff, bound to one company."""

    company: Company
    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False
    is_active: bool = True

    @property
    def pk(self) -> str:
        return f"apikey:{self.api_key.pk}"

    def __str__(self) -> str:
        return f"{self.company} / {self.api_key}"


def credential_from(request: Request) -> str | None:
    """The raw key sent with the request, if any."""
    key = request.headers.get("X-API-Key", "").strip()
    if key:
        return key
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class KeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request):
        raw = credential_from(request)
        if raw is None:
            return None
        key = selectors.find_active_key(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.", code="invalid_api_key")
        services.record_key_use(key=key, resolution_seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        if isinstance(key, PlatformToken):
            if not (key.user.is_active and key.user.is_staff):
                raise exceptions.AuthenticationFailed("This token's user is not an active staff member.")
            return key.user, key
        return CompanyPrincipal(company=key.company, api_key=key), key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="api"'
