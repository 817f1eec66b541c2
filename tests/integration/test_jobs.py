"""The job queue and worker: claims, leases, retries, failure, on both stores."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, select

from tests.leases import age_leases, lease_left, start_of_a_second
from tidings.clock import FixedClock
from tidings.db.schema import jobs
from tidings.jobs import queue
from tidings.jobs.lease import RetryPolicy
from tidings.jobs.queue import Claimed
from tidings.jobs.runner import JobContext, JobWorker, LeaseLost, Permanent


class Recorder:
    """A handler that does what it is told and remembers what happened."""

    def __init__(self, outcome: Any = None) -> None:
        self.outcome = outcome
        self.runs: list[Claimed] = []
        self.given_up: list[tuple[int, str]] = []

    def run(self, ctx: JobContext, job: Claimed) -> None:
        self.runs.append(job)
        if callable(self.outcome):
            self.outcome(ctx, job)
        elif self.outcome is not None:
            raise self.outcome

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        self.given_up.append((job.id, error))


@pytest.fixture
def kind() -> str:
    """A job kind of this test's own, so no other worker or test claims its jobs."""
    return f"test-{uuid.uuid4().hex[:12]}"


def job_row(query, job_id: int) -> Any:
    return query(lambda conn: conn.execute(select(jobs).where(jobs.c.id == job_id)).one())


