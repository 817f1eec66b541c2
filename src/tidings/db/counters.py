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

The group-commit writer (`db/writer.py`) runs each batch in such a block:
many requests' writes share its transaction, and the per-minute event count
of a workspace is one row every ingest transaction updates. Counted as each
request came, it was held from the first request of a batch to the commit
while later requests waited on rows (new people) that another server
process's batch held while it waited for that count: deadlocks, which with
four server processes on one PostgreSQL stopped ingest (`bench/nodes.py`).
Counted last, the row is held only while the batch commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
    if _PENDING in conn.info:
        yield
        return
    pending: Pending = {}
    conn.info[_PENDING] = pending  # the connection's info outlives it: removed below
    try:
        yield
    finally:
        del conn.info[_PENDING]
    for (sql, key), amount in sorted(pending.items()):
        raw.execute(conn, sql.format(raw.mark(conn)), (*key, amount))


@contextlib.contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """`raw.savepoint`, which also forgets the counts the block deferred when it is undone."""
    before = snapshot(conn)
    try:
        with raw.savepoint(conn):
            yield
    except BaseException:
        restore(conn, before)
        raise


def snapshot(conn: Connection) -> Pending | None:
    """The open block's sums so far (None outside a block), for `restore`."""
    pending: Pending | None = conn.info.get(_PENDING)
    return dict(pending) if pending is not None else None


def restore(conn: Connection, before: Pending | None) -> None:
    """Back to `snapshot`'s sums: a SAVEPOINT rolled back forgets the counts added in it."""
    pending: Pending | None = conn.info.get(_PENDING)
    if pending is not None and before is not None:
        pending.clear()
        pending.update(before)
