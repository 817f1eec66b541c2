"""The append-only activity log: events, page and screen views, attribute changes."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Connection, and_, update

from tidings.db import raw
from tidings.db.schema import event_dedup, events
from tidings.segments import dirty

encode = msgspec.json.Encoder().encode

ANONYMOUS_MERGE_WINDOW = 30 * 24 * 3600

T = TypeVar("T")

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
KEYS_PER_INSERT = 300  # 900 parameters


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

    Their people are marked for the segment worker in the same transaction.
    """
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        sql = _insert_sql(conn.dialect.paramstyle, len(chunk))
        raw.execute(conn, sql, tuple(itertools.chain.from_iterable(chunk)))
    people: dict[object, list[object]] = {}
    for row in rows:
        people.setdefault(row[0], []).append(row[1])
    for workspace_id, pks in people.items():
        dirty.mark(conn, workspace_id, pks, now)  # type: ignore[arg-type]


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


def first_sighting(conn: Connection, workspace_id: int, key: str, now: int) -> bool:
    """Record a dedup key; False if the workspace has seen it before (an empty key: True).

    Keys are kept 48 hours (`ops.housekeeping.DEDUP_WINDOW`), so a client's
    retry of an event with the same `id` or `messageId` is stored once.
    Whether the row went in is read from RETURNING, not `rowcount`: SQLAlchemy
    keeps no INSERT rowcount on PostgreSQL (it reports -1).
    """
    if not key:
        return True
    return bool(record_keys(conn, workspace_id, [key], now))


def first_sightings(
    conn: Connection,
    workspace_id: int,
    items: list[T],
    key_of: Callable[[T], str | None],
    now: int,
) -> list[T]:
    """The items whose dedup key (`key_of`, None for none) is new to the workspace.

    A key repeated later in `items` drops the later item too.
    """
    keys = [key_of(item) for item in items]
    if not any(keys):
        return items
    new = record_keys(conn, workspace_id, [key for key in keys if key], now)
    fresh = []
    for item, key in zip(items, keys, strict=True):
        if key:
            if key not in new:
                continue
            new.discard(key)
        fresh.append(item)
    return fresh


def record_keys(conn: Connection, workspace_id: int, keys: list[str], now: int) -> set[str]:
    """Record dedup keys (as `events.store.first_sighting`, many at once); the new ones.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING key` per chunk both
    records the keys and says which of them were new.
    """
    new: set[str] = set()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), KEYS_PER_INSERT):
        chunk = unique[start : start + KEYS_PER_INSERT]
        sql = _dedup_sql(conn.dialect.paramstyle, len(chunk))
        params = tuple(value for key in chunk for value in (workspace_id, key, now))
        new.update(row[0] for row in raw.execute(conn, sql, params))
    return new


@functools.lru_cache(maxsize=64)
def _dedup_sql(paramstyle: str, count: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    values = ", ".join([f"({mark}, {mark}, {mark})"] * count)
    return (
        f"INSERT INTO {event_dedup.name} (workspace_id, key, seen_at) VALUES {values} "
        "ON CONFLICT DO NOTHING RETURNING key"
    )


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
        dirty.mark(conn, workspace_id, [person_pk], now)
    return result.rowcount


def move(conn: Connection, workspace_id: int, from_pk: int, to_pk: int, since: int) -> None:
    """Hand a merged person's recent events to the survivor."""
    conn.execute(
        update(events)
        .where(events.c.person_id == from_pk, events.c.timestamp >= since)
        .values(person_id=to_pk)
    )
    dirty.mark(conn, workspace_id, [to_pk])
