"""How many events a workspace was sent per minute or per hour, over a recent window.

For the UI's dashboard. Read from `event_minutes`, the count per workspace and
minute kept at ingest (`activity/log.py`): at most 10,080 rows of a primary
key range for a week, whatever the rate. Counting the events themselves
through the events-by-timestamp index was measured too slow at a high rate
(0.7 s for one hour at 1,000 events/s on SQLite; docs/ui.md).

Events are what was sent as one (events, page and screen views); the
activity log's other rows (attribute changes, identifies, ...) are not
counted. Buckets are cut on each event's own `timestamp` (what the sender
said, or when it arrived), in UTC, and the last one holds `now`; an event
stamped beyond the last bucket is not counted. Counts are of events
received: deleting a person's events later does not lower them.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from tidings.db.schema import event_minutes
from tidings.reporting.series import Periods

MINUTE = 60
HOUR = 3600
KEPT = 8 * 86400  # how long `event_minutes` rows stay (runtime/housekeeping.py)
# What the dashboard offers: (bucket width, number of buckets).
WINDOWS = {"hour": (MINUTE, 60), "day": (HOUR, 24), "week": (HOUR, 24 * 7)}


def window(name: str, now: int) -> Periods:
    """The buckets of a named window (`WINDOWS`), the last one holding `now`."""
    width, steps = WINDOWS[name]
    first = now - now % width - (steps - 1) * width
    return Periods(tuple(first + step * width for step in range(steps)), first + steps * width)


def counts(conn: Connection, workspace_id: int, buckets: Periods) -> list[int]:
    """The workspace's events in each of `buckets` (equal widths in whole minutes, as
    `window` makes them)."""
    first = buckets.starts[0]
    assert buckets.end is not None
    width = buckets.starts[1] - first if len(buckets.starts) > 1 else buckets.end - first
    bucket = (event_minutes.c.minute - first) // width
    rows = conn.execute(
        select(bucket, func.sum(event_minutes.c.count))
        .where(
            event_minutes.c.workspace_id == workspace_id,
            event_minutes.c.minute >= first,
            event_minutes.c.minute < buckets.end,
        )
        .group_by(bucket)
    )
    found = buckets.zeros()
    for at, count in rows:
        found[int(at)] = int(count)
    return found
