"""What kind of failure a call to a provider had, shared by every adapter (WhatsApp, Meta's template API).

Each adapter maps its provider's own codes to an :class:`ErrorKind` once; callers decide from the kind
alone whether a retry can help. A request that got no HTTP answer is read here, the same way for both
transports (requests and aiohttp).
"""

import email.utils
import enum
import time
from typing import NamedTuple

import aiohttp
import requests

from config.masking import mask_text


class ErrorKind(enum.StrEnum):
    RETRYABLE = "retryable"  # network, timeouts, 5xx, transient provider errors
    THROUGHPUT = "throughput"  # sending faster than the number allows (130429, 80007, 4)
    PAIR_RATE_LIMIT = "pair_rate_limit"  # too fast to one recipient (131056)
    WINDOW_CLOSED = "window_closed"  # free-form outside the 24 h window (131047)
    INVALID_RECIPIENT = "invalid_recipient"  # not on WhatsApp, bad number (131026, 131021, ...)
    TEMPLATE = "template"  # missing, paused, disabled or wrongly filled template (132xxx)
    AUTH = "auth"  # token expired or lacking permission (0, 190, 10, 200-299)
    PERMANENT = "permanent"  # anything else that retrying will not fix


RETRYABLE_KINDS = frozenset({ErrorKind.RETRYABLE, ErrorKind.THROUGHPUT, ErrorKind.PAIR_RATE_LIMIT})


class TransportFailure(NamedTuple):
    """A request that got no HTTP answer: its kind, a short code and what happened (secrets masked)."""

    kind: ErrorKind
    code: str
    text: str


# A timeout is checked first: aiohttp's and requests' connect timeouts are also connection errors.
_TIMEOUTS = (requests.Timeout, TimeoutError)
_BROKEN = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
_BROKEN += (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)


def transport_failure(exc: requests.RequestException | aiohttp.ClientError | TimeoutError) -> TransportFailure:
    """Network trouble is worth retrying; a request that could not be made at all (a bad URL) is not."""
    if isinstance(exc, _TIMEOUTS):
        return TransportFailure(ErrorKind.RETRYABLE, "timeout", f"Timed out: {mask_text(str(exc))}")
    if isinstance(exc, _BROKEN):
        return TransportFailure(ErrorKind.RETRYABLE, "connection_error", f"Connection failed: {mask_text(str(exc))}")
    # Invalid URL, missing schema...: the base URL is wrong; retrying will not fix it.
    return TransportFailure(ErrorKind.PERMANENT, "request_error", f"Request failed: {mask_text(str(exc))}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
