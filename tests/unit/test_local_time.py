"""Wall-clock times in a zone across DST (CAMPAIGNS.md §4, §9.3): every expected instant is
written by hand in UTC.

2024 transitions used below:
- America/New_York: 03-10 02:00 EST -> 03:00 EDT (07:00Z); 11-03 02:00 EDT -> 01:00 EST (06:00Z).
- Europe/Berlin: 03-31 02:00 CET -> 03:00 CEST (01:00Z); 10-27 03:00 CEST -> 02:00 CET (01:00Z).
- Australia/Sydney: 04-07 03:00 AEDT -> 02:00 AEST (04-06 16:00Z);
  10-06 02:00 AEST -> 03:00 AEDT (10-05 16:00Z).
- America/Santiago: 09-08 00:00 -04 -> 01:00 -03 (04:00Z).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.campaigns.local_time import (
    ALL_DAYS,
    Window,
    at_local,
    date_occurrence,
    is_open,
    local_date,
    next_at,
    next_open,
    occurrence_key,
    zone,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
SANTIAGO = ZoneInfo("America/Santiago")
UTC_ZONE = ZoneInfo("UTC")
WEEKDAYS = frozenset(range(5))
MON, FRI, SAT, SUN = 0, 4, 5, 6


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# zone


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("America/New_York", "America/New_York"),
        ("US/Eastern", "US/Eastern"),
        ("Canada/Pacific", "Canada/Pacific"),
        ("Etc/GMT+8", "Etc/GMT+8"),
        ("UTC", "UTC"),
    ],
)
def test_zone_knows_iana_names_and_backward_links(name, key):
    assert zone(name).key == key


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "",
        " ",
        "(GMT-08:00) Pacific Time",
        "america/new_york",
        "America/New_York ",
        "America",
        "America/",
        "/etc/passwd",
        "/usr/share/zoneinfo/America/New_York",
        "../etc/passwd",
        "America/../Europe/Berlin",
        "./UTC",
        "right/America/New_York",
        "posix/America/New_York",
        "posixrules",
        "localtime",
        "zone.tab",
        "tzdata.zi",
        "UTC\x00",
        "\udcff",
        "x" * 100_000,
        "a/" * 5_000,
        42,
        -5.0,
        ["America/New_York"],
        {"tz": "UTC"},
    ],
)
def test_zone_turns_junk_into_utc(junk):
    assert zone(junk).key == "UTC"


@pytest.mark.parametrize(
    ("name", "fallback", "key"),
    [
        ("(GMT+01:00) Berlin", "Europe/Berlin", "Europe/Berlin"),
        (None, "Australia/Sydney", "Australia/Sydney"),
        ("", "US/Eastern", "US/Eastern"),
        ("Europe/Berlin", "Australia/Sydney", "Europe/Berlin"),
        ("junk", "more junk", "UTC"),
        ("junk", "../../etc/passwd", "UTC"),
        (None, None, "UTC"),
    ],
)
def test_zone_falls_back_then_to_utc(name, fallback, key):
    assert zone(name, fallback).key == key


# at_local


@pytest.mark.parametrize(
    ("tz", "day", "hour", "minute", "expected"),
    [
        # New York, spring forward: 02:00-02:59 does not exist and moves on by the hour.
        (NEW_YORK, date(2024, 3, 9), 9, 0, "2024-03-09T14:00"),
        (NEW_YORK, date(2024, 3, 10), 1, 59, "2024-03-10T06:59"),
        (NEW_YORK, date(2024, 3, 10), 2, 0, "2024-03-10T07:00"),
        (NEW_YORK, date(2024, 3, 10), 2, 30, "2024-03-10T07:30"),
        (NEW_YORK, date(2024, 3, 10), 3, 0, "2024-03-10T07:00"),
        (NEW_YORK, date(2024, 3, 10), 3, 30, "2024-03-10T07:30"),
        (NEW_YORK, date(2024, 3, 11), 9, 0, "2024-03-11T13:00"),
        # New York, fall back: 01:00-01:59 happens twice; the first (EDT) counts.
        (NEW_YORK, date(2024, 11, 3), 0, 59, "2024-11-03T04:59"),
        (NEW_YORK, date(2024, 11, 3), 1, 0, "2024-11-03T05:00"),
        (NEW_YORK, date(2024, 11, 3), 1, 30, "2024-11-03T05:30"),
        (NEW_YORK, date(2024, 11, 3), 1, 59, "2024-11-03T05:59"),
        (NEW_YORK, date(2024, 11, 3), 2, 0, "2024-11-03T07:00"),
        # Berlin, spring forward at 02:00 CET, fall back at 03:00 CEST.
        (BERLIN, date(2024, 3, 31), 1, 59, "2024-03-31T00:59"),
        (BERLIN, date(2024, 3, 31), 2, 0, "2024-03-31T01:00"),
        (BERLIN, date(2024, 3, 31), 2, 30, "2024-03-31T01:30"),
        (BERLIN, date(2024, 3, 31), 3, 0, "2024-03-31T01:00"),
        (BERLIN, date(2024, 10, 27), 1, 59, "2024-10-26T23:59"),
        (BERLIN, date(2024, 10, 27), 2, 0, "2024-10-27T00:00"),
        (BERLIN, date(2024, 10, 27), 2, 30, "2024-10-27T00:30"),
        (BERLIN, date(2024, 10, 27), 3, 0, "2024-10-27T02:00"),
        # Sydney, southern hemisphere: fall back in April, spring forward in October.
        (SYDNEY, date(2024, 4, 7), 1, 59, "2024-04-06T14:59"),
        (SYDNEY, date(2024, 4, 7), 2, 30, "2024-04-06T15:30"),
        (SYDNEY, date(2024, 4, 7), 3, 0, "2024-04-06T17:00"),
        (SYDNEY, date(2024, 10, 6), 1, 59, "2024-10-05T15:59"),
        (SYDNEY, date(2024, 10, 6), 2, 0, "2024-10-05T16:00"),
        (SYDNEY, date(2024, 10, 6), 2, 30, "2024-10-05T16:30"),
        (SYDNEY, date(2024, 10, 6), 3, 0, "2024-10-05T16:00"),
        # Santiago skips midnight itself.
        (SANTIAGO, date(2024, 9, 8), 0, 0, "2024-09-08T04:00"),
        (SANTIAGO, date(2024, 9, 8), 0, 30, "2024-09-08T04:30"),
        (SANTIAGO, date(2024, 9, 8), 1, 0, "2024-09-08T04:00"),
        (UTC_ZONE, date(2024, 2, 29), 23, 59, "2024-02-29T23:59"),
    ],
)
def test_at_local(tz, day, hour, minute, expected):
    assert at_local(day, hour, minute, tz) == utc(expected)


@pytest.mark.parametrize(("hour", "minute"), [(24, 0), (-1, 0), (9, 60), (9, -1)])
def test_at_local_refuses_times_off_the_clock(hour, minute):
    with pytest.raises(ValueError):
        at_local(date(2024, 1, 1), hour, minute, NEW_YORK)


# next_at


@pytest.mark.parametrize(
    ("tz", "now", "hour", "minute", "days", "expected"),
    [
        # 09:00 every day is 09:00 local on both sides of each change: the UTC hour moves.
        (NEW_YORK, "2024-03-09T12:00", 9, 0, None, "2024-03-09T14:00"),
        (NEW_YORK, "2024-03-09T14:00", 9, 0, None, "2024-03-09T14:00"),
        (NEW_YORK, "2024-03-09T14:00:01", 9, 0, None, "2024-03-10T13:00"),
        (NEW_YORK, "2024-11-02T14:00", 9, 0, None, "2024-11-03T14:00"),
        (BERLIN, "2024-03-30T08:00:01", 9, 0, None, "2024-03-31T07:00"),
        (BERLIN, "2024-10-26T07:00:01", 9, 0, None, "2024-10-27T08:00"),
        (SYDNEY, "2024-04-05T22:00:01", 9, 0, None, "2024-04-06T23:00"),
        (SYDNEY, "2024-10-04T23:00:01", 9, 0, None, "2024-10-05T22:00"),
        # A time in the gap fires when the clock has moved past it, then normally.
        (NEW_YORK, "2024-03-10T05:00", 2, 30, None, "2024-03-10T07:30"),
        (NEW_YORK, "2024-03-10T07:30:01", 2, 30, None, "2024-03-11T06:30"),
        (BERLIN, "2024-03-30T23:00", 2, 30, None, "2024-03-31T01:30"),
        # Fall back: the first 01:30 only; between the two, tomorrow.
        (NEW_YORK, "2024-11-03T04:00", 1, 30, None, "2024-11-03T05:30"),
        (NEW_YORK, "2024-11-03T05:30", 1, 30, None, "2024-11-03T05:30"),
        (NEW_YORK, "2024-11-03T05:31", 1, 30, None, "2024-11-04T06:30"),
        (NEW_YORK, "2024-11-03T06:15", 1, 30, None, "2024-11-04T06:30"),
        (NEW_YORK, "2024-11-03T06:30", 1, 30, None, "2024-11-04T06:30"),
        (BERLIN, "2024-10-27T00:45", 2, 30, None, "2024-10-28T01:30"),
        (SYDNEY, "2024-04-06T16:00", 2, 30, None, "2024-04-07T16:30"),
        # Weekday filters, across a weekend and the change.
        (NEW_YORK, "2024-03-08T15:00", 9, 0, WEEKDAYS, "2024-03-11T13:00"),
        (NEW_YORK, "2024-03-08T13:00", 9, 0, WEEKDAYS, "2024-03-08T14:00"),
        (NEW_YORK, "2024-03-04T12:00", 9, 0, frozenset({SUN}), "2024-03-10T13:00"),
        (NEW_YORK, "2024-03-10T13:00:01", 9, 0, frozenset({SUN}), "2024-03-17T13:00"),
        (BERLIN, "2024-03-30T12:00", 9, 0, frozenset({MON}), "2024-04-01T07:00"),
        # The weekday is the local one: Friday 21:00 in New York is Saturday in UTC.
        (NEW_YORK, "2024-03-08T20:00", 21, 0, frozenset({FRI}), "2024-03-09T02:00"),
        (SYDNEY, "2024-03-01T00:00", 8, 0, frozenset({SAT}), "2024-03-01T21:00"),
    ],
)
def test_next_at(tz, now, hour, minute, days, expected):
    assert next_at(utc(now), hour, minute, tz, days) == utc(expected)


def test_daily_nine_keeps_local_time_across_the_change():
    before = next_at(utc("2024-03-09T00:00"), 9, 0, NEW_YORK)
    after = next_at(before + 1, 9, 0, NEW_YORK)
    assert after - before == timedelta(hours=23).total_seconds()
    assert [datetime.fromtimestamp(t, NEW_YORK).hour for t in (before, after)] == [9, 9]
    offsets = [datetime.fromtimestamp(t, NEW_YORK).utcoffset() for t in (before, after)]
    assert offsets == [timedelta(hours=-5), timedelta(hours=-4)]


@pytest.mark.parametrize("days", [frozenset(), frozenset({7}), frozenset({-1, 2})])
def test_next_at_refuses_bad_days(days):
    with pytest.raises(ValueError, match="weekdays"):
        next_at(utc("2024-01-01T00:00"), 9, 0, NEW_YORK, days)


@settings(max_examples=300, deadline=None)
@given(
    now=st.integers(utc("2023-01-01T00:00"), utc("2026-01-01T00:00")),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    tz=st.sampled_from([NEW_YORK, BERLIN, SYDNEY, SANTIAGO]),
)
def test_next_at_is_the_first_allowed_reading(now, hour, minute, days, tz):
    fire = next_at(now, hour, minute, tz, days)
    local = datetime.fromtimestamp(fire, tz)
    assert now <= fire < now + 8 * 86_400
    assert local.weekday() in days
    if (local.hour, local.minute) != (hour, minute):  # only in a gap, moved on by it
        assert local.utcoffset() != datetime.fromtimestamp(fire - 7200, tz).utcoffset()
    assert next_at(fire, hour, minute, tz, days) == fire


# Window and its parser


@pytest.mark.parametrize(
    ("spec", "window"),
    [
        ({"start": "09:00", "end": "17:00"}, Window(ALL_DAYS, 540, 1020)),
        ({"days": None, "start": "9:05", "end": "17:30"}, Window(ALL_DAYS, 545, 1050)),
        (
            {"days": ["mon", "TUE", "Fri", "mon"], "start": "22:00", "end": "06:00"},
            Window(frozenset({0, 1, 4}), 1320, 360),
        ),
        (
            {"days": ("sat", "sun"), "start": "00:00", "end": "23:59"},
            Window(frozenset({5, 6}), 0, 1439),
        ),
        ({"start": "23:00", "end": "00:00", "timezone": "UTC"}, Window(ALL_DAYS, 1380, 0)),
    ],
)
def test_window_parse(spec, window):
    assert Window.parse(spec) == window


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (None, "must be an object"),
        ([["09:00", "17:00"]], "must be an object"),
        ({"end": "17:00"}, "start must be"),
        ({"start": "09:00"}, "end must be"),
        ({"start": "24:00", "end": "17:00"}, "start must be"),
        ({"start": "09:00", "end": "12:60"}, "end must be"),
        ({"start": "noon", "end": "17:00"}, "start must be"),
        ({"start": 900, "end": "17:00"}, "start must be"),
        ({"start": "09:00:00", "end": "17:00"}, "start must be"),
        ({"start": " 09:00", "end": "17:00"}, "start must be"),
        ({"start": "٠٩:٠٠", "end": "17:00"}, "start must be"),
        ({"start": "09:00", "end": "09:00"}, "must differ"),
        ({"days": "mon", "start": "09:00", "end": "17:00"}, "non-empty list"),
        ({"days": [], "start": "09:00", "end": "17:00"}, "non-empty list"),
        ({"days": ["mo"], "start": "09:00", "end": "17:00"}, "unknown days"),
        ({"days": [1], "start": "09:00", "end": "17:00"}, "unknown days"),
        ({"days": ["monday"], "start": "09:00", "end": "17:00"}, "unknown days"),
    ],
)
def test_window_parse_refuses(spec, message):
    with pytest.raises(ValueError, match=message):
        Window.parse(spec)


@pytest.mark.parametrize(
    ("days", "start", "end"),
    [
        (frozenset(), 0, 60),
        (frozenset({7}), 0, 60),
        (ALL_DAYS, -1, 60),
        (ALL_DAYS, 0, 1440),
        (ALL_DAYS, 60, 60),
        (ALL_DAYS, True, 60),
        (ALL_DAYS, 9.5, 60),
    ],
)
def test_window_refuses_bad_fields(days, start, end):
    with pytest.raises(ValueError):
        Window(days, start, end)


# is_open

OFFICE = Window(WEEKDAYS, 9 * 60, 17 * 60)
FRIDAY_NIGHT = Window(frozenset({FRI}), 22 * 60, 6 * 60)
ONE_TO_TWO = Window(ALL_DAYS, 60, 120)
TWO_TO_THREE = Window(ALL_DAYS, 120, 180)
HALF_PAST_TWO_TO_FOUR = Window(ALL_DAYS, 150, 240)
SATURDAY_NIGHT_TO_HALF_PAST_TWO = Window(frozenset({SAT}), 22 * 60, 150)


@pytest.mark.parametrize(
    ("window", "tz", "now", "open_"),
    [
        # Wednesday 2024-03-06, New York (EST): start inclusive, end exclusive.
        (OFFICE, NEW_YORK, "2024-03-06T13:59:59", False),
        (OFFICE, NEW_YORK, "2024-03-06T14:00", True),
        (OFFICE, NEW_YORK, "2024-03-06T21:59:59", True),
        (OFFICE, NEW_YORK, "2024-03-06T22:00", False),
        (OFFICE, NEW_YORK, "2024-03-09T15:00", False),  # Saturday 10:00
        (OFFICE, NEW_YORK, "2024-03-11T13:00", True),  # Monday 09:00 EDT
        (OFFICE, NEW_YORK, "2024-03-11T12:59:59", False),
        (OFFICE, BERLIN, "2024-04-01T07:00", True),  # Monday 09:00 CEST
        (OFFICE, BERLIN, "2024-04-01T06:59", False),
        (OFFICE, SYDNEY, "2024-04-07T23:00", True),  # Monday 09:00 AEST
        # Past midnight, Friday only: runs into Saturday morning, not from Thursday.
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-08T08:00", False),  # Friday 03:00
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-09T02:59:59", False),  # Friday 21:59:59
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-09T03:00", True),  # Friday 22:00
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-09T05:00", True),  # Saturday 00:00
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-09T10:59:59", True),  # Saturday 05:59:59
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-09T11:00", False),  # Saturday 06:00
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-10T03:00", False),  # Saturday 22:00
        # Fall back: 01:00-02:00 is open two real hours.
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T04:59:59", False),
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T05:00", True),
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T06:30", True),  # 01:30 EST, the second pass
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T06:59:59", True),
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T07:00", False),
        (TWO_TO_THREE, BERLIN, "2024-10-27T00:00", True),  # 02:00 CEST
        (TWO_TO_THREE, BERLIN, "2024-10-27T01:30", True),  # 02:30 CET
        (TWO_TO_THREE, BERLIN, "2024-10-27T02:00", False),  # 03:00 CET
        (TWO_TO_THREE, SYDNEY, "2024-04-06T15:00", True),  # 02:00 AEDT
        (TWO_TO_THREE, SYDNEY, "2024-04-06T16:59:59", True),  # 02:59:59 AEST
        (TWO_TO_THREE, SYDNEY, "2024-04-06T17:00", False),
        # Spring forward: a window wholly inside the gap does not open that day...
        (TWO_TO_THREE, NEW_YORK, "2024-03-10T06:59:59", False),  # 01:59:59 EST
        (TWO_TO_THREE, NEW_YORK, "2024-03-10T07:00", False),  # 03:00 EDT
        (TWO_TO_THREE, SYDNEY, "2024-10-05T16:00", False),
        # ...one starting in it opens when the gap ends, at 03:00 EDT...
        (HALF_PAST_TWO_TO_FOUR, NEW_YORK, "2024-03-10T06:59:59", False),
        (HALF_PAST_TWO_TO_FOUR, NEW_YORK, "2024-03-10T07:00", True),
        (HALF_PAST_TWO_TO_FOUR, NEW_YORK, "2024-03-10T07:59:59", True),
        (HALF_PAST_TWO_TO_FOUR, NEW_YORK, "2024-03-10T08:00", False),
        # ...and one ending in it closes then.
        (SATURDAY_NIGHT_TO_HALF_PAST_TWO, NEW_YORK, "2024-03-10T03:00", True),
        (SATURDAY_NIGHT_TO_HALF_PAST_TWO, NEW_YORK, "2024-03-10T06:59:59", True),
        (SATURDAY_NIGHT_TO_HALF_PAST_TWO, NEW_YORK, "2024-03-10T07:00", False),
    ],
)
def test_is_open(window, tz, now, open_):
    assert is_open(utc(now), window, tz) is open_


# next_open


@pytest.mark.parametrize(
    ("window", "tz", "now", "expected"),
    [
        (OFFICE, NEW_YORK, "2024-03-06T15:00", "2024-03-06T15:00"),  # open: now
        (OFFICE, NEW_YORK, "2024-03-06T14:00", "2024-03-06T14:00"),
        (OFFICE, NEW_YORK, "2024-03-06T12:00", "2024-03-06T14:00"),
        (OFFICE, NEW_YORK, "2024-03-06T22:00", "2024-03-07T14:00"),
        # Friday evening to Monday morning, across the weekend and the change.
        (OFFICE, NEW_YORK, "2024-03-08T23:00", "2024-03-11T13:00"),
        (OFFICE, BERLIN, "2024-03-30T11:00", "2024-04-01T07:00"),
        (OFFICE, BERLIN, "2024-10-26T10:00", "2024-10-28T08:00"),
        (OFFICE, SYDNEY, "2024-04-05T07:00", "2024-04-07T23:00"),  # Friday 18:00 AEDT
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-09T11:00", "2024-03-16T02:00"),  # next Friday, EDT
        (FRIDAY_NIGHT, NEW_YORK, "2024-03-08T12:00", "2024-03-09T03:00"),
        # A start in the gap opens when the gap ends; a window inside it, the next day.
        (HALF_PAST_TWO_TO_FOUR, NEW_YORK, "2024-03-10T06:00", "2024-03-10T07:00"),
        (TWO_TO_THREE, NEW_YORK, "2024-03-10T06:00", "2024-03-11T06:00"),
        (TWO_TO_THREE, BERLIN, "2024-03-31T00:00", "2024-04-01T00:00"),
        (TWO_TO_THREE, SYDNEY, "2024-10-05T15:00", "2024-10-06T15:00"),
        # Fall back: opens at the first 01:00 and stays open through the second.
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T04:00", "2024-11-03T05:00"),
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T06:45", "2024-11-03T06:45"),
        (ONE_TO_TWO, NEW_YORK, "2024-11-03T07:00", "2024-11-04T06:00"),
        # The only Sunday of the week is lost in the gap: the next Sunday.
        (Window(frozenset({SUN}), 120, 180), NEW_YORK, "2024-03-09T12:00", "2024-03-17T06:00"),
    ],
)
def test_next_open(window, tz, now, expected):
    assert next_open(utc(now), window, tz) == utc(expected)


def _wall_clock_open(now: int, window: Window, tz: ZoneInfo) -> bool:
    local = datetime.fromtimestamp(now, tz)
    minute = local.hour * 60 + local.minute
    today, yesterday = local.weekday(), (local.weekday() - 1) % 7
    if window.end > window.start:
        return today in window.days and window.start <= minute < window.end
    return (today in window.days and minute >= window.start) or (
        yesterday in window.days and minute < window.end
    )


def _near_a_change(now: int, tz: ZoneInfo) -> bool:
    offsets = {datetime.fromtimestamp(now + d, tz).utcoffset() for d in (-7200, 0, 7200)}
    return len(offsets) > 1


@settings(max_examples=400, deadline=None)
@given(
    now=st.integers(utc("2023-01-01T00:00"), utc("2026-01-01T00:00")),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, 1439),
    length=st.integers(1, 1439),
    tz=st.sampled_from([NEW_YORK, BERLIN, SYDNEY, SANTIAGO]),
)
def test_windows_agree_with_the_wall_clock_and_next_open(now, days, start, length, tz):
    window = Window(days, start, (start + length) % 1440)
    if not _near_a_change(now, tz):
        assert is_open(now, window, tz) is _wall_clock_open(now, window, tz)
    opens = next_open(now, window, tz)
    assert now <= opens <= now + 15 * 86_400
    assert is_open(opens, window, tz)
    assert (opens == now) is is_open(now, window, tz)
    if opens > now:
        assert not is_open(opens - 1, window, tz)


# date_occurrence and occurrence_key


@pytest.mark.parametrize(
    ("value", "now", "frequency", "offset", "tz", "expected"),
    [
        # once: that instant, or nothing once it has passed.
        ("2024-06-01T12:00", "2024-05-01T00:00", "once", 0, NEW_YORK, "2024-06-01T13:00"),
        ("2024-06-01T12:00", "2024-06-01T13:00", "once", 0, NEW_YORK, "2024-06-01T13:00"),
        ("2024-06-01T12:00", "2024-06-01T13:00:01", "once", 0, NEW_YORK, None),
        ("2024-06-01T12:00", "2024-05-01T00:00", "once", -2, NEW_YORK, "2024-05-30T13:00"),
        ("2024-06-01T12:00", "2024-05-01T00:00", "once", 3, NEW_YORK, "2024-06-04T13:00"),
        ("2024-06-01T12:00", "2024-06-02T00:00", "once", 3, NEW_YORK, "2024-06-04T13:00"),
        # The date is the attribute's date in UTC: a birthday at 02:00Z is June 1 in New
        # York too, although there it is still May 31 at that instant.
        ("2024-06-01T02:00", "2024-05-01T00:00", "once", 0, NEW_YORK, "2024-06-01T13:00"),
        ("2024-06-01T02:00", "2024-05-01T00:00", "once", 0, UTC_ZONE, "2024-06-01T09:00"),
        ("2024-03-10T12:00", "2024-03-01T00:00", "once", 0, BERLIN, "2024-03-10T08:00"),
        # yearly: month and day, any year.
        ("1990-05-10T12:00", "2024-01-01T00:00", "yearly", 0, NEW_YORK, "2024-05-10T13:00"),
        ("1990-05-10T12:00", "2024-05-10T13:00", "yearly", 0, NEW_YORK, "2024-05-10T13:00"),
        ("1990-05-10T12:00", "2024-05-10T13:00:01", "yearly", 0, NEW_YORK, "2025-05-10T13:00"),
        ("1990-01-10T12:00", "2024-05-10T00:00", "yearly", 0, NEW_YORK, "2025-01-10T14:00"),
        ("2030-05-10T12:00", "2024-01-01T00:00", "yearly", 0, UTC_ZONE, "2024-05-10T09:00"),
        ("2000-02-29T12:00", "2025-01-01T00:00", "yearly", 0, UTC_ZONE, "2025-02-28T09:00"),
        ("2000-02-29T12:00", "2027-03-01T00:00", "yearly", 0, UTC_ZONE, "2028-02-29T09:00"),
        ("2000-02-29T12:00", "2025-01-01T00:00", "yearly", -1, UTC_ZONE, "2025-02-27T09:00"),
        ("2000-02-29T12:00", "2025-01-01T00:00", "yearly", 1, UTC_ZONE, "2025-03-01T09:00"),
        ("2000-02-29T12:00", "2027-03-02T00:00", "yearly", 1, UTC_ZONE, "2028-03-01T09:00"),
        # a week before a January birthday is in December
        ("1990-01-03T12:00", "2024-12-20T00:00", "yearly", -7, UTC_ZONE, "2024-12-27T09:00"),
        ("1990-01-03T12:00", "2024-12-28T00:00", "yearly", -7, UTC_ZONE, "2025-12-27T09:00"),
        ("1990-12-30T12:00", "2024-12-31T00:00", "yearly", 5, UTC_ZONE, "2025-01-04T09:00"),
        # monthly: the day in every month, clamped to the month's last day.
        ("2024-01-31T12:00", "2024-02-01T00:00", "monthly", 0, UTC_ZONE, "2024-02-29T09:00"),
        ("2024-01-31T12:00", "2024-03-01T00:00", "monthly", 0, UTC_ZONE, "2024-03-31T09:00"),
        ("2024-01-31T12:00", "2024-04-01T00:00", "monthly", 0, UTC_ZONE, "2024-04-30T09:00"),
        ("2024-01-31T12:00", "2025-02-01T00:00", "monthly", 0, UTC_ZONE, "2025-02-28T09:00"),
        ("2024-01-31T12:00", "2024-12-31T09:00:01", "monthly", 0, UTC_ZONE, "2025-01-31T09:00"),
        ("2024-01-15T12:00", "2024-03-15T09:00", "monthly", 0, UTC_ZONE, "2024-03-15T09:00"),
        ("2024-01-01T12:00", "2024-03-15T00:00", "monthly", -3, UTC_ZONE, "2024-03-29T09:00"),
        ("2024-01-31T12:00", "2024-02-01T00:00", "monthly", 5, UTC_ZONE, "2024-02-05T09:00"),
        ("2024-01-31T12:00", "2024-02-05T09:00:01", "monthly", 5, UTC_ZONE, "2024-03-05T09:00"),
        # DST: per-date offsets; a gap moves forward; fall-back fires once per date.
        ("1990-03-10T12:00", "2024-03-09T00:00", "yearly", 0, NEW_YORK, "2024-03-10T13:00"),
        ("1990-03-11T12:00", "2024-03-09T00:00", "yearly", -2, NEW_YORK, "2024-03-09T14:00"),
    ],
)
def test_date_occurrence(value, now, frequency, offset, tz, expected):
    fire = date_occurrence(
        utc(value), utc(now), frequency=frequency, hour=9, minute=0, tz=tz, offset_days=offset
    )
    assert fire == (None if expected is None else utc(expected))


@pytest.mark.parametrize(
    ("value", "now", "frequency", "hour", "minute", "expected"),
    [
        ("2024-03-10T12:00", "2024-03-01T00:00", "once", 2, 30, "2024-03-10T07:30"),
        ("2000-11-03T12:00", "2024-11-03T04:00", "yearly", 1, 30, "2024-11-03T05:30"),
        # between the two 01:30s of 2024-11-03: the next year's (EST on 2025-11-03)
        ("2000-11-03T12:00", "2024-11-03T06:15", "yearly", 1, 30, "2025-11-03T06:30"),
        ("2000-11-03T12:00", "2024-11-03T06:15", "once", 1, 30, None),
        ("2024-01-03T12:00", "2024-11-03T06:15", "monthly", 1, 30, "2024-12-03T06:30"),
    ],
)
def test_date_occurrence_across_dst(value, now, frequency, hour, minute, expected):
    fire = date_occurrence(
        utc(value), utc(now), frequency=frequency, hour=hour, minute=minute, tz=NEW_YORK
    )
    assert fire == (None if expected is None else utc(expected))


@pytest.mark.parametrize("frequency", ["once", "monthly", "yearly"])
@pytest.mark.parametrize("value", [0, -1, -86_400 * 365, 10**15, 2**63])
def test_date_occurrence_never_fires_for_no_date(frequency, value):
    now = utc("2024-01-01T00:00")
    fire = date_occurrence(value, now, frequency=frequency, hour=9, minute=0, tz=NEW_YORK)
    assert fire is None


def test_the_last_occurrence_before_the_calendar_ends_still_fires():
    value, now = utc("2020-12-28T12:00"), utc("9999-12-25T00:00")
    for frequency in ("yearly", "monthly"):
        fire = date_occurrence(value, now, frequency=frequency, hour=9, minute=0, tz=UTC_ZONE)
        assert fire == utc("9999-12-28T09:00")


def test_date_occurrence_past_the_calendar_never_fires():
    value, now = utc("9999-12-20T12:00"), utc("9999-12-25T00:00")
    for frequency in ("yearly", "monthly"):
        assert (
            date_occurrence(value, now, frequency=frequency, hour=9, minute=0, tz=UTC_ZONE) is None
        )
    fire = date_occurrence(
        utc("2024-06-01T12:00"),
        now,
        frequency="once",
        hour=9,
        minute=0,
        tz=UTC_ZONE,
        offset_days=-(10**9),
    )
    assert fire is None


@pytest.mark.parametrize(
    ("frequency", "hour", "minute", "message"),
    [
        ("weekly", 9, 0, "frequency"),
        ("yearly", 24, 0, "time of day"),
        ("once", 9, 60, "time of day"),
    ],
)
def test_date_occurrence_refuses_bad_settings(frequency, hour, minute, message):
    with pytest.raises(ValueError, match=message):
        date_occurrence(
            utc("2024-06-01T12:00"), 0, frequency=frequency, hour=hour, minute=minute, tz=UTC_ZONE
        )


@pytest.mark.parametrize(
    ("fire_at", "tz", "key"),
    [
        ("2024-03-10T07:30", NEW_YORK, "2024-03-10"),
        ("2024-05-31T13:00", NEW_YORK, "2024-05-31"),
        ("2024-06-01T02:00", NEW_YORK, "2024-05-31"),
        ("2024-06-01T02:00", UTC_ZONE, "2024-06-01"),
        ("2024-04-06T15:30", SYDNEY, "2024-04-07"),
        ("2024-10-26T23:59", BERLIN, "2024-10-27"),
    ],
)
def test_occurrence_key_is_the_local_date(fire_at, tz, key):
    assert occurrence_key(utc(fire_at), tz) == key


def test_every_monthly_occurrence_has_its_own_key():
    value, now = utc("2024-01-31T12:00"), utc("2024-01-01T00:00")
    keys = []
    for _ in range(14):
        fire = date_occurrence(value, now, frequency="monthly", hour=9, minute=0, tz=BERLIN)
        assert fire is not None
        keys.append(occurrence_key(fire, BERLIN))
        now = fire + 1
    assert keys[:4] == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]
    assert keys[12:] == ["2025-01-31", "2025-02-28"]
    assert len(set(keys)) == 14
    assert local_date(now, BERLIN) == date(2025, 2, 28)
