"""When a company opens next: what the bot tells a customer handed to a person outside business hours."""

import datetime as dt
import zoneinfo

import pytest

from companies.business_hours import next_opening

SP = "America/Sao_Paulo"  # UTC-3, no daylight saving time since 2019
WEEKDAYS_8_18 = {day: [["08:00", "12:00"], ["13:30", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def _sp(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(SP))


@pytest.mark.parametrize(
    ("at", "opening"),
    [
        (_sp(2026, 11, 23, 7, 0), _sp(2026, 11, 23, 8, 0)),  # Monday before opening: today
        (_sp(2026, 11, 23, 12, 30), _sp(2026, 11, 23, 13, 30)),  # the lunch break: this afternoon
        (_sp(2026, 11, 23, 18, 0), _sp(2026, 11, 24, 8, 0)),  # closing time itself is closed: tomorrow
        (_sp(2026, 11, 27, 19, 0), _sp(2026, 11, 30, 8, 0)),  # Friday night: Monday
        (_sp(2026, 11, 29, 10, 0), _sp(2026, 11, 30, 8, 0)),  # Sunday
    ],
)
def test_next_opening_when_closed(at, opening):
    assert next_opening(WEEKDAYS_8_18, SP, at) == opening


def test_next_opening_when_open_is_now_in_the_companys_time_zone():
    at = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # 11:00 in São Paulo
    assert next_opening(WEEKDAYS_8_18, SP, at) == at
    assert next_opening(WEEKDAYS_8_18, SP, at).tzinfo == zoneinfo.ZoneInfo(SP)
    assert next_opening({}, SP, at) == at  # no hours set: always open


def test_next_opening_reads_the_hours_in_the_companys_time_zone():
    # 10:30 UTC on Monday is 07:30 in São Paulo (opens at 08:00) and 10:30 in Lisbon (already open).
    at = dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.UTC)
    assert next_opening(WEEKDAYS_8_18, SP, at) == _sp(2026, 11, 23, 8, 0)
    assert next_opening(WEEKDAYS_8_18, "Europe/Lisbon", at) == at


def test_next_opening_a_week_later_and_never():
    only_mondays = {"mon": [["08:00", "09:00"]]}
    assert next_opening(only_mondays, SP, _sp(2026, 11, 23, 9, 30)) == _sp(2026, 11, 30, 8, 0)
    assert next_opening({"mon": [], "sat": []}, SP, _sp(2026, 11, 23, 9, 30)) is None
