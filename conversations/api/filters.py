"""The query parameters of the conversation API, checked: a value that cannot be used is a 400 naming it."""

import datetime as dt
import re
import zoneinfo
from typing import Any

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers

from conversations.api.selectors import MIN_PHONE_DIGITS, MessageFilters, is_phone_search
from conversations.models import Message

TIMELINE_DEFAULT_LIMIT = 200
TIMELINE_MAX_LIMIT = 1000

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# "+03:00" in a query string unencoded arrives as " 03:00": the space after a time is read as the plus it was.
_SPACE_FOR_PLUS = re.compile(r"^(.+[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")
MOMENT_HELP = (
    "ISO 8601: a date (2026-12-01, the whole day in the company's time zone) or a date-time "
    "(2026-12-01T08:00:00-03:00; without an offset, in the company's time zone)."
)


class ChoiceParameter(serializers.ChoiceField):
    """A choice whose refusal lists the values allowed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        allowed = ", ".join(str(choice) for choice in self.choices)
        self.error_messages["invalid_choice"] = f'"{{input}}" is not allowed: use one of {allowed}.'


class MomentParameter(serializers.CharField):
    """A date or date-time in a query; a date starts its day (``since``) or ends it (``until``)."""

    default_error_messages = {
        "invalid_moment": f"Not a date or date-time: use {MOMENT_HELP}",
        "out_of_range": "Out of range: a time between the years 1 and 9999, in UTC too.",
    }

    def __init__(self, *, end_of_day: bool, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        super().__init__(help_text=MOMENT_HELP, **kwargs)

    def to_internal_value(self, data: Any) -> dt.datetime:
        text = super().to_internal_value(data).strip()
        if len(text) > 64:
            self.fail("invalid_moment")
        tz = zoneinfo.ZoneInfo(self.context.get("timezone", "UTC"))
        try:
            moment = self._parse(text)
            if moment is None:
                self.fail("invalid_moment")
        except ValueError:  # well formed but no such date or time (2026-13-01, 25:00)
            self.fail("invalid_moment")
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=tz)
        try:
            moment.astimezone(dt.UTC)  # what the database compares: year 1 at +14:00 is not a time there
        except OverflowError:
            self.fail("out_of_range")
        return moment

    def _parse(self, text: str) -> dt.datetime | None:
        if _DATE.fullmatch(text):
            day = parse_date(text)
            if self.end_of_day:
                return dt.datetime.combine(day, dt.time.max)
            return dt.datetime.combine(day, dt.time.min)
        return parse_datetime(_SPACE_FOR_PLUS.sub(r"\1+\2", text))


class MessageFilterSerializer(serializers.Serializer):
    """The query of a message list; give ``timezone`` (the company's) in the context."""

    since = MomentParameter(end_of_day=False, required=False)
    until = MomentParameter(end_of_day=True, required=False)
    direction = ChoiceParameter(
        choices=Message.Direction.choices, required=False, help_text="in (from the customer) or out (to them)."
    )
    status = ChoiceParameter(choices=Message.Status.choices, required=False, help_text="Only messages in this status.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"until": ["Earlier than since."]})
        return attrs

    @classmethod
    def parse(cls, query: QueryDict, *, tz: str) -> MessageFilters:
        """The filters of ``query`` (an empty value is no filter); raises ValidationError (400)."""
        serializer = cls(data=query_values(query, cls))
        serializer.context["timezone"] = tz
        serializer.is_valid(raise_exception=True)
        return MessageFilters(**serializer.validated_data)


class ContactSearchSerializer(serializers.Serializer):
    search = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text=(
            "A phone number or part of one (at least 4 digits; a whole Brazilian number matches with or without "
            "+55 and the ninth digit), or a name (case-insensitive, the WhatsApp name or the saved one)."
        ),
    )

    def validate_search(self, value: str) -> str:
        if is_phone_search(value) and sum(c.isdigit() for c in value) < MIN_PHONE_DIGITS:
            raise serializers.ValidationError(f"Give at least {MIN_PHONE_DIGITS} digits of a phone number, or a name.")
        return value


class TimelineQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1,
        max_value=TIMELINE_MAX_LIMIT,
        default=TIMELINE_DEFAULT_LIMIT,
        help_text=(
            f"At most this many of the newest messages, and of the newest sessions: {TIMELINE_DEFAULT_LIMIT} by "
            f"default, {TIMELINE_MAX_LIMIT} at most. Older ones are in the paginated lists."
        ),
    )


def query_values(query: QueryDict, serializer: type[serializers.Serializer]) -> dict[str, str]:
    """The non-empty values ``serializer`` knows of ``query`` (``?search=`` is no search)."""
    return {name: value for name, value in query.items() if value and name in serializer._declared_fields}
