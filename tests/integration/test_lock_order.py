"""Two nodes writing overlapping rows in opposite orders wait for each other, never deadlock.

Several `tidings serve` and `tidings worker` processes may share one PostgreSQL.
An insert waits for another transaction's uncommitted row with the same key,
and an upsert holds its counter row to the end of its transaction; so two
transactions taking the same rows in their own arrival orders could each hold
the row the other needs next. Each test here runs two transactions, on
connections of their own, over the same rows in opposite orders; each
transaction, after its first row, waits until the other has taken its first
row too or is waiting behind this one (`Interleaving`). Taken in arrival
order, that is a deadlock every time; taken in one order, the second waits.

SQLite has one writer, which serialises all this: PostgreSQL only.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, event, select

from tests.conftest import new_workspace
from tests.factories import add_delivery
from tidings.db import raw
from tidings.db.schema import (
    delivery_days,
    event_dedup,
    events,
    message_totals,
    people,
    segment_dirty,
)
from tidings.db.writer import BatchScope, Job, Writer
from tidings.events import bulk as bulk_events
from tidings.events import dedup
from tidings.people import bulk as bulk_people
from tidings.people import store
from tidings.people.identifiers import Identifier
from tidings.runtime import wiring
from tidings.segments import dirty, membership
from tidings.sending import delivery_queue as queue
from tidings.track_v2 import apply

NOW = 1_800_000_000
DAY = 86_400
DEADLINE = 30.0  # seconds for the other transaction to take its first row


@pytest.fixture(scope="module")
def db(isolated_db):
    if isolated_db.is_sqlite:
        pytest.skip("SQLite has one writer: its transactions never interleave")
    return isolated_db


class Interleaving:
    """Hold two transactions after their first statement matching `marker` until the
    other has run its own first one or is waiting for a lock this one holds."""

    def __init__(self, db: Any, marker: str) -> None:
        self.db, self.marker = db, marker
        self.first = [threading.Event(), threading.Event()]
        self.pids = [0, 0]
        self.mine = threading.local()

    def enter(self, who: int, conn: Connection) -> None:
        self.mine.who = who
        self.pids[who] = raw.execute(conn, "SELECT pg_backend_pid()")[0][0]

    def after(self, sql: str) -> None:
        who = getattr(self.mine, "who", None)
        if who is None or self.marker not in sql or self.first[who].is_set():
            return
        self.first[who].set()
        other = 1 - who
        give_up = time.monotonic() + DEADLINE
        while not (self.first[other].is_set() or self._blocked(self.pids[other])):
            assert time.monotonic() < give_up, "the other transaction never took its first row"
            time.sleep(0.01)

    def _blocked(self, pid: int) -> bool:
        with self.db.reader.connect() as conn:
            found = raw.execute(conn, "SELECT cardinality(pg_blocking_pids(%s)) > 0", (pid,))
            return bool(found[0][0])


@pytest.fixture
def hooked(db, monkeypatch) -> Iterator[Callable[[str], Interleaving]]:
    """An `Interleaving` seeing every statement: driver ones (`db.raw`) and SQLAlchemy's."""
    made: list[Interleaving] = []
    real_execute = raw.execute

    def execute(conn: Connection, sql: str, params: Any = ()) -> list[Any]:
        rows = real_execute(conn, sql, params)
        for interleaving in made:
            interleaving.after(sql)
        return rows

    def after_cursor_execute(conn, cursor, statement, *args: Any) -> None:
        for interleaving in made:
            interleaving.after(statement)

    def make(marker: str) -> Interleaving:
        made.append(Interleaving(db, marker))
        return made[-1]

    monkeypatch.setattr(raw, "execute", execute)
    event.listen(db.writer, "after_cursor_execute", after_cursor_execute)
    try:
        yield make
    finally:
        event.remove(db.writer, "after_cursor_execute", after_cursor_execute)


