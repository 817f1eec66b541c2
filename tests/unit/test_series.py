"""Periods cut in a time zone (pure): DST days, midnights in gaps, weeks from Sunday."""

import calendar
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from tidings.reporting import series

NEW_YORK = ZoneInfo("America/New_York")
ZONES = ["UTC", "America/New_York", "America/Santiago", "America/Havana", "Asia/Kolkata"]


def utc(*parts: int) -> int:
    return calendar.timegm((*parts, 0, 0, 0)[:6])


def test_days_around_a_spring_forward_are_local_midnights():
    # 14 March 2027: New York goes from UTC-5 to UTC-4 at 02:00
    found = series.between("days", utc(2027, 3, 13, 17), utc(2027, 3, 15, 16), NEW_YORK, 10)
    assert found is not None
    assert found.starts == (utc(2027, 3, 13, 5), utc(2027, 3, 14, 5), utc(2027, 3, 15, 4))
    assert found.end == utc(2027, 3, 16, 4)
    assert found.index(utc(2027, 3, 15, 3)) == 1  # 23:00 on the 14th, a 23-hour day


def test_hours_are_cut_on_the_local_hour():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    assert series.start_of("hours", utc(2027, 1, 1, 10) + 100, kolkata) == utc(2027, 1, 1, 9) + 1800


def test_weeks_start_on_the_local_sunday():
    friday_night = utc(2027, 1, 16, 2)  # Friday 15 January, 21:00 in New York
    assert series.start_of("weeks", friday_night, NEW_YORK) == utc(2027, 1, 10, 5)
    assert series.start_of("weeks", friday_night) == utc(2027, 1, 10)


def test_last_periods_end_with_the_current_one_and_may_stay_open():
    now = utc(2027, 1, 15, 8)
    closed = series.last("months", 3, now, NEW_YORK)
    assert closed.starts == (utc(2026, 11, 1, 4), utc(2026, 12, 1, 5), utc(2027, 1, 1, 5))
    assert closed.index(utc(2027, 2, 1, 5)) is None
    assert series.last("months", 3, now, NEW_YORK, open_end=True).index(utc(2030, 1, 1)) == 2


def test_too_many_periods_is_none():
    assert series.between("hours", 0, 10 * 3600, NEW_YORK, 5) is None


@pytest.mark.parametrize("name", ZONES)
@pytest.mark.parametrize("unit", ["days", "weeks", "months"])
def test_every_period_starts_at_the_first_instant_of_its_local_date(name, unit):
    zone = ZoneInfo(name)
    for moment in range(utc(2026, 1, 1), utc(2027, 1, 1), 5 * 3600 + 17):
        start = series.start_of(unit, moment, zone)
        following = series.shift(unit, start, 1, zone)
        assert start <= moment < following
        first, before = (datetime.fromtimestamp(t, zone) for t in (start, start - 1))
        assert first.date() != before.date()
        if unit == "weeks":
            assert first.weekday() == 6
        if unit == "months":
            assert first.day == 1
        assert series.shift(unit, following, -1, zone) == start
        assert first.time() <= time(1)  # midnight, or the end of a gap at midnight