def test_a_job_runs_once_and_is_done(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(queue.enqueue, workspace.workspace_id, kind, {"n": 1}, clock.now())
    handler = Recorder()
    worker = JobWorker(db, clock, {kind: handler})

    assert worker.run_once() is True
    assert worker.run_once() is False
    assert [(j.id, j.payload, j.attempt) for j in handler.runs] == [(job_id, {"n": 1}, 1)]
    row = job_row(query, job_id)
    assert (row.state, row.attempts, row.lease_until) == ("done", 1, None)


def test_a_job_due_later_waits(db, tx, workspace, kind):
    clock = FixedClock()
    now = int(clock.now())
    tx(partial(queue.enqueue, run_at=now + 60), workspace.workspace_id, kind, {}, now)
    handler = Recorder()
    worker = JobWorker(db, clock, {kind: handler})
    assert worker.run_once() is False
    clock.advance(60)
    assert worker.run_once() is True


def test_a_failure_is_retried_with_backoff_then_succeeds(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(queue.enqueue, workspace.workspace_id, kind, {}, clock.now())
    handler = Recorder(RuntimeError("provider down"))
    worker = JobWorker(db, clock, {kind: handler}, retry=RetryPolicy(base=10, cap=300))

    assert worker.run_once() is True
    row = job_row(query, job_id)
    assert row.state == "queued"
    assert row.last_error == "RuntimeError: provider down"
    assert clock.now() + 5 <= row.run_at <= clock.now() + 10  # base 10 s, jitter 0.5-1
    assert worker.run_once() is False  # not due yet

    handler.outcome = None
    clock.advance(10)
    assert worker.run_once() is True
    assert job_row(query, job_id).state == "done"
    assert [j.attempt for j in handler.runs] == [1, 2]


def test_the_backoff_doubles_and_is_capped(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(
        partial(queue.enqueue, max_attempts=10), workspace.workspace_id, kind, {}, clock.now()
    )
    worker = JobWorker(
        db, clock, {kind: Recorder(RuntimeError("x"))}, retry=RetryPolicy(base=10, cap=30)
    )
    delays = []
    for _ in range(4):
        assert worker.run_once() is True
        delay = job_row(query, job_id).run_at - clock.now()
        delays.append(delay)
        clock.advance(delay)
    assert 5 <= delays[0] <= 10
    assert 10 <= delays[1] <= 20
    assert 15 <= delays[2] <= 30 and 15 <= delays[3] <= 30


def test_a_permanent_failure_is_not_retried_and_gives_up(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(queue.enqueue, workspace.workspace_id, kind, {}, clock.now())
    handler = Recorder(Permanent("the file is not CSV"))
    worker = JobWorker(db, clock, {kind: handler})

    assert worker.run_once() is True
    row = job_row(query, job_id)
    assert (row.state, row.last_error) == ("failed", "the file is not CSV")
    assert handler.given_up == [(job_id, "the file is not CSV")]
    clock.advance(3600)
    assert worker.run_once() is False


def test_the_last_attempt_fails_for_good(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(
        partial(queue.enqueue, max_attempts=2), workspace.workspace_id, kind, {}, clock.now()
    )
    handler = Recorder(RuntimeError("still down"))
    worker = JobWorker(db, clock, {kind: handler}, retry=RetryPolicy(base=1, cap=300))

    worker.run_once()
    clock.advance(5)
    worker.run_once()
    row = job_row(query, job_id)
    assert (row.state, row.attempts) == ("failed", 2)
    assert handler.given_up == [(job_id, "RuntimeError: still down")]


def test_an_expired_lease_lets_another_worker_take_over(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(queue.enqueue, workspace.workspace_id, kind, {}, clock.now())
    first = tx(queue.claim, [kind], int(clock.now()), 60)
    assert first is not None and first.attempt == 1
    assert tx(queue.claim, [kind], int(clock.now()) + 60, 60) is None  # lease still held

    clock.advance(61)
    age_leases(db, queue.LEASES, 61, job_id)
    handler = Recorder()
    JobWorker(db, clock, {kind: handler}, lease=60).run_once()
    assert [j.attempt for j in handler.runs] == [2]
    # The first worker comes back: its claim is fenced off.
    assert tx(queue.finish, first, int(clock.now())) is False
    assert tx(queue.retry, first, int(clock.now()), int(clock.now()), "late") is False
    row = job_row(query, job_id)
    assert (row.state, row.attempts, row.last_error) == ("done", 2, None)


def test_a_job_whose_workers_keep_dying_is_failed_without_running(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(
        partial(queue.enqueue, max_attempts=2), workspace.workspace_id, kind, {}, clock.now()
    )
    for _ in range(2):
        assert tx(queue.claim, [kind], int(clock.now()), 60) is not None
        clock.advance(61)
        age_leases(db, queue.LEASES, 61, job_id)
    handler = Recorder()
    JobWorker(db, clock, {kind: handler}, lease=60).run_once()
    assert handler.runs == []
    assert handler.given_up == [(job_id, "the job's worker stopped before finishing it")]
    assert job_row(query, job_id).state == "failed"


def test_heartbeat_renews_the_lease_and_detects_its_loss(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(queue.enqueue, workspace.workspace_id, kind, {}, clock.now())
    seen: list[str] = []

    def work(ctx: JobContext, job: Claimed) -> None:
        clock.advance(30)
        age_leases(db, queue.LEASES, 30, job.id)
        ctx._renewed = -1e9  # as if a third of the lease had passed on the monotonic clock
        start_of_a_second(db)
        ctx.heartbeat()
        seen.append(f"lease until {lease_left(db, queue.LEASES, job.id)}")
        # Another worker steals the job after the lease ran out.
        clock.advance(61)
        age_leases(db, queue.LEASES, 61, job.id)
        assert tx(queue.claim, [kind], int(clock.now()), 60) is not None
        ctx._renewed = -1e9
        with pytest.raises(LeaseLost):
            ctx.heartbeat()
        seen.append("lost")
        raise LeaseLost("gone")

    handler = Recorder(work)
    JobWorker(db, clock, {kind: handler}, lease=60).run_once()
    assert seen == ["lease until 60", "lost"]
    row = job_row(query, job_id)
    assert (row.state, row.attempts) == ("running", 2)  # left to the new holder
    assert handler.given_up == []


def test_jobs_of_unknown_kinds_are_left_alone(db, tx, query, workspace, kind):
    clock = FixedClock()
    job_id = tx(queue.enqueue, workspace.workspace_id, kind, {}, clock.now())
    JobWorker(db, clock, {kind + "-other": Recorder()}).run_once()
    assert job_row(query, job_id).state == "queued"


def test_postgresql_workers_claim_different_jobs_concurrently(db, workspace, kind):
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: claims are serialised")
    with db.writer.begin() as conn:
        ids = {queue.enqueue(conn, workspace.workspace_id, kind, {}, 1000) for _ in range(2)}
    with db.writer.connect() as a, db.writer.connect() as b, a.begin(), b.begin():
        first = queue.claim(a, [kind], 1000, 60)
        second = queue.claim(b, [kind], 1000, 60)  # skips the row `a` holds
        assert first is not None and second is not None
        assert {first.id, second.id} == ids
