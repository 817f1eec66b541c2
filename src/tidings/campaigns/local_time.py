"""Wall-clock times in a zone: "at 09:00 local", time windows, date triggers (C§4, C§9.3).

Pure: the current time comes in as `now` (unix seconds, UTC), and nothing here
reads a clock or a database, so the DST rules are tested as tables. Elapsed-time
delays are not here; they are plain arithmetic on unix seconds.

The rules every function follows:
- A wall time on a date is resolved with that date's own UTC offset, never one
  borrowed from `now` or another date (the off-by-an-hour bug of C§8).
- A wall time inside a spring-forward gap moves forward by the gap (02:30 is
  03:30); an ambiguous fall-back time is its first occurrence, and a date fires
  at most once.
- Zone names are IANA names; anything else falls back, and never raises.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, available_timezones

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS: Final = frozenset(range(7))
FREQUENCIES: Final = frozenset({"once", "monthly", "yearly"})
MINUTES_PER_DAY: Final = 24 * 60
ONE_DAY: Final = timedelta(days=1)
_UTC_ZONE: Final = ZoneInfo("UTC")
_CLOCK_TEXT: Final = re.compile(r"([0-9]{1,2}):([0-9]{2})")


@cache
def _known_zones() -> frozenset[str]:
    """The zone names `zoneinfo` lists, read once: the listing opens every file on the zone path.

    `localtime` is the host's own zone under a file name, not an IANA name.
    """
    return frozenset(available_timezones() - {"localtime"})


def zone(name: object, fallback: object = None) -> ZoneInfo:
    """The IANA zone `name`, else the zone `fallback`, else UTC. Never raises.

    Names are case-sensitive, as Customer.io's `timezone` attribute is. Only
    names `zoneinfo` lists are loaded (backward links such as `US/Eastern`
    included; `right/`, `posix/` and the host's `localtime` not), so junk such as
    "(GMT-08:00) Pacific Time", "../etc" or an absolute path is never opened.
    """
    for key in (name, fallback):
        if isinstance(key, str) and key in _known_zones():
            return ZoneInfo(key)
    return ZoneInfo("UTC")


def local_date(instant: int, tz: ZoneInfo) -> date:
    """The calendar date in `tz` at unix time `instant`."""
    return datetime.fromtimestamp(instant, tz).date()


def occurrence_key(fire_at: int, tz: ZoneInfo) -> str:
    """The `YYYY-MM-DD` local date of an occurrence firing at `fire_at`: the journey key
    that makes each occurrence of a date trigger start once (C§9.1)."""
    return local_date(fire_at, tz).isoformat()


def at_local(day: date, hour: int, minute: int, tz: ZoneInfo) -> int:
    """The unix time at which the wall clock in `tz` reads hour:minute on `day`.

    The offset is `day`'s own. A time in a spring-forward gap moves forward by
    the gap (New York 2024-03-10 02:30 is 07:30Z, 03:30 EDT); an ambiguous
    fall-back time is its first occurrence (2024-11-03 01:30 is 05:30Z, EDT).
    Both are `zoneinfo`'s `fold=0`. Raises ValueError for an hour or minute
    outside the clock.
    """
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp())


def next_at(
    now: int, hour: int, minute: int, tz: ZoneInfo, days: frozenset[int] | None = None
) -> int:
    """The first instant at or after `now` when `tz` reads hour:minute on an allowed weekday.

    `days` are weekdays, 0 = Monday ... 6 = Sunday; None allows every day. Each
    date fires at most once, at `at_local`'s instant: on fall-back day an
    ambiguous time fires at its first occurrence only, and a `now` between the
    two occurrences moves on to the next allowed date.
    """
    allowed = _weekdays(days)
    first = local_date(now, tz) - ONE_DAY
    dates = (day for day in _dates(first, 9) if day.weekday() in allowed)
    return next(t for t in (at_local(day, hour, minute, tz) for day in dates) if t >= now)


def _weekdays(days: frozenset[int] | None) -> frozenset[int]:
    if days is None:
        return ALL_DAYS
    if not days or not days <= ALL_DAYS:
        raise ValueError(f"days must be weekdays 0 (Monday) to 6 (Sunday), got {sorted(days)}")
    return days


def _dates(first: date, count: int) -> Iterator[date]:
    return (first + timedelta(days=n) for n in range(count))


@dataclass(frozen=True)
class Window:
    """The weekdays and wall-clock span in which a time-window step lets a journey go on (C§3.2).

    `start` and `end` are minutes since local midnight. `end > start` is the
    span [start, end) of one day; `end <= start` runs past midnight into the
    next day (22:00-06:00), and `days` (0 = Monday) name the day it starts on.
    Build one directly or with `Window.parse`; both raise ValueError when bad.
    """

    days: frozenset[int]
    start: int
    end: int

    def __post_init__(self) -> None:
        _weekdays(self.days)
        for field, value in (("start", self.start), ("end", self.end)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"time window: {field} must be minutes since midnight")
            if not 0 <= value < MINUTES_PER_DAY:
                raise ValueError(f"time window: {field} must be 0 to 1439 minutes, got {value}")
        if self.start == self.end:
            raise ValueError("time window: start and end must differ")

    @classmethod
    def parse(cls, spec: object) -> Window:
        """A window from `{"days": ["mon", ...], "start": "09:00", "end": "17:00"}`.

        `days` (three-letter names, any case) defaults to every day; times are
        24-hour `H:MM` or `HH:MM`. Other keys are the caller's (zones, for one).
        """
        if not isinstance(spec, Mapping):
            raise ValueError("time window must be an object with start and end")
        days = _parse_days(spec.get("days"))
        return cls(
            days, _parse_clock(spec.get("start"), "start"), _parse_clock(spec.get("end"), "end")
        )


def _parse_days(value: object) -> frozenset[int]:
    if value is None:
        return ALL_DAYS
    if not isinstance(value, list | tuple) or not value:
        raise ValueError('time window: days must be a non-empty list such as ["mon", "tue"]')
    names = [name.lower() if isinstance(name, str) else name for name in value]
    unknown = [name for name in names if name not in DAY_NAMES]
    if unknown:
        raise ValueError(f"time window: unknown days {unknown}; use {', '.join(DAY_NAMES)}")
    return frozenset(DAY_NAMES.index(name) for name in names)


def _parse_clock(value: object, field: str) -> int:
    match = _CLOCK_TEXT.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f'time window: {field} must be a 24-hour time "HH:MM", got {value!r}')
    return int(match[1]) * 60 + int(match[2])


def is_open(now: int, window: Window, tz: ZoneInfo) -> bool:
    """Whether `window` is open at `now` on the wall clock of `tz`.

    The window that starts on date D is open from the first instant the clock
    on D reads `start` or later until the first instant the clock (on D, or on
    D + 1 past midnight) reads `end` or later. Apart from DST days that is the
    plain wall-clock test. On fall-back day a 01:00-02:00 window is open two
    real hours, and a window with an edge in the repeated hour is still one
    stretch (it does not open again on the second pass). A start in a
    spring-forward gap opens when the gap ends; a window wholly inside a gap
    does not open that day.
    """
    first = local_date(now, tz) - ONE_DAY
    spans = (_span(day, window, tz) for day in _dates(first, 2))
    return any(span is not None and span[0] <= now < span[1] for span in spans)


def next_open(now: int, window: Window, tz: ZoneInfo) -> int:
    """`now` if `window` is open then, else the first instant it opens (as `is_open` tells).

    The answer is at most 8 days ahead, except when the only opening of the
    week falls wholly inside a spring-forward gap: then it is the next week's.
    """
    if is_open(now, window, tz):
        return now
    spans = (_span(day, window, tz) for day in _dates(local_date(now, tz), 16))
    return next(span[0] for span in spans if span is not None and span[0] >= now)


def _span(day: date, window: Window, tz: ZoneInfo) -> tuple[int, int] | None:
    """The instants [opens, closes) of the window starting on `day`; None if it does not open."""
    if day.weekday() not in window.days:
        return None
    end_day = day if window.end > window.start else day + ONE_DAY
    opens = _first_reading(day, window.start, tz)
    closes = _first_reading(end_day, window.end, tz)
    return (opens, closes) if opens < closes else None


def _first_reading(day: date, minute_of_day: int, tz: ZoneInfo) -> int:
    """The first instant at which the clock on `day` reads `minute_of_day` or later.

    That is `at_local`, except for a time in a spring-forward gap, which the
    clock never reads: the first later reading is the gap's end.
    """
    hour, minute = divmod(minute_of_day, 60)
    wall = datetime(day.year, day.month, day.day, hour, minute)
    shifted = at_local(day, hour, minute, tz)
    if datetime.fromtimestamp(shifted, tz).replace(tzinfo=None) == wall:
        return shifted
    before_gap = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    return _transition(before_gap, shifted, tz)


def _transition(before: int, after: int, tz: ZoneInfo) -> int:
    """The first instant in (before, after] with the UTC offset `after` has (one change between)."""
    offset = _offset(after, tz)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset(middle, tz) == offset:
            after = middle
        else:
            before = middle
    return after


def _offset(instant: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(instant, UTC).astimezone(tz).utcoffset()


def date_occurrence(
    value: int,
    now: int,
    *,
    frequency: str,
    hour: int,
    minute: int,
    tz: ZoneInfo,
    offset_days: int = 0,
) -> int | None:
    """When a date trigger on an attribute holding unix time `value` next fires at or after `now`.

    The occurrence's date is `value`'s calendar date in UTC (a date attribute
    names a day, usually as its midnight UTC, and a birthday must not move to
    the day before in zones west of Greenwich), moved by `offset_days`
    (negative: before), at hour:minute local (`at_local`). `frequency` is
    `once` (that instant, None once it has passed), `yearly` (its month and day
    in every year, before or after `value`'s own: Feb 29 fires on Feb 28 in
    other years) or `monthly` (its day in every month, on the last day of a
    shorter month); the offset moves the date after that. A value <= 0 (unset,
    or junk stored as 1970-01-01, C§8) or a date past the calendar never fires.
    Key the journey with `occurrence_key` of the answer.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {sorted(FREQUENCIES)}, got {frequency!r}")
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"the time of day must be 00:00 to 23:59, got {hour}:{minute:02}")
    anchor = _attribute_date(value, _UTC_ZONE)
    if anchor is None:
        return None
    try:
        shift = timedelta(days=offset_days)
        for day in _anchored_dates(anchor, frequency, local_date(now, tz) - shift):
            fire = at_local(day + shift, hour, minute, tz)
            if fire >= now:
                return fire
    except (OverflowError, ValueError):
        return None
    return None


def _attribute_date(value: int, tz: ZoneInfo) -> date | None:
    if value <= 0:
        return None
    try:
        return local_date(value, tz)
    except (OverflowError, OSError, ValueError):
        return None


def _anchored_dates(anchor: date, frequency: str, around: date) -> Iterator[date]:
    """The dates, before the offset, that can be the next occurrence; `around` is today - offset.

    A period before `around`'s ends before `around`, so with the offset it is
    before today; the period after `around`'s starts after it, so it is after
    today. Only these two can hold the next occurrence.
    """
    if frequency == "once":
        yield anchor
    elif frequency == "yearly":
        yield _clamped(around.year, anchor.month, anchor.day)
        yield _clamped(around.year + 1, anchor.month, anchor.day)
    else:
        yield _clamped(around.year, around.month, anchor.day)
        yield _clamped(around.year + around.month // 12, around.month % 12 + 1, anchor.day)


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))