def race(db, interleaving: Interleaving, work: Callable[[Connection, int], Any]) -> list[Any]:
    """Run `work(conn, 0)` and `work(conn, 1)` in two threads, each in a transaction of its
    own; what each returned, or the error it raised."""
    results: list[Any] = [None, None]

    def run(who: int) -> None:
        with db.writer.connect() as conn:
            try:
                with conn.begin():
                    interleaving.enter(who, conn)
                    results[who] = work(conn, who)
            except Exception as exc:
                results[who] = exc
            # This backend's statistics (a deadlock among them) reach `pg_stat_database`
            # when it is next idle, here at the rollback that returns it to the pool.
            conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")

    threads = [threading.Thread(target=run, args=(who,)) for who in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def deadlocks(db) -> int:
    """Deadlocks PostgreSQL counted in the test database."""
    with psycopg.connect(db.url.replace("+psycopg", ""), autocommit=True) as conn:
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0])


def no_deadlock(results: list[Any]) -> None:
    for result in results:
        assert not isinstance(result, Exception) or "deadlock" not in str(result), result


def test_dedup_keys(db, hooked, monkeypatch):
    monkeypatch.setattr(dedup, "KEYS_PER_INSERT", 1)  # one statement per row, to interleave
    ws = new_workspace(db).workspace_id
    before = deadlocks(db)
    orders = (["event:a", "event:b"], ["event:b", "event:a"])
    results = race(
        db,
        hooked("event_dedup"),
        lambda conn, who: dedup.record_keys(conn, ws, orders[who], NOW),
    )
    no_deadlock(results)
    assert sorted(results[0] | results[1]) == ["event:a", "event:b"]
    assert not results[0] & results[1]  # each key is new to exactly one of them
    assert deadlocks(db) == before
    with db.reader.connect() as conn:
        rows = conn.execute(select(event_dedup.c.key).where(event_dedup.c.workspace_id == ws))
        assert sorted(row.key for row in rows) == ["event:a", "event:b"]


def _event(who: str, dedup_id: str | None) -> bulk_events.Plain:
    return ("id", who, "bought", "event", "{}", NOW, dedup_id)


def _future() -> concurrent.futures.Future[Any]:
    return concurrent.futures.Future()


