"""Marking people whose data changed, for the segment worker to re-evaluate.

A mark is written in the same transaction as the change (so it exists exactly
when the change does) and removed by the worker in the transaction that
re-evaluates the person (so a crash in between re-evaluates them again).
Marking the same person twice before the worker looks is one mark.

People of a workspace without data-driven segments are not marked: the
check runs in the same transaction as the change. On SQLite writes are
serialised, so a segment created concurrently is wholly before the change
(which then is marked) or after it (and its build sees the change). On
PostgreSQL a segment committed while the change's transaction is still open
could miss it; the worker therefore builds a segment only `BUILD_GRACE`
seconds after it was created or changed, longer than a write transaction
lasts.

Lock order. On PostgreSQL a mark waits for another transaction's
uncommitted mark of the same person. One call's marks are inserted sorted,
but a writer batch marks in many calls (each run of bulk items, each job),
so two batches marking the same people in opposite runs could each wait
for the other. So the writer's optimistic pass on PostgreSQL runs in
`deferred` (wired by `runtime.wiring.batch_scope`): marks are collected and
inserted when the batch's writes are done, all sorted by person, still in
the batch's transaction. A person gone by then (deleted later in the batch,
or created in a savepoint that was undone) is not marked, as the cascade
would have removed the mark; a surviving person whose change a savepoint
undid may still be marked, which only costs a re-evaluation.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, Select, delete, func, select

from tidings import clock
from tidings.activity.stream import Activity
from tidings.db import counters, raw
from tidings.db.schema import segment_dirty, segments
from tidings.jobs.lease import skip_locked

ROWS_PER_INSERT = 300  # 900 parameters

_DEFERRED = "tidings.segments.dirty"  # the open `deferred` block's marks in `conn.info`

Marks = dict[int, tuple[int, int]]  # person pk -> (workspace, marked_at)


def mark(
    conn: Connection, workspace_id: int, person_pks: Iterable[int | None], now: int | None = None
) -> None:
    """Mark people for re-evaluation; `now` only orders the worker's queue."""
    pks = list(dict.fromkeys(pk for pk in person_pks if pk is not None))
    _mark_each(conn, workspace_id, pks, now)


def on_activity(conn: Connection, activity: Activity) -> None:
    """The activity stream's subscriber: mark the people whose activity changed
    (the stream has already left out repeats and None). Segment entries and
    exits are not marked: they come from the re-evaluation itself, which
    visits segments that refer to other segments after those."""
    if activity.rows and all(row[3] in SEGMENT_TRANSITIONS for row in activity.rows):
        return
    _mark_each(conn, activity.workspace_id, activity.person_pks, activity.now)


SEGMENT_TRANSITIONS = frozenset(("segment_enter", "segment_exit"))


def _mark_each(conn: Connection, workspace_id: int, pks: Sequence[int], now: int | None) -> None:
    if not pks or not _has_dynamic_segments(conn, workspace_id):
        return
    now = int(clock.current().now()) if now is None else now
    pending: Marks | None = conn.info.get(_DEFERRED)
    if pending is not None:
        for pk in pks:
            pending.setdefault(pk, (workspace_id, now))  # the first mark's time, as stored
        return
    _insert(conn, [(pk, (workspace_id, now)) for pk in pks])


@contextlib.contextmanager
def deferred(conn: Connection) -> Iterator[None]:
    """Collect the marks made in the block and insert them at its end, sorted by person,
    for the people that still exist; nothing if it raises (see the module doc). It must
    end inside the transaction of the changes. Inside another block: that one does."""
    with counters.collecting(conn, _DEFERRED) as pending:
        yield
    if pending is None:
        return
    existing = _existing(conn, sorted(pending))
    _insert(conn, [(pk, pending[pk]) for pk in existing])


_EXISTING = "SELECT id FROM people WHERE id IN ({0})"


def _existing(conn: Connection, pks: list[int]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(pks), ROWS_PER_INSERT):
        rows = raw.select_in(conn, _EXISTING, [], pks[start : start + ROWS_PER_INSERT])
        found.extend(row[0] for row in rows)
    return found


