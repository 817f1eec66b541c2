"""Counts over time: periods cut in a time zone, and moments counted into them.

Shared by the transactional and campaign metrics. A period is an hour, a
day, a week (from Sunday) or a calendar month of the zone given (UTC unless
said). Day, week and month boundaries are local midnights, each resolved
with that date's own UTC offset, so a day with a DST change lasts 23 or 25
hours; a midnight that falls in a gap starts its day at the first instant
that exists. Hours are cut on the local hour (at :30 in UTC+05:30). Pure:
the current time comes in as an argument.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

UNITS = ("hours", "days", "weeks", "months")
HOUR = 3600


@dataclass(frozen=True)
class Periods:
    """Consecutive periods, oldest first: where each starts, and where the last ends
    (None: the last one is open, it takes every later moment)."""

    starts: tuple[int, ...]
    end: int | None

    def zeros(self) -> list[int]:
        return [0] * len(self.starts)

    def index(self, moment: int) -> int | None:
        """The period holding `moment`, or None when it is outside them all."""
        if moment < self.starts[0] or (self.end is not None and moment >= self.end):
            return None
        return bisect_right(self.starts, moment) - 1

    def count(self, counts: list[int], moment: int) -> None:
        at = self.index(moment)
        if at is not None:
            counts[at] += 1


def last(unit: str, steps: int, now: int, zone: tzinfo = UTC, *, open_end: bool = False) -> Periods:
    """The last `steps` periods, the last one holding `now` (and ending with it
    when `open_end`, so later moments count in it too)."""
    current = start_of(unit, now, zone)
    starts = tuple(shift(unit, current, back, zone) for back in range(1 - steps, 1))
    return Periods(starts, None if open_end else shift(unit, current, 1, zone))


def between(unit: str, start: int, end: int, zone: tzinfo, limit: int) -> Periods | None:
    """The periods from the one holding `start` to the one holding `end`; None when
    there would be more than `limit` of them."""
    starts = [start_of(unit, start, zone)]
    while True:
        following = shift(unit, starts[-1], 1, zone)
        if following > end:
            return Periods(tuple(starts), following)
        if len(starts) == limit:
            return None
        starts.append(following)


def start_of(unit: str, moment: int, zone: tzinfo = UTC) -> int:
    """The start of the period of `unit` holding `moment`."""
    local = datetime.fromtimestamp(moment, zone)
    if unit == "hours":
        offset = local.utcoffset() or timedelta(0)
        return moment - (moment + int(offset.total_seconds())) % HOUR
    day = local.date()
    if unit == "weeks":
        day -= timedelta(days=(day.weekday() + 1) % 7)
    elif unit == "months":
        day = day.replace(day=1)
    return _midnight(day, zone)


def shift(unit: str, start: int, steps: int, zone: tzinfo = UTC) -> int:
    """The start of the period `steps` periods after (before, when negative) the
    one starting at `start`."""
    if unit == "hours":
        return start + steps * HOUR
    day = datetime.fromtimestamp(start, zone).date()
    if unit == "days":
        return _midnight(day + timedelta(days=steps), zone)
    if unit == "weeks":
        return _midnight(day + timedelta(weeks=steps), zone)
    month = day.year * 12 + day.month - 1 + steps
    return _midnight(date(month // 12, month % 12 + 1, 1), zone)


def _midnight(day: date, zone: tzinfo) -> int:
    """The first instant of a local date (a midnight in a DST gap reads with the
    offset before the change, which is the instant the day begins)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
