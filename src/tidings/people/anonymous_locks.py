"""Serializing the transactions that read or change what an anonymous id names.

An anonymous event (Pipelines, Track v1) or a v2 `identify_anonymous`
relationship looks for a person holding its `anonymous_id` and, when none
does, is stored anonymous; a claim (a Pipelines alias or identify, a Track
identify setting `anonymous_id`) looks for what to adopt and then sets the
attribute; a merge (`people.merge`) gives the secondary's `anonymous_id` to
the primary or drops it with the secondary. Under READ COMMITTED
(PostgreSQL) two such transactions running at once each miss the other's
uncommitted write, and the event stays anonymous for good (or, against a
merge, is deleted with the secondary it found). So on PostgreSQL each of
them first takes a transaction-level advisory lock on (workspace, anonymous
id): `pg_advisory_xact_lock(workspace, hashtext(id))`. Two ids with one hash
share a lock, which only serializes more. SQLite has one writer: nothing is
taken there. A campaign never sets an identifier (`campaigns.definitions`
refuses them in an update step), so a journey claims no anonymous id.

Lock order. A transaction takes every anonymous id it will touch at its start,
in one statement, sorted by the lock's keys (`held`, opened by the ingest
log's batch, the writer's batch scope and the use cases that apply many
operations: a v2 batch, an import batch), so two of them never wait for each
other in opposite orders. Inside that block `lock` (what the use cases call
for their own ids, for a transaction that opened none: a job committed alone,
the careful pass) takes nothing more for the ids already held. The one
exception is a merge, whose id is known only from the secondary's
attributes: it reads them, takes the lock, and reads them again; inside a
batch that has already written rows, that lock comes after them, and a
deadlock it causes (PostgreSQL aborts one side) applies the batch again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

from tidings.db import raw
from tidings.db.writer import BatchScope, Job

AnonymousId = tuple[int, str]  # workspace, anonymous id
# The anonymous ids one job of the writer will touch, read from its arguments (a bulk
# job's are `(item,)`).
IdsOf = Callable[[tuple[Any, ...]], Iterable[AnonymousId]]

_HELD = "tidings.anonymous.held"  # the open `held` block's ids in `conn.info`

# The subquery sorts and deduplicates the keys; OFFSET 0 keeps the planner from
# flattening it, so the locks are taken in its order.
_LOCK = (
    "SELECT pg_advisory_xact_lock(ws, h) FROM ("
    "SELECT DISTINCT ws, hashtext(id) AS h FROM unnest({0}::int[], {1}::text[]) AS t(ws, id)"
    " ORDER BY ws, h OFFSET 0) AS keys"
)


def lock(conn: Connection, ids: Iterable[AnonymousId]) -> bool:
    """Take the advisory locks of `ids` (PostgreSQL) until the transaction ends, but for
    those the open `held` block took; all in one sorted statement. True when it took
    one: what the caller read of those ids before may have changed while it waited."""
    if conn.dialect.name != "postgresql":
        return False
    held: set[AnonymousId] = conn.info.get(_HELD) or set()
    wanted = {pair for pair in ids if pair[1] and pair not in held}
    if not wanted:
        return False
    ordered = sorted(wanted)
    mark = raw.mark(conn)
    raw.execute(
        conn,
        _LOCK.format(mark, mark),
        ([ws for ws, _ in ordered], [anonymous_id for _, anonymous_id in ordered]),
    )
    return True


@contextlib.contextmanager
def held(conn: Connection, ids: Iterable[AnonymousId]) -> Iterator[None]:
    """Take the locks of `ids` now (`lock`) and let `lock` skip them until the block
    ends (it must end with the transaction: the locks go with it)."""
    wanted = set(ids)
    lock(conn, wanted)
    if conn.dialect.name != "postgresql" or not wanted:
        yield
        return
    outer: set[AnonymousId] | None = conn.info.get(_HELD)
    conn.info[_HELD] = wanted | (outer or set())  # the connection's info outlives it
    try:
        yield
    finally:
        if outer is None:
            del conn.info[_HELD]
        else:
            conn.info[_HELD] = outer


def preclaim(ids_of: Mapping[Callable[..., Any], IdsOf]) -> BatchScope:
    """The writer's batch scope: `held` with the anonymous ids of every job of the batch
    (bulk or not), each read by the `ids_of` of its function."""

    def scope(conn: Connection, batch: list[Job]) -> AbstractContextManager[None]:
        ids: list[AnonymousId] = []
        for job in batch:
            of = ids_of.get(job.fn)
            if of is not None:
                ids.extend(of(job.args))
        return held(conn, ids)

    return scope
