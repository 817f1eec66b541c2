"""When each person gets a newsletter scheduled "in each person's time zone".

A schedule of `scheduled_at` in zone `timezone` with `tz_match_enabled` is the
wall-clock time it reads there (`local_spec`: a date, an hour, a minute), and
each person gets it when their own `timezone` attribute reads that
(`local_time.at_local`: a time in a spring-forward gap moves forward by the
gap, an ambiguous one is its first occurrence). A person without the
attribute gets it in the schedule's own zone, at `scheduled_at`; one whose
attribute is not an IANA name gets it at the last of all zones' times
(CAMPAIGNS.md 4), UTC-12's. The send starts (its audience is read) at the
first zone's time, UTC+14's: `earliest`. A time already past when the
audience is read is sent at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from tidings.campaigns import local_time
from tidings.db.schema import attributes

FIRST_ZONE = ZoneInfo("Etc/GMT-14")  # UTC+14: the first to reach a wall-clock time
LAST_ZONE = ZoneInfo("Etc/GMT+12")  # UTC-12: the last


def local_spec(at: int, timezone: str) -> dict[str, Any]:
    """The wall-clock time `at` reads in `timezone`: `{date, hour, minute, timezone}`."""
    moment = datetime.fromtimestamp(at, local_time.zone(timezone))
    return {
        "date": moment.date().isoformat(),
        "hour": moment.hour,
        "minute": moment.minute,
        "timezone": timezone,
    }


def _in(spec: dict[str, Any], tz: ZoneInfo) -> int:
    day = date.fromisoformat(spec["date"])
    return local_time.at_local(day, spec["hour"], spec["minute"], tz)


def earliest(spec: dict[str, Any]) -> int:
    return _in(spec, FIRST_ZONE)


def for_person(spec: dict[str, Any], value: str | None) -> int:
    """When a person whose `timezone` attribute is `value` (None: none) gets it."""
    if not value:
        return _in(spec, local_time.zone(spec["timezone"]))
    tz = local_time.zone(value)
    if tz.key != value:
        return _in(spec, LAST_ZONE)
    return _in(spec, tz)


def due_times(
    conn: Connection, spec: dict[str, Any], workspace_id: int, pks: Sequence[int]
) -> dict[int, int]:
    """Each person's time (one read of the chunk's `timezone` attributes)."""
    zones: dict[int, str] = {}
    if pks:
        rows = conn.execute(
            select(attributes.c.person_id, attributes.c.value).where(
                attributes.c.workspace_id == workspace_id,
                attributes.c.person_id.in_(list(pks)),
                attributes.c.name == "timezone",
            )
        )
        zones = {int(pk): str(value) for pk, value in rows}
    return {pk: for_person(spec, zones.get(pk)) for pk in pks}
