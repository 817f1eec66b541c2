"""How many events a workspace logged per minute or per hour, over a recent window.

Events are what was sent as one (`events.service.TYPES`: events, page and
screen views); the activity log's other rows (attribute changes, identifies,
...) are not counted.

For the UI's dashboard. The count reads a range of the events-by-timestamp
index (migration 0007) bounded to the window, and groups it by bucket in the
database: one row per bucket comes back, never the events. The range holds
every workspace's events of the window (the index has no workspace in
front, for the reasons given in `db/schema.py`), so its cost grows with the
store's rate over the window, not with the size of the store.

Buckets are cut on the event's own `timestamp` (what the sender said, or
the time it arrived), in UTC, and the last one holds `now`. An event stamped
in the future, beyond the last bucket, is not counted.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from tidings.db.schema import events
from tidings.events.service import TYPES
from tidings.reporting.series import Periods

MINUTE = 60
HOUR = 3600
# What the dashboard offers: (bucket width, number of buckets).
WINDOWS = {"hour": (MINUTE, 60), "day": (HOUR, 24), "week": (HOUR, 24 * 7)}


def window(name: str, now: int) -> Periods:
    """The buckets of a named window (`WINDOWS`), the last one holding `now`."""
    width, steps = WINDOWS[name]
    first = now - now % width - (steps - 1) * width
    return Periods(tuple(first + step * width for step in range(steps)), first + steps * width)


def counts(conn: Connection, workspace_id: int, buckets: Periods) -> list[int]:
    """The workspace's events in each of `buckets` (equal widths, as `window` makes)."""
    first = buckets.starts[0]
    assert buckets.end is not None
    width = buckets.starts[1] - first if len(buckets.starts) > 1 else buckets.end - first
    bucket = (events.c.timestamp - first) // width
    rows = conn.execute(
        select(bucket, func.count())
        .where(
            events.c.timestamp >= first,
            events.c.timestamp < buckets.end,
            events.c.workspace_id == workspace_id,
            events.c.type.in_(TYPES),
        )
        .group_by(bucket)
    )
    found = buckets.zeros()
    for at, count in rows:
        found[int(at)] = int(count)
    return found
