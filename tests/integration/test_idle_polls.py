"""An idle background worker polls from a reading connection: no write transaction.

On SQLite every write transaction queues behind the request writer (or, with
the writer process, crosses a socket to it), so a worker that finds nothing
to do must not take one.
"""

from __future__ import annotations

import uuid

import pytest

from tidings.clock import FixedClock
from tidings.fetch import Allowlist
from tidings.jobs import queue
from tidings.jobs.runner import JobWorker
from tidings.reporting.poster import WebhookPoster
from tidings.sending.deliverer import DeliveryWorker


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db  # nothing due but what these tests queue


class Handler:
    def __init__(self) -> None:
        self.ran = 0

    def run(self, ctx, job) -> None:
        self.ran += 1

    def give_up(self, conn, job, error, now) -> None:
        raise AssertionError("not expected")


@pytest.fixture
def writes(db):
    """A `write` for the workers that remembers the use cases it ran."""
    names: list[str] = []

    def write(fn, *args):
        names.append(fn.__name__)
        return db.write(fn, *args)

    write.names = names
    return write


def test_idle_workers_take_no_write_transaction(db, writes):
    clock = FixedClock()
    handler = Handler()
    assert JobWorker(db, clock, {"idle-kind": handler}, write=writes).run_once() is False
    assert WebhookPoster(db, clock, Allowlist.parse(""), write=writes).run_once() is False
    assert DeliveryWorker(db, clock, write=writes).run_once() == 0
    assert writes.names == []
    assert handler.ran == 0


def test_a_due_job_is_still_claimed_and_run(db, tx, workspace, writes):
    clock = FixedClock()
    kind = f"test-{uuid.uuid4().hex[:12]}"
    tx(queue.enqueue, workspace.workspace_id, kind, {}, clock.now())
    handler = Handler()
    worker = JobWorker(db, clock, {kind: handler}, write=writes)
    assert worker.run_once() is True
    assert handler.ran == 1
    assert writes.names == ["claim", "finish"]
