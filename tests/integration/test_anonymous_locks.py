"""An anonymous event and the alias that claims its id, applied at once, still meet.

Two transactions under READ COMMITTED (PostgreSQL): one logs a track of
anonymousId a-1 (no person holds a-1 yet: stored anonymous), the other applies
the alias c-1 / a-1 (it adopts the anonymous events of a-1 it sees, then sets
the attribute). Each test holds both transactions, after their use cases and
before their commits, until the other has applied its own or is waiting for a
lock this one holds (`Interleaving` on a marker statement run after the work).
Without the advisory locks of `people.anonymous_locks`, both miss the other's
uncommitted write every time and the event stays anonymous; with them, the
second waits for the first to commit and the event is c-1's, as when the two
are applied one after the other.

SQLite has one writer, which serialises all this: PostgreSQL only.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, select

from tests.conftest import new_workspace
from tests.integration import test_lock_order as lock_order
from tests.integration.test_lock_order import _future, deadlocks, no_deadlock, race, race_writers
from tidings.db import raw
from tidings.db.schema import events, people
from tidings.db.writer import Job
from tidings.ingest_log import kinds, partitions, records
from tidings.ingest_log.apply import Message, apply_batch
from tidings.people import anonymous_locks
from tidings.pipelines import ingest
from tidings.pipelines.parse import parse_message
from tidings.runtime import wiring

# test_lock_order's fixtures: PostgreSQL only, and the `Interleaving` maker.
db = lock_order.db
hooked = lock_order.hooked

NOW = 1_800_000_000
MARKER = "SELECT 'anonymous-test: applied'"
TRACK = {"type": "track", "anonymousId": "a-1", "event": "Viewed", "messageId": "m-1"}
ALIAS = {"type": "alias", "userId": "c-1", "previousId": "a-1", "messageId": "m-2"}


@pytest.fixture(params=[False, True], ids=["unlocked", "locked"])
def locked(request, monkeypatch) -> bool:
    if not request.param:  # the race as it was: no advisory lock taken anywhere
        monkeypatch.setattr(anonymous_locks, "lock", lambda conn, ids: None)
    return bool(request.param)


def _applied(conn: Connection) -> None:
    """Run the marker the `Interleaving` holds a transaction at, before it commits."""
    raw.execute(conn, MARKER)


def _viewed_by(db: Any, ws: int) -> tuple[str | None, str | None]:
    """Whose the Viewed event is: the person's customer id, and the anonymous id kept."""
    with db.reader.connect() as conn:
        row = conn.execute(
            select(people.c.customer_id, events.c.anonymous_id)
            .select_from(events.outerjoin(people, people.c.id == events.c.person_id))
            .where(events.c.workspace_id == ws, events.c.name == "Viewed")
        ).one()
        return row.customer_id, row.anonymous_id


def _expect(db: Any, ws: int, locked: bool) -> None:
    if locked:  # c-1's (adopted, it keeps a-1; logged after the alias, it names c-1 only)
        assert _viewed_by(db, ws)[0] == "c-1"
    else:  # the race the locks close: each transaction missed the other's write
        assert _viewed_by(db, ws) == (None, "a-1")


def test_two_ingest_log_partitions(db, hooked, locked):
    """The applier's batches of two partitions, one holding the track, the other the
    alias (`apply_batch`, each in its transaction, as the applier's pool runs them)."""
    ws = new_workspace(db).workspace_id
    stream = f"anon-{uuid.uuid4().hex[:8]}"
    with db.writer.begin() as conn:
        partitions.ensure(conn, stream, 2)
        claims = partitions.claim(conn, stream, "test", 2, lease=60)
    assert len(claims) == 2
    track = kinds.pipelines_items(ws, [parse_message(TRACK, NOW)], NOW)
    alias = kinds.pipelines_items(ws, [parse_message(ALIAS, NOW)], NOW)
    batches = [[Message(1, records.encode(track))], [Message(1, records.encode(alias))]]
    interleaving = hooked(MARKER)
    before = deadlocks(db)

    def work(conn: Connection, who: int) -> Any:
        outcome = apply_batch(conn, stream, claims[who], batches[who])
        _applied(conn)
        return outcome

    results = race(db, interleaving, work)
    no_deadlock(results)
    assert [(r.held, r.applied, r.refused) for r in results] == [(True, 1, 0)] * 2
    assert deadlocks(db) == before
    _expect(db, ws, locked)


def test_two_writers(db, hooked, locked):
    """Two servers' group-commit writers on one PostgreSQL, each with the batch scope
    `runtime.wiring` gives: one's batch queues the track (`ingest_queued`, bulk), the
    other's writes the alias (`ingest.ingest`)."""
    ws = new_workspace(db).workspace_id
    track = ingest.plain_items([parse_message(TRACK, NOW)])
    alias = [parse_message(ALIAS, NOW)]
    batches = [
        [Job(ingest.ingest_queued, ((ws, track, NOW),), _future(), True)],
        [Job(ingest.ingest, (ws, alias, NOW, False), _future())],
    ]
    interleaving = hooked(MARKER)
    wired = wiring.batch_scope()
    before = deadlocks(db)

    @contextlib.contextmanager
    def scope(conn: Connection, batch: list[Job]) -> Iterator[None]:
        with wired(conn, batch):
            yield
        _applied(conn)  # after the scope's own work, before the commit

    race_writers(db, interleaving, scope, batches)
    assert deadlocks(db) == before
    _expect(db, ws, locked)
