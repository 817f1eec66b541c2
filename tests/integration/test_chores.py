"""Periodic chores (`jobs.chores`) on both stores: housekeeping and each workspace's
time-window refresh run once per period by one of the worker processes that
share a database, and a holder that dies is taken over after its lease."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select, update

from tests.leases import age_leases
from tidings.clock import FixedClock
from tidings.db.schema import chores as chores_table
from tidings.db.schema import segments as segments_table
from tidings.events import service as events_service
from tidings.jobs import chores
from tidings.jobs.chores import Chore
from tidings.jobs.runner import HOUSEKEEPING, JobWorker
from tidings.people.identifiers import classify
from tidings.segments import membership
from tidings.segments.refresher import SegmentWorker

NOW = 1_800_000_000
HOUR = 3600


@pytest.fixture(scope="module")
def db(isolated_db):
    """Housekeeping's chore is one per database, and segment workers look at every
    workspace: a database no other test's workers use."""
    return isolated_db


@pytest.fixture
def name() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


class Counter:
    """A chore's work: counts its runs, in the caller's transaction."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, conn, *args):
        self.runs += 1
        return {"removed": 0}


def _make_due(db, name):
    """As if the period had gone by on the database's clock."""
    with db.writer.begin() as conn:
        conn.execute(
            update(chores_table)
            .where(chores_table.c.id == name)
            .values(due_at=chores_table.c.due_at - 2 * HOUR)
        )


def test_a_chore_runs_once_per_period_whoever_asks(db, name):
    chore, work = Chore(name, HOUR, 60), Counter()
    outcomes = [chores.run_if_due(db, db.write, chore, work) for _ in range(3)]
    assert [outcome.ran for outcome in outcomes] == [True, False, False]
    assert work.runs == 1 and outcomes[0].result == {"removed": 0}
    _make_due(db, name)
    assert chores.run_if_due(db, db.write, chore, work).ran
    assert work.runs == 2


def test_two_processes_at_once_run_it_once(db, name):
    """Two threads (each its own connections, as two processes would be) ask at the
    same moment, and the one that runs holds it until the other has asked."""
    chore, work = Chore(name, HOUR, 60), Counter()
    asked = threading.Barrier(2)
    other_done = threading.Event()
    results: list[bool] = []

    def slow(conn):
        work(conn)
        other_done.wait(10)  # still holding it while the other asks

    def process():
        asked.wait(10)
        outcome = chores.run_if_due(db, db.write, chore, slow)
        results.append(outcome.ran)
        if not outcome.ran:
            other_done.set()

    threads = [threading.Thread(target=process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, True] and work.runs == 1


def test_a_holder_that_dies_is_taken_over_after_its_lease(db, name):
    chore, work = Chore(name, HOUR, 60), Counter()
    dead = db.write(chores.claim, name, 60)  # claimed, then its process died
    assert dead == 1
    assert not chores.run_if_due(db, db.write, chore, work).ran
    age_leases(db, chores.LEASES, 61, name)
    assert chores.run_if_due(db, db.write, chore, work).ran and work.runs == 1
    # The dead holder's late report changes nothing: its claim is fenced off.
    assert not db.write(chores.done, name, dead, 0)
    assert not chores.run_if_due(db, db.write, chore, work).ran


def test_a_chore_that_fails_waits_for_its_next_period(db, name):
    chore = Chore(name, HOUR, 60)

    def fails(conn):
        raise RuntimeError("boom")

    assert chores.run_if_due(db, db.write, chore, fails).ran
    assert not chores.run_if_due(db, db.write, chore, Counter()).ran


def test_two_job_workers_do_housekeeping_once_per_period(db):
    clock, prune = FixedClock(NOW), Counter()
    workers = [
        JobWorker(db, clock, {}, housekeeping=prune, housekeeping_every=HOUR) for _ in range(2)
    ]
    for worker in workers:
        worker.between_passes()
    assert prune.runs == 1
    _make_due(db, HOUSEKEEPING)
    fresh = JobWorker(db, clock, {}, housekeeping=prune, housekeeping_every=HOUR)
    fresh.between_passes()  # another process, a period later
    assert prune.runs == 2


def _windowed_workspace(tx, new_workspace_id):
    ws = new_workspace_id
    body = {"name": "purchase", "timestamp": NOW}
    tx(events_service.track, ws, classify("buyer"), events_service.parse_event(body), NOW)
    recent = {"event": {"name": "purchase", "within_last": {"days": 30}}}
    body = {"segment": {"name": "recent", "conditions": recent}}
    segment_id = tx(membership.create_segment, ws, body, NOW)["id"]
    tx(membership.build_segment, ws, segment_id, NOW)
    return segment_id


def _built_at(query, segment_id):
    return query(
        lambda conn: conn.execute(
            select(segments_table.c.built_at).where(segments_table.c.id == segment_id)
        ).scalar_one()
    )


def test_a_workspace_time_windows_are_refreshed_by_one_worker(db, tx, query, workspace):
    """Two segment workers, their clocks apart: the second finds the workspace's
    refresh done this period and leaves `built_at` at the first one's time."""
    segment_id = _windowed_workspace(tx, workspace.workspace_id)
    first = SegmentWorker(db, FixedClock(NOW + 100), time_window_every=HOUR, build_grace=0)
    second = SegmentWorker(db, FixedClock(NOW + 200), time_window_every=HOUR, build_grace=0)
    first.run_once()
    second.run_once()
    assert _built_at(query, segment_id) == NOW + 100
    name = f"segment_windows:{workspace.workspace_id}"
    _make_due(db, name)
    SegmentWorker(db, FixedClock(NOW + 300), time_window_every=HOUR, build_grace=0).run_once()
    assert _built_at(query, segment_id) == NOW + 300


def test_a_dead_workers_time_window_refresh_is_taken_over(db, tx, query, workspace):
    segment_id = _windowed_workspace(tx, workspace.workspace_id)
    name = f"segment_windows:{workspace.workspace_id}"
    assert db.write(chores.claim, name, 120) is not None  # its holder then died
    SegmentWorker(db, FixedClock(NOW + 100), time_window_every=HOUR, build_grace=0).run_once()
    assert _built_at(query, segment_id) == NOW
    age_leases(db, chores.LEASES, 121, name)
    SegmentWorker(db, FixedClock(NOW + 200), time_window_every=HOUR, build_grace=0).run_once()
    assert _built_at(query, segment_id) == NOW + 200
