"""Making provider payloads safe to store: what JSON allows but our database does not."""

import datetime as dt
import json
import math
from typing import Any

from django.utils import timezone

# A provider clock may run a little ahead; beyond this a timestamp is not believed.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


class Cleaned(dict):
    """A payload ``loads`` found nothing to clean in: ``clean`` hands it back as it is."""


# What JSON text must contain for its value to hold something ``clean`` removes: NUL and lone surrogates
# come only as escapes (strict parsing refuses raw control characters), NaN and Infinity as bare words.
_UNCLEAN = ("\\u0000", "\\ud", "\\uD", "NaN", "Infinity")


def loads(text: str) -> Any:
    """A stored webhook body, parsed and made safe to store (``clean``), without walking it when it is."""
    value = json.loads(text)
    if isinstance(value, dict) and not any(marker in text for marker in _UNCLEAN):
        return Cleaned(value)
    return clean(value)


def clean(value: Any) -> Any:
    """Copy of ``value`` without NUL characters, lone surrogates or NaN/Infinity.

    PostgreSQL rejects NUL in text and jsonb, lone surrogates cannot be encoded in UTF-8, and jsonb
    has no NaN: any of them would make a stored webhook impossible to process.
    """
    if type(value) is Cleaned:
        return value
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


def believable(moment: dt.datetime) -> dt.datetime:
    """``moment``, or now when it lies in the future (a future time would hold the 24 h window open)."""
    now = timezone.now()
    return now if moment > now + MAX_CLOCK_SKEW else moment


def from_unix(value: Any) -> dt.datetime:
    """Unix seconds (or milliseconds) as providers send them; unreadable values become now."""
    try:
        seconds = float(value)
        if seconds > 10**11:  # milliseconds
            seconds /= 1000
        return believable(dt.datetime.fromtimestamp(seconds, tz=dt.UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
