"""API rate limits (django-ratelimit), per client IP and per key, answered as 429 in the error format.

The IP limit is counted before authentication, so guessing keys is limited too; the key limit after.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

# What django-ratelimit is given when no address is known; no IP limit is counted then (enforce_ip_limit).
UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104  (a placeholder, nothing listens on it)


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The client address; behind a trusted proxy, the last hop it appended to X-Forwarded-For.

    None when there is none to read: no REMOTE_ADDR (a server on a Unix socket), or not an address.
    """
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops and (hop := _address(hops[-1])):
            return hop
    return _address(request.META.get("REMOTE_ADDR") or "")


def client_ip(request: HttpRequest) -> str:
    """``RATELIMIT_IP_META_KEY``: django-ratelimit needs an address, and fails on anything else."""
    return client_address(request) or UNKNOWN_ADDRESS


def _credential_identity(group: str, request: HttpRequest) -> str:
    return request.rate_limit_identity


def _enforce(request: HttpRequest, *, group: str, key, rate: str) -> None:
    usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    if usage and usage["should_limit"]:
        raise Throttled(wait=max(1, usage["time_left"]))


def enforce_ip_limit(request: Request) -> None:
    # Without an address every client would share one counter: the key limit still applies.
    if settings.RATELIMIT_ENABLE and client_address(request._request) is not None:
        _enforce(request._request, group="api:ip", key="ip", rate=settings.API_RATE_LIMIT_PER_IP)


def enforce_key_limit(request: Request) -> None:
    if settings.RATELIMIT_ENABLE and request.auth is not None:
        request._request.rate_limit_identity = f"{type(request.auth).__name__}:{request.auth.pk}"
        _enforce(request._request, group="api:key", key=_credential_identity, rate=settings.API_RATE_LIMIT_PER_KEY)
