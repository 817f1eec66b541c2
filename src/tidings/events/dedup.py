"""Dedup of incoming events by the client's id (Track `id`, Pipelines `messageId`).

A key is recorded in the same transaction as the event it admits, so a
client's retry after a lost answer is stored once. Keys are kept 48 hours
(`runtime.housekeeping.DEDUP_WINDOW`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection

from tidings.db import raw
from tidings.db.schema import event_dedup

T = TypeVar("T")

KEYS_PER_INSERT = 300  # 900 parameters


def event_key(dedup_id: str | None) -> str | None:
    """The dedup key of a Track event's `id` (v1 and v2); None for an event without one."""
    return f"event:{dedup_id}" if dedup_id else None


def first_sighting(conn: Connection, workspace_id: int, key: str | None, now: int) -> bool:
    """Record a dedup key; False if the workspace has seen it before (no key: True).

    Keys are kept 48 hours (`runtime.housekeeping.DEDUP_WINDOW`), so a client's
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
    """Record dedup keys (as `first_sighting`, many at once); the new ones.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING key` per chunk both
    records the keys and says which of them were new. The keys go in sorted:
    on PostgreSQL an insert waits for another transaction's uncommitted row
    with the same key, so two nodes inserting overlapping keys in arrival
    order could each wait for the other (a deadlock); in one order, one waits.
    """
    new: set[str] = set()
    unique = sorted(set(keys))
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
