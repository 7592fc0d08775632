"""Business hours: a weekday → intervals map, validated on save and asked "open at this moment?"."""

import datetime as dt
import re
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _parse(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def validate_business_hours(value: Any) -> None:
    """Raise ValidationError unless ``value`` is {weekday: [["HH:MM", "HH:MM"], ...]} with start < end."""
    if not isinstance(value, dict):
        raise ValidationError('Business hours must be an object like {"mon": [["08:00", "18:00"]]}.')
    for day, intervals in value.items():
        if day not in WEEKDAYS:
            raise ValidationError(f"Unknown weekday {day!r}; use one of {', '.join(WEEKDAYS)}.")
        if not isinstance(intervals, list):
            raise ValidationError(f"{day}: expected a list of [start, end] pairs.")
        for interval in intervals:
            if (
                not isinstance(interval, list | tuple)
                or len(interval) != 2
                or not all(isinstance(t, str) and _HHMM.match(t) for t in interval)
            ):
                raise ValidationError(f'{day}: each interval must be ["HH:MM", "HH:MM"], got {interval!r}.')
            if _parse(interval[0]) >= _parse(interval[1]):
                raise ValidationError(f"{day}: {interval[0]} must be before {interval[1]}.")


def is_open(business_hours: dict, timezone: str, at: dt.datetime) -> bool:
    """Whether ``at`` (aware) falls in one of the intervals, read in the company's time zone.

    An empty map means no hours were set: the company is treated as always open.
    """
    if not business_hours:
        return True
    local = at.astimezone(zoneinfo.ZoneInfo(timezone))
    now = local.time()
    return any(_parse(start) <= now < _parse(end) for start, end in business_hours.get(WEEKDAYS[local.weekday()], []))


def next_opening(business_hours: dict, timezone: str, at: dt.datetime) -> dt.datetime | None:
    """The first moment at or after ``at`` (aware) when the company is open, in its time zone.

    ``at`` itself when it is open then (an empty map is always open); None when no weekday has an interval.
    """
    tz = zoneinfo.ZoneInfo(timezone)
    local = at.astimezone(tz)
    if is_open(business_hours, timezone, at):
        return local
    for offset in range(8):  # a week ahead, and today's weekday again for an interval earlier in the day
        day = local.date() + dt.timedelta(days=offset)
        starts = sorted(_parse(start) for start, _ in business_hours.get(WEEKDAYS[day.weekday()], []))
        for start in starts:
            opening = dt.datetime.combine(day, start, tzinfo=tz)
            if opening > local:
                return opening
    return None
