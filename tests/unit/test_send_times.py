"""Newsletter sends in each person's time zone: the wall-clock time, per zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tidings.campaigns import send_times

UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")


def at(year: int, month: int, day: int, hour: int, minute: int, tz: ZoneInfo) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=tz).timestamp())


def test_the_spec_is_the_wall_clock_time_in_the_schedules_zone():
    spec = send_times.local_spec(at(2027, 10, 5, 9, 30, NEW_YORK), "America/New_York")
    assert spec == {"date": "2027-10-05", "hour": 9, "minute": 30, "timezone": "America/New_York"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Europe/Berlin", at(2027, 10, 5, 9, 30, ZoneInfo("Europe/Berlin"))),
        ("Asia/Tokyo", at(2027, 10, 5, 9, 30, ZoneInfo("Asia/Tokyo"))),
        (None, at(2027, 10, 5, 9, 30, NEW_YORK)),  # no zone: the schedule's
        ("", at(2027, 10, 5, 9, 30, NEW_YORK)),
        ("(GMT-08:00) Pacific Time", at(2027, 10, 5, 21, 30, UTC)),  # invalid: the last zone
        ("america/new_york", at(2027, 10, 5, 21, 30, UTC)),  # names are case-sensitive
    ],
)
def test_each_person_gets_it_at_their_own_wall_clock_time(value, expected):
    spec = send_times.local_spec(at(2027, 10, 5, 9, 30, NEW_YORK), "America/New_York")
    assert send_times.for_person(spec, value) == expected


def test_the_send_starts_when_the_first_zone_reaches_the_time():
    spec = send_times.local_spec(at(2027, 10, 5, 9, 30, NEW_YORK), "America/New_York")
    assert send_times.earliest(spec) == at(2027, 10, 4, 19, 30, UTC)  # UTC+14


def test_a_time_in_a_spring_forward_gap_moves_forward_by_the_gap():
    spec = {"date": "2027-03-14", "hour": 2, "minute": 30, "timezone": "UTC"}
    assert send_times.for_person(spec, "America/New_York") == at(2027, 3, 14, 7, 30, UTC)


def test_an_ambiguous_time_is_its_first_occurrence():
    spec = {"date": "2027-11-07", "hour": 1, "minute": 30, "timezone": "UTC"}
    assert send_times.for_person(spec, "America/New_York") == at(2027, 11, 7, 5, 30, UTC)
