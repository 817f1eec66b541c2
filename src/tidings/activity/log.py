"""The append-only activity log: events, page and screen views, attribute changes."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, update

from tidings.activity import stream
from tidings.db import counters, raw
from tidings.db.schema import events

encode = msgspec.json.Encoder().encode

ANONYMOUS_MERGE_WINDOW = 30 * 24 * 3600

COUNTED_TYPES = frozenset({"event", "page", "screen"})  # what `event_minutes` counts
ROWS_PER_INSERT = 200  # 1,600 parameters: within SQLite's and PostgreSQL's limits
EVENT_COLUMNS = (
    "workspace_id",
    "person_id",
    "anonymous_id",
    "type",
    "name",
    "timestamp",
    "received_at",
    "data",
)


def append(
    conn: Connection,
    workspace_id: int,
    *,
    person_pk: int | None,
    type: str,
    name: str,
    timestamp: int,
    received_at: int,
    data: Any,
    anonymous_id: str | None = None,
) -> None:
    text = data if isinstance(data, str) else encode(data).decode()
    row = (workspace_id, person_pk, anonymous_id, type, name, timestamp, received_at, text)
    insert_rows(conn, [row], received_at)


def insert_rows(conn: Connection, rows: Sequence[tuple[object, ...]], now: int) -> None:
    """Append event rows (values in `EVENT_COLUMNS` order) with multi-row INSERTs.

    Their people and the rows are published on the activity stream, and the
    events sent are counted per minute (`event_minutes`), in the same transaction.
    """
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        sql = _insert_sql(conn.dialect.paramstyle, len(chunk))
        raw.execute(conn, sql, tuple(itertools.chain.from_iterable(chunk)))
    _count_minutes(conn, rows)
    by_workspace: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_workspace.setdefault(row[0], []).append(row)
    for workspace_id, appended in by_workspace.items():
        stream.publish(conn, workspace_id, [row[1] for row in appended], now, appended)


def _count_minutes(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Add the events sent among `rows` to their workspace's and minute's count: one
    upsert per workspace and minute (usually one for a call)."""
    counts: dict[tuple[Any, int], int] = {}
    for row in rows:
        if row[3] in COUNTED_TYPES:
            key = (row[0], int(row[5]) - int(row[5]) % 60)
            counts[key] = counts.get(key, 0) + 1
    for key, count in sorted(counts.items()):  # one lock order for all
        counters.add(conn, _COUNT_SQL, key, count)


_COUNT_SQL = (
    "INSERT INTO event_minutes (workspace_id, minute, count) VALUES ({0}, {0}, {0})"
    " ON CONFLICT (workspace_id, minute) DO UPDATE SET count = event_minutes.count + excluded.count"
)


@functools.lru_cache(maxsize=64)
def _insert_sql(paramstyle: str, count: int) -> str:
    """One multi-row INSERT for `count` events, handed to the driver directly.

    One statement rather than executemany: SQLite's driver releases and
    retakes the GIL around every row's step, and while the event loop thread
    is busy each retake can wait for the interpreter's switch interval, which
    made a 100-row executemany several times slower under load than alone.
    Going around SQLAlchemy's per-row parameter handling saves as much again.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    values = "(" + ", ".join([mark] * len(EVENT_COLUMNS)) + ")"
    columns = ", ".join(EVENT_COLUMNS)
    return f"INSERT INTO {events.name} ({columns}) VALUES " + ", ".join([values] * count)


def adopt_anonymous(
    conn: Connection, workspace_id: int, anonymous_id: str, person_pk: int, now: int
) -> int:
    """Attach an anonymous visitor's recent events to the person now known to be them."""
    result = conn.execute(
        update(events)
        .where(
            and_(
                events.c.workspace_id == workspace_id,
                events.c.anonymous_id == anonymous_id,
                events.c.person_id.is_(None),
                events.c.timestamp >= now - ANONYMOUS_MERGE_WINDOW,
            )
        )
        .values(person_id=person_pk)
    )
    if result.rowcount:
        stream.publish(conn, workspace_id, [person_pk], now)
    return result.rowcount


def move(conn: Connection, workspace_id: int, from_pk: int, to_pk: int, since: int) -> None:
    """Hand a merged person's recent events to the survivor. Published by the caller
    (`people.merge`) with the rest of the merge, without rows: events merged in
    never trigger a campaign."""
    conn.execute(
        update(events)
        .where(
            events.c.workspace_id == workspace_id,
            events.c.person_id == from_pk,
            events.c.timestamp >= since,
        )
        .values(person_id=to_pk)
    )
