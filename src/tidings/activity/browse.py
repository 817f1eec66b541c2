"""The workspace's activity log, newest first, filtered, a bounded page at a time.

What the log holds (`events.type`): `event`, `page`, `screen` (Track and
Pipelines), `identify`, `group`, `alias` (Pipelines), `attribute_change`,
`failed_attribute_change` and `form_submit`. Segment entries and exits,
devices and deliveries are not rows of this log.

Order and paging: `(timestamp, id)` descending, the order of the App API's
person activities, keyset-paged on that pair, so equal timestamps neither
repeat nor vanish between pages. The walk uses the index on `timestamp`
alone (no new index on the hottest table of the store: each costs every
ingested event a page write, docs/benchmarks.md); a person filter uses the
person index instead.

Bounded work: a type or name filter is checked on at most `SCAN_ROWS` rows
of the workspace per page (the window ends at the `SCAN_ROWS`-th row from
where the page starts). A rare name in a big log then gives a short page
with `next` set to the window's edge and `window_ended` true: "nothing more
in this stretch, look further back", instead of a scan of millions of rows.
A person or anonymous id filter needs no window: their own rows, by the
person index or the anonymous one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from tidings.db.schema import events

TYPES = (
    "event",
    "page",
    "screen",
    "identify",
    "group",
    "alias",
    "attribute_change",
    "failed_attribute_change",
    "form_submit",
)
SCAN_ROWS = 5000

Key = tuple[int, int]  # (timestamp, id)


@dataclass(frozen=True)
class LogQuery:
    """Filters (empty ones match everything) and where the page starts (`after`:
    rows strictly before that key). `since` and `until` bound the timestamp,
    both inclusive."""

    limit: int = 50
    after: Key | None = None
    type: str = ""
    name: str = ""
    person_pk: int | None = None
    anonymous_id: str | None = None
    since: int | None = None
    until: int | None = None


@dataclass(frozen=True)
class Entry:
    id: int
    type: str
    name: str
    timestamp: int
    received_at: int
    person_pk: int | None
    anonymous_id: str | None
    data: str  # JSON text, as stored


@dataclass(frozen=True)
class LogPage:
    entries: list[Entry]
    next: Key | None  # where the next page starts; None on the last
    window_ended: bool = False  # the page is short because the scan window ended


def recent(conn: Connection, workspace_id: int, q: LogQuery) -> LogPage:
    """One page of the workspace's log; see the module doc for order and bounds."""
    bounds = _bounds(workspace_id, q)
    filters = _filters(q)
    edge = None
    if filters and q.person_pk is None and q.anonymous_id is None:
        edge = _window_edge(conn, bounds)
        if edge is not None:
            bounds.append(_at_or_after(edge))
    query = (
        select(*_COLUMNS)
        .where(*bounds, *filters)
        .order_by(events.c.timestamp.desc(), events.c.id.desc())
        .limit(q.limit + 1)
    )
    rows = [Entry(*row) for row in conn.execute(query)]
    if len(rows) > q.limit:
        last = rows[q.limit - 1]
        return LogPage(rows[: q.limit], (last.timestamp, last.id))
    return LogPage(rows, edge, window_ended=edge is not None)


_COLUMNS = (
    events.c.id,
    events.c.type,
    events.c.name,
    events.c.timestamp,
    events.c.received_at,
    events.c.person_id,
    events.c.anonymous_id,
    events.c.data,
)


def _bounds(workspace_id: int, q: LogQuery) -> list[Any]:
    """Where the walk runs: the workspace, the person or visitor, the time range, the cursor."""
    c = events.c
    found: list[Any] = [c.workspace_id == workspace_id]
    if q.person_pk is not None:
        found.append(c.person_id == q.person_pk)
    if q.anonymous_id is not None:
        found.append(c.anonymous_id == q.anonymous_id)
    if q.since is not None:
        found.append(c.timestamp >= q.since)
    if q.until is not None:
        found.append(c.timestamp <= q.until)
    if q.after is not None:
        ts, last_id = q.after
        found.append(c.timestamp <= ts)  # the range an index can seek (SQLite: the OR alone is not)
        found.append(or_(c.timestamp < ts, and_(c.timestamp == ts, c.id < last_id)))
    return found


def _filters(q: LogQuery) -> list[Any]:
    found = []
    if q.type:
        found.append(events.c.type == q.type)
    if q.name:
        found.append(events.c.name == q.name)
    return found


def _window_edge(conn: Connection, bounds: list[Any]) -> Key | None:
    """The key of the `SCAN_ROWS`-th row of the walk, or None when the walk is shorter."""
    row = conn.execute(
        select(events.c.timestamp, events.c.id)
        .where(*bounds)
        .order_by(events.c.timestamp.desc(), events.c.id.desc())
        .offset(SCAN_ROWS - 1)
        .limit(1)
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else None


def _at_or_after(edge: Key) -> Any:
    ts, edge_id = edge
    c = events.c
    return and_(c.timestamp >= ts, or_(c.timestamp > ts, c.id >= edge_id))