def _flush_statistics(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")


def race_writers(
    db: Any, interleaving: Interleaving, scope: BatchScope | None, batches: list[list[Job]]
) -> None:
    """Commit `batches[0]` and `batches[1]` through two `Writer`s (two nodes), in two
    threads, the batch scope (if any) opened after `interleaving` knows the connection;
    every job must succeed."""

    def commit(who: int) -> None:
        def entered(conn: Connection, batch: list[Job]) -> contextlib.AbstractContextManager[None]:
            interleaving.enter(who, conn)
            return scope(conn, batch) if scope is not None else contextlib.nullcontext()

        writer = Writer(db.writer, batch_scope=entered)
        writer.commit(batches[who])
        writer.commit([Job(_flush_statistics, (), _future())])
        writer.close()

    threads = [threading.Thread(target=commit, args=(who,)) for who in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(job.future.exception() is None for batch in batches for job in batch)


def deadlocked_unless(db: Any, before: int, preclaim: bool) -> None:
    """With the batch scope, PostgreSQL counted no deadlock; without it, it does (polled:
    the count reaches `pg_stat_database` a little after the fact)."""
    if preclaim:
        assert deadlocks(db) == before
        return
    give_up = time.monotonic() + DEADLINE
    while deadlocks(db) == before:  # the case the test is built for
        assert time.monotonic() < give_up, "no deadlock without the batch scope"
        time.sleep(0.05)


def _runs(ws: int, names: tuple[str, str], ids: tuple[str | None, str | None]) -> list[Job]:
    """A node's batch: a Track v1 run recording an event of `names[0]`, then a Track v2
    run recording one of `names[1]` (dedup ids `ids`)."""
    return [
        Job(bulk_events.track_queued, ((ws, _event(names[0], ids[0]), NOW),), _future(), True),
        Job(apply.apply_queued, ((ws, [_event(names[1], ids[1])], NOW),), _future(), True),
    ]


def _bought(db: Any, ws: int) -> int:
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(events.c.id).where(events.c.workspace_id == ws, events.c.name == "bought")
        )
        return len(rows.all())


@pytest.mark.parametrize("preclaim", [False, True], ids=["arrival_order", "preclaimed"])
def test_dedup_keys_across_runs_of_a_writer_batch(db, hooked, monkeypatch, preclaim):
    """A writer batch asks for dedup keys once per bulk run (Track v1, then Track v2):
    two nodes' batches re-sending each other's ids in the other run. Asked run by run,
    that deadlocks; taken first in one order (`dedup.preclaim`), the second waits."""
    monkeypatch.setattr(dedup, "KEYS_PER_INSERT", 1)
    ws = new_workspace(db).workspace_id
    before = deadlocks(db)
    batches = [_runs(ws, ("node0", "node0"), ("a", "b")), _runs(ws, ("node1", "node1"), ("b", "a"))]
    scope = wiring.batch_scope() if preclaim else None
    race_writers(db, hooked("event_dedup"), scope, batches)
    deadlocked_unless(db, before, preclaim)
    assert _bought(db, ws) == 2  # each id stored once, whichever node stored it
    with db.reader.connect() as conn:
        rows = conn.execute(select(event_dedup.c.key).where(event_dedup.c.workspace_id == ws))
        assert sorted(rows.scalars()) == ["event:a", "event:b"]


@pytest.mark.parametrize("preclaim", [False, True], ids=["arrival_order", "preclaimed"])
def test_new_people_across_runs_of_a_writer_batch(db, hooked, preclaim):
    """A writer batch creates the people first named in each bulk run as the run goes:
    two nodes' batches naming the same two new people in opposite runs. Created run by
    run, that deadlocks; found or created first in one order (`preclaim_people`), the
    second waits, collides, and its careful pass finds them."""
    ws = new_workspace(db).workspace_id
    before = deadlocks(db)
    batches = [_runs(ws, ("p1", "p2"), (None, None)), _runs(ws, ("p2", "p1"), (None, None))]
    scope = wiring.batch_scope() if preclaim else None
    race_writers(db, hooked("INSERT INTO people"), scope, batches)
    deadlocked_unless(db, before, preclaim)
    assert _bought(db, ws) == 4
    with db.reader.connect() as conn:
        rows = conn.execute(select(people.c.customer_id).where(people.c.workspace_id == ws))
        assert sorted(rows.scalars()) == ["p1", "p2"]


@pytest.mark.parametrize("preclaim", [False, True], ids=["arrival_order", "preclaimed"])
def test_segment_marks_across_runs_of_a_writer_batch(db, hooked, preclaim):
    """A writer batch marks the people of each bulk run as the run goes: two nodes'
    batches recording events of the same two people in opposite runs. Marked run by run,
    that deadlocks; marked at the batch's end, sorted (`dirty.deferred`), one waits."""
    ws = new_workspace(db).workspace_id
    with db.writer.begin() as conn:
        pro = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
        membership.create_segment(conn, ws, {"segment": {"name": "pro", "conditions": pro}}, NOW)
        pks = [store.create(conn, ws, NOW, who, None).pk for who in ("m1", "m2")]
    before = deadlocks(db)
    batches = [_runs(ws, ("m1", "m2"), (None, None)), _runs(ws, ("m2", "m1"), (None, None))]
    scope = wiring.batch_scope() if preclaim else None
    race_writers(db, hooked("segment_dirty"), scope, batches)
    deadlocked_unless(db, before, preclaim)
    assert _bought(db, ws) == 4
    with db.reader.connect() as conn:
        marked = conn.execute(
            select(segment_dirty.c.person_id).where(segment_dirty.c.workspace_id == ws)
        )
        assert sorted(marked.scalars()) == sorted(pks)


def test_segment_marks(db, hooked, monkeypatch):
    monkeypatch.setattr(dirty, "ROWS_PER_INSERT", 1)
    ws = new_workspace(db).workspace_id
    with db.writer.begin() as conn:
        pro = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
        body = {"segment": {"name": "pro", "conditions": pro}}
        membership.create_segment(conn, ws, body, NOW)
        first, second = (store.create(conn, ws, NOW, who, None).pk for who in ("m1", "m2"))
    before = deadlocks(db)
    orders = ([first, second], [second, first])
    results = race(
        db, hooked("segment_dirty"), lambda conn, who: dirty.mark(conn, ws, orders[who], NOW)
    )
    no_deadlock(results)
    assert deadlocks(db) == before
    with db.reader.connect() as conn:
        marked = conn.execute(
            select(segment_dirty.c.person_id).where(segment_dirty.c.workspace_id == ws)
        )
        assert sorted(row.person_id for row in marked) == sorted([first, second])


def test_new_people(db, hooked):
    ws = new_workspace(db).workspace_id
    before = deadlocks(db)
    orders = (
        [Identifier("id", "p1"), Identifier("id", "p2")],
        [Identifier("id", "p2"), Identifier("id", "p1")],
    )

    def create(conn: Connection, who: int) -> dict[Any, int]:
        conn.execution_options(insertmanyvalues_page_size=1)  # one statement per person
        return bulk_people.create_many(conn, ws, orders[who], NOW)

    results = race(db, hooked("INSERT INTO people"), create)
    no_deadlock(results)
    # The second collides with the first's people (the writer retries it, then finds them).
    made = [result for result in results if isinstance(result, dict)]
    assert len(made) == 1 and sorted(made[0]) == [("id", "p1"), ("id", "p2")]
    assert deadlocks(db) == before
    with db.reader.connect() as conn:
        rows = conn.execute(select(people.c.customer_id).where(people.c.workspace_id == ws))
        assert sorted(row.customer_id for row in rows) == ["p1", "p2"]


def _claim(conn: Connection, ws: int, delivery_id: str, campaign: int) -> queue.Claimed:
    add_delivery(
        conn, ws, delivery_id, None, state="sending", attempts=1, source="campaign",
        campaign_id=campaign, action_id=campaign * 10,
    )  # fmt: skip
    return queue.Claimed(delivery_id, ws, None, "email", "a@example.com", None, {}, 1, None)


def test_outcomes_recorded_in_a_batch(db, hooked):
    """A batch of outcomes counts each in its day and in its campaign's totals: two
    workers' batches over the same days and campaigns, in opposite orders."""
    ws = new_workspace(db).workspace_id
    with db.writer.begin() as conn:
        claims = [_claim(conn, ws, f"d{i}", campaign) for i, campaign in enumerate((1, 2, 2, 1))]
    # Worker 0: day 1 campaign 1, day 2 campaign 2; worker 1: day 2 campaign 2, day 1 campaign 1.
    days = (NOW, NOW + DAY, NOW + DAY, NOW)
    batches = ([0, 1], [2, 3])
    before = deadlocks(db)

    def record(conn: Connection, who: int) -> list[Any]:
        items = [(queue.sent, claims[i], (days[i], f"p{i}")) for i in batches[who]]
        return queue.record_many(conn, items)

    results = race(db, hooked("INSERT INTO delivery_days"), record)
    no_deadlock(results)
    assert results == [[True, True], [True, True]]
    assert deadlocks(db) == before
    with db.reader.connect() as conn:
        counted = conn.execute(
            select(delivery_days.c.day, delivery_days.c.count).where(
                delivery_days.c.workspace_id == ws, delivery_days.c.metric == "sent"
            )
        )
        first_day = NOW - NOW % DAY
        assert sorted(tuple(row) for row in counted) == [(first_day, 2), (first_day + DAY, 2)]
        totals = conn.execute(
            select(message_totals.c.scope, message_totals.c.scope_id, message_totals.c.count).where(
                message_totals.c.workspace_id == ws, message_totals.c.name == "sent"
            )
        )
        assert sorted(tuple(row) for row in totals) == [
            ("action", 10, 2), ("action", 20, 2), ("campaign", 1, 2), ("campaign", 2, 2),
        ]  # fmt: skip
