"""Counter upserts (`delivery_days`, `message_totals`, `event_minutes`) made in one order
per transaction.

A counter row is shared by every transaction that counts in it, and an
upsert holds it until its transaction ends. A transaction that counts
several items (a worker recording a batch of outcomes, moving a batch of
journeys) in the order they came could hold one row while waiting for
another that a concurrent transaction holds while waiting for the first:
a deadlock on PostgreSQL. Sorting the items cannot prevent it, since each
item reaches rows of its own kinds (its day and metric, its parents).

So such a transaction counts inside `deferred(conn)`: `add` then only sums,
and the sums are upserted when the block ends, sorted by statement (table)
and key. A single count made outside a block is upserted at once; made in
that same order (a day before totals, totals by key), it fits the order too.
The group-commit writer (`db/writer.py`) runs every batch in such a block, so
the events a batch appends are counted at its end too; a write it undoes to
its savepoint has its counts forgotten (`forgotten_if_undone`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection

from tidings.db import raw

_PENDING = "tidings.counters"  # the key of the open block's sums in `conn.info`

Pending = dict[tuple[str, tuple[object, ...]], int]  # (statement, key) -> amount


def add(conn: Connection, sql: str, key: tuple[object, ...], amount: int = 1) -> None:
    """Add `amount` to the counter `key` with `sql`, an upsert written with `{0}` marks that
    takes the key's values then the amount: now, or when the open `deferred` block ends."""
    pending: Pending | None = conn.info.get(_PENDING)
    if pending is None:
        raw.execute(conn, sql.format(raw.mark(conn)), (*key, amount))
    else:
        pending[(sql, key)] = pending.get((sql, key), 0) + amount


@contextlib.contextmanager
def deferred(conn: Connection) -> Iterator[None]:
    """Sum the counts added in the block and upsert them at its end, in one order (by
    statement, then key); nothing if it raises. Inside another block: that one does."""
    with collecting(conn, _PENDING) as pending:
        yield
    for (sql, key), amount in sorted((pending or {}).items()):
        raw.execute(conn, sql.format(raw.mark(conn)), (*key, amount))


@contextlib.contextmanager
def collecting(conn: Connection, name: str) -> Iterator[dict[Any, Any] | None]:
    """A dict kept in `conn.info[name]` for the block, for the writes it runs to collect
    into and the caller to write at its end; None inside another block of the same
    name (that one writes them). Removed when the block ends, raised or not: the
    connection's info outlives the transaction."""
    if name in conn.info:
        yield None
        return
    collected: dict[Any, Any] = {}
    conn.info[name] = collected
    try:
        yield collected
    finally:
        del conn.info[name]


@contextlib.contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """`raw.savepoint`, which also forgets the counts the block deferred when it is undone."""
    with forgotten_if_undone(conn), raw.savepoint(conn):
        yield


@contextlib.contextmanager
def forgotten_if_undone(conn: Connection) -> Iterator[None]:
    """Forget the counts the block deferred if it raises: for a block in a savepoint
    that the caller rolls back then."""
    pending: Pending | None = conn.info.get(_PENDING)
    before = dict(pending) if pending is not None else None
    try:
        yield
    except BaseException:
        if pending is not None and before is not None:
            pending.clear()
            pending.update(before)
        raise
