"""The append-only activity log: events, page and screen views, attribute changes."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, and_, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from tidings.db.schema import event_dedup, events
from tidings.segments import dirty

encode = msgspec.json.Encoder().encode

ANONYMOUS_MERGE_WINDOW = 30 * 24 * 3600


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
    conn.execute(
        insert(events).values(
            workspace_id=workspace_id,
            person_id=person_pk,
            anonymous_id=anonymous_id,
            type=type,
            name=name,
            timestamp=timestamp,
            received_at=received_at,
            data=encode(data).decode() if not isinstance(data, str) else data,
        )
    )
    if person_pk is not None:
        dirty.mark(conn, workspace_id, [person_pk], received_at)


def first_sighting(conn: Connection, workspace_id: int, key: str, now: int) -> bool:
    """Record a dedup key; False if the workspace has seen it before (an empty key: True).

    Keys are kept 48 hours (`ops.housekeeping.DEDUP_WINDOW`), so a client's
    retry of an event with the same `id` or `messageId` is stored once.
    Whether the row went in is read from RETURNING, not `rowcount`: SQLAlchemy
    keeps no INSERT rowcount on PostgreSQL (it reports -1).
    """
    if not key:
        return True
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = (
        dialect.insert(event_dedup)
        .values(workspace_id=workspace_id, key=key, seen_at=now)
        .on_conflict_do_nothing()
        .returning(event_dedup.c.key)
    )
    return conn.execute(statement).first() is not None


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