def _insert(conn: Connection, marks: list[tuple[int, tuple[int, int]]]) -> None:
    """Insert marks (person pk, (workspace, marked_at)), keeping any already there.

    Sorted by person: an insert waits for another transaction's uncommitted mark of
    the same person, so two nodes marking overlapping people in arrival order could
    each wait for the other (a deadlock); in one order, one of them waits.
    """
    marks = sorted(marks)
    for start in range(0, len(marks), ROWS_PER_INSERT):
        chunk = marks[start : start + ROWS_PER_INSERT]
        sql = _insert_sql(conn.dialect.paramstyle, len(chunk))
        raw.execute(conn, sql, tuple(v for pk, (ws, at) in chunk for v in (pk, ws, at)))


BUILD_GRACE = 2  # seconds; see the module docstring

_HAS_DYNAMIC = "SELECT 1 FROM segments WHERE workspace_id = {} AND type = 'dynamic' LIMIT 1"


def _has_dynamic_segments(conn: Connection, workspace_id: int) -> bool:
    return bool(raw.execute(conn, _HAS_DYNAMIC.format(raw.mark(conn)), (workspace_id,)))


@functools.lru_cache(maxsize=64)
def _insert_sql(paramstyle: str, count: int) -> str:
    mark_ = "?" if paramstyle == "qmark" else "%s"
    values = ", ".join([f"({mark_}, {mark_}, {mark_})"] * count)
    return (
        "INSERT INTO segment_dirty (person_id, workspace_id, marked_at) "
        f"VALUES {values} ON CONFLICT DO NOTHING"
    )


def take(conn: Connection, limit: int) -> dict[int, list[int]]:
    """Remove up to `limit` marks (oldest first) and return their people by workspace.

    Call inside the transaction that re-evaluates the people returned: that
    transaction is the claim. It needs no lease (`jobs.lease`): a worker that
    dies rolls it back and the marks are there again, so there is no stale
    claim to fence off and no failed attempt to back off from. On
    PostgreSQL, concurrent workers skip each other's rows (SKIP LOCKED).

    Marks of a workspace with a build running (`build`: some chunks done,
    `membership.build_step`) stay put until it is finished: re-evaluation
    skips unfinished segments, so taking the mark of a person in a chunk
    already built would leave them wrong in that segment. On PostgreSQL
    that holds for a build waiting to start too (`build_queued`): its
    first chunk may run in another worker's transaction whose snapshot
    predates the marked change. (On SQLite transactions are serialised, so
    a build's first chunk sees every change committed before it.)
    """
    query = select(segment_dirty.c.workspace_id, segment_dirty.c.person_id)
    postgresql = conn.dialect.name == "postgresql"
    states = ("build_queued", "build") if postgresql else ("build",)
    query = query.where(segment_dirty.c.workspace_id.not_in(_building(states)))
    rows = conn.execute(skip_locked(query.order_by(segment_dirty.c.marked_at).limit(limit))).all()
    by_workspace: dict[int, list[int]] = {}
    for workspace_id, pk in rows:
        by_workspace.setdefault(workspace_id, []).append(pk)
    pks = [pk for _, pk in rows]
    for start in range(0, len(pks), ROWS_PER_INSERT):
        chunk = pks[start : start + ROWS_PER_INSERT]
        conn.execute(delete(segment_dirty).where(segment_dirty.c.person_id.in_(chunk)))
    return by_workspace


def _building(states: tuple[str, ...]) -> Select[tuple[int]]:
    return select(segments.c.workspace_id).where(
        segments.c.type == "dynamic", segments.c.state.in_(states)
    )


def backlog(conn: Connection) -> tuple[int, int]:
    """(people waiting for re-evaluation, segments waiting for a build), all workspaces."""
    marked = conn.execute(select(func.count()).select_from(segment_dirty)).scalar_one()
    queued = conn.execute(
        select(func.count()).where(segments.c.state.in_(("build_queued", "build")))
    ).scalar_one()
    return marked, queued
