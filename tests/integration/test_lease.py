"""The lease-queue block (`jobs.lease`) on both stores: claim, lease on the database's
clock, fencing by attempt, renewal.

It runs on the `jobs` table (a queue of the block's), with a job kind of each
test's own so that no worker or other test takes its rows.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, Select, select

from tests.leases import age_leases, db_clock, lease_left, start_of_a_second
from tidings.db.schema import jobs
from tidings.jobs import queue
from tidings.jobs.lease import Leases

LEASES = Leases(jobs, held_state="running")
FAR_FUTURE = 10_000_000_000  # a caller's clock far ahead: leases do not go by it
COLUMNS = (jobs.c.id, jobs.c.attempts, jobs.c.lease_until)


@pytest.fixture
def kind() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def enqueue(tx, workspace, kind):
    def add(count: int = 1) -> list[int]:
        return [tx(queue.enqueue, workspace.workspace_id, kind, {}, 1000) for _ in range(count)]

    return add


def due(kind: str) -> Select[Any]:
    """The block's claim is given what is due: here queued, or held with a lease run out."""
    held_and_expired = (jobs.c.state == "running") & LEASES.expired()
    return (
        select(jobs.c.id)
        .where(jobs.c.kind == kind, (jobs.c.state == "queued") | held_and_expired)
        .order_by(jobs.c.id)
        .limit(10)
    )


def claim(conn: Connection, kind: str, lease: int) -> list[tuple[int, int, int]]:
    rows = LEASES.claim(conn, due(kind), lease, COLUMNS, state="running")
    return sorted((row.id, row.attempts, row.lease_until) for row in rows)


def record(attempt: int, outcome: str) -> Any:
    return lambda conn, job_id: LEASES.record(conn, job_id, attempt, state=outcome)


def state(query, job_id: int) -> tuple[str, int, int | None]:
    row = query(lambda c: c.execute(select(jobs).where(jobs.c.id == job_id)).one())
    return row.state, row.attempts, row.lease_until


def test_the_database_clock_is_the_hosts_here(db):
    assert abs(db_clock(db) - time.time()) < 5


def test_a_claim_bumps_the_attempts_and_leases_on_the_databases_clock(db, tx, enqueue, kind):
    ids = enqueue(2)
    start_of_a_second(db)
    claimed = tx(claim, kind, 60)
    assert [(job_id, attempt) for job_id, attempt, _ in claimed] == [(i, 1) for i in ids]
    assert {lease_left(db, LEASES, job_id) for job_id in ids} == {60}
    assert tx(claim, kind, 60) == []  # held


def test_a_lease_runs_out_on_the_databases_clock_not_the_callers(db, tx, query, enqueue, kind):
    [job_id] = enqueue()
    tx(claim, kind, 60)
    # However far ahead a worker's own clock is, the lease holds ...
    assert tx(queue.claim, [kind], FAR_FUTURE, 60) is None
    # ... until the database's clock passes it.
    age_leases(db, LEASES, 59, job_id)
    assert tx(claim, kind, 60) == []
    age_leases(db, LEASES, 1, job_id)
    [(_, attempt, _)] = tx(claim, kind, 60)
    assert attempt == 2


def test_a_lease_of_no_seconds_runs_out_at_once(db, tx, enqueue, kind):
    enqueue()
    assert [attempt for _, attempt, _ in tx(claim, kind, 0)] == [1]
    assert [attempt for _, attempt, _ in tx(claim, kind, 0)] == [2]


def test_an_outcome_is_recorded_only_while_its_claim_holds(db, tx, query, enqueue, kind):
    [job_id] = enqueue()
    tx(claim, kind, 0)
    tx(claim, kind, 60)  # the first lease ran out: claimed again, attempt 2
    assert tx(record(1, "done"), job_id) is False  # the stale claim
    assert state(query, job_id)[:2] == ("running", 2)
    assert tx(record(2, "done"), job_id) is True
    assert state(query, job_id) == ("done", 2, None)  # recording ends the lease
    assert tx(record(2, "failed"), job_id) is False  # one outcome only
    assert state(query, job_id)[0] == "done"


def test_a_renewal_extends_only_the_claims_that_still_hold(db, tx, query, enqueue, kind):
    first, second = enqueue(2)
    tx(claim, kind, 60)
    age_leases(db, LEASES, 60, first)
    tx(claim, kind, 60)  # `first` again, attempt 2
    age_leases(db, LEASES, 30, first, second)
    first_lease = state(query, first)[2]
    start_of_a_second(db)
    assert tx(LEASES.renew, [(first, 1), (second, 1)], 60) == 1  # `first` at 1 was lost
    assert lease_left(db, LEASES, second) == 60
    assert state(query, first)[2] == first_lease
    assert tx(LEASES.renew, [], 60) == 0


def test_postgresql_claims_skip_the_rows_another_claim_has_locked(db, enqueue, kind):
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: claims are serialised")
    ids = enqueue(2)
    with db.writer.connect() as a, db.writer.connect() as b, a.begin(), b.begin():
        one = LEASES.claim(a, due(kind).limit(1), 60, COLUMNS, state="running")
        other = LEASES.claim(b, due(kind).limit(1), 60, COLUMNS, state="running")
        assert {row.id for row in [*one, *other]} == set(ids)
