"""An anonymous event and the alias or identify that claims its id, applied at once,
still meet.

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

The same holds for the Track API's anonymous paths: a v1 anonymous event
(`events.track_anonymous`) or a v2 `identify_anonymous` relationship against a
v1 or v2 identify (or a form submission) setting `anonymous_id`, through two
writers, two ingest-log partitions, or one of each; and for a merge that
carries the secondary's anonymous id over to the primary, against a v1
anonymous event of that id, in either order.

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
from tests.integration.test_lock_order import (
    _future,
    deadlocked_unless,
    deadlocks,
    no_deadlock,
    race,
    race_writers,
)
from tidings.db import raw
from tidings.db.schema import events, people, relationships
from tidings.db.writer import Job
from tidings.events import service as event_service
from tidings.ingest_log import kinds, partitions, records
from tidings.ingest_log.apply import Message, apply_batch
from tidings.people import anonymous_locks, forms
from tidings.people import service as people_service
from tidings.people.identifiers import Identifier
from tidings.people.merge import merge_people
from tidings.pipelines import ingest
from tidings.pipelines.parse import parse_message
from tidings.runtime import wiring
from tidings.track_v2 import apply as v2
from tidings.track_v2.parse import parse_operation

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


def _viewed(db: Any, ws: int) -> list[tuple[str | None, str | None]]:
    """Whose the Viewed events are: the person's customer id, and the anonymous id kept."""
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(people.c.customer_id, events.c.anonymous_id)
            .select_from(events.outerjoin(people, people.c.id == events.c.person_id))
            .where(events.c.workspace_id == ws, events.c.name == "Viewed")
            .order_by(events.c.anonymous_id)
        )
        return [(row.customer_id, row.anonymous_id) for row in rows]


def _viewed_by(db: Any, ws: int) -> tuple[str | None, str | None]:
    """Whose the one Viewed event is."""
    (found,) = _viewed(db, ws)
    return found


def _expect(db: Any, ws: int, locked: bool) -> None:
    if locked:  # c-1's (adopted, it keeps a-1; logged after the alias, it names c-1 only)
        assert _viewed_by(db, ws)[0] == "c-1"
    else:  # the race the locks close: each transaction missed the other's write
        assert _viewed_by(db, ws) == (None, "a-1")


def test_two_ingest_log_partitions(db, hooked, locked):
    """The applier's batches of two partitions, one holding the track, the other the
    alias (`apply_batch`, each in its transaction, as the applier's pool runs them)."""
    ws = new_workspace(db).workspace_id
    track = kinds.pipelines_items(ws, [parse_message(TRACK, NOW)], NOW)
    alias = kinds.pipelines_items(ws, [parse_message(ALIAS, NOW)], NOW)
    _race_partitions(db, hooked, [track, alias])
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
    _race_two_writers(db, hooked, batches)
    _expect(db, ws, locked)


# --- The Track API's anonymous paths -----------------------------------------------------

V1_EVENT = event_service.parse_event({"name": "Viewed", "anonymous_id": "a-1"})
V1_CLAIM = {"anonymous_id": "a-1"}  # the identify body (attributes) that claims a-1
V2_IDENTIFY = {
    "type": "person",
    "action": "identify",
    "identifiers": {"id": "c-1"},
    "attributes": V1_CLAIM,
}
V2_VISITOR = {
    "type": "object",
    "action": "identify_anonymous",
    "identifiers": {"object_type_id": "1", "object_id": "acme"},
    "cio_relationships": [{"identifiers": {"anonymous_id": "a-1"}}],
}


def _anonymous_event(ws: int) -> Job:
    """`POST /api/v1/events` with `anonymous_id` a-1, as its handler submits it."""
    return Job(event_service.track_anonymous, (ws, "a-1", V1_EVENT, NOW), _future())


def _claim(ws: int, how: str) -> Job:
    """The job of a request that sets c-1's `anonymous_id` to a-1, as its handler
    submits it."""
    c1 = Identifier("id", "c-1")
    if how == "v1 identify":
        request = people_service.parse_identify(V1_CLAIM, NOW)
        return Job(people_service.identify, (ws, c1, request, NOW), _future())
    if how == "v1 form":
        _, request = forms.parse_submission({"data": {"id": "c-1", **V1_CLAIM}}, NOW)
        return Job(forms.submit, (ws, "signup", c1, request, NOW), _future())
    if how == "v2 entity":
        return Job(v2.run_operation, (ws, parse_operation(V2_IDENTIFY, NOW)), _future())
    assert how == "v2 batch"
    return Job(v2.apply_batch, (ws, [parse_operation(V2_IDENTIFY, NOW)], NOW), _future())


def _race_two_writers(db: Any, hooked: Any, batches: list[list[Job]]) -> None:
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


@pytest.mark.parametrize("how", ["v1 identify", "v1 form", "v2 entity", "v2 batch"])
def test_track_anonymous_event_and_claim_in_two_writers(db, hooked, locked, how):
    """Two servers' writers: one's batch logs a v1 anonymous event of a-1, the other's
    applies an identify of c-1 setting `anonymous_id` a-1."""
    ws = new_workspace(db).workspace_id
    _race_two_writers(db, hooked, [[_anonymous_event(ws)], [_claim(ws, how)]])
    _expect(db, ws, locked)


def _related(db: Any, ws: int) -> tuple[str | None, str | None]:
    """Whose the relationship to acme is: the person's customer id, the anonymous id."""
    with db.reader.connect() as conn:
        row = conn.execute(
            select(people.c.customer_id, relationships.c.anonymous_id)
            .select_from(relationships.outerjoin(people, people.c.id == relationships.c.person_id))
            .where(relationships.c.workspace_id == ws)
        ).one()
        return row.customer_id, row.anonymous_id


@pytest.mark.parametrize("how", ["v1 identify", "v2 batch"])
def test_v2_anonymous_relationship_and_claim_in_two_writers(db, hooked, locked, how):
    """One writer's batch relates visitor a-1 to an object (v2 `identify_anonymous`),
    the other's applies the identify claiming a-1: the relationship ends c-1's."""
    ws = new_workspace(db).workspace_id
    visitor = Job(v2.run_operation, (ws, parse_operation(V2_VISITOR, NOW)), _future())
    _race_two_writers(db, hooked, [[visitor], [_claim(ws, how)]])
    assert _related(db, ws) == (("c-1", None) if locked else (None, "a-1"))


@pytest.mark.parametrize("kind", ["v1.identify", "v2.op"])
def test_claim_and_pipelines_event_in_two_ingest_log_partitions(db, hooked, locked, kind):
    """The applier's batches of two partitions: a Pipelines anonymous track of a-1 in
    one, a Track identify (v1 or v2) claiming a-1 in the other."""
    ws = new_workspace(db).workspace_id
    if kind == "v1.identify":
        claim = [kinds.identify_v1(ws, Identifier("id", "c-1"), V1_CLAIM, NOW)]
    else:
        claim = kinds.track_v2(ws, [V2_IDENTIFY], [parse_operation(V2_IDENTIFY, NOW)], NOW)
    track = kinds.pipelines_items(ws, [parse_message(TRACK, NOW)], NOW)
    _race_partitions(db, hooked, [track, claim])
    _expect(db, ws, locked)


def _claimed(db: Any, count: int) -> tuple[str, list[Any]]:
    """A new stream of `count` partitions, and this test's claims of them."""
    stream = f"anon-{uuid.uuid4().hex[:8]}"
    with db.writer.begin() as conn:
        partitions.ensure(conn, stream, count)
        return stream, partitions.claim(conn, stream, "test", count, lease=60)


def _race_partitions(db: Any, hooked: Any, made: list[list[records.Record]]) -> None:
    """The applier's batches of two partitions, one record list each (`apply_batch`,
    each in its transaction, as the applier's pool runs them)."""
    stream, claims = _claimed(db, 2)
    assert len(claims) == 2
    batches = [[Message(1, records.encode(part))] for part in made]
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


def test_direct_anonymous_event_and_claim_from_the_ingest_log(db, hooked, locked):
    """A v1 anonymous event committed alone (`POST /api/v1/events` is never published:
    a server's write with no batch scope, as in its careful pass) while an applier
    applies the partition holding the v1 identify that claims a-1."""
    ws = new_workspace(db).workspace_id
    stream, (claim,) = _claimed(db, 1)
    identify = [kinds.identify_v1(ws, Identifier("id", "c-1"), V1_CLAIM, NOW)]
    batch = [Message(1, records.encode(identify))]
    interleaving = hooked(MARKER)
    before = deadlocks(db)

    def work(conn: Connection, who: int) -> Any:
        if who == 0:
            event_service.track_anonymous(conn, ws, "a-1", V1_EVENT, NOW)
            outcome = None
        else:
            outcome = apply_batch(conn, stream, claim, batch)
        _applied(conn)
        return outcome

    results = race(db, interleaving, work)
    no_deadlock(results)
    assert results[0] is None and (results[1].held, results[1].applied) == (True, 1)
    assert deadlocks(db) == before
    _expect(db, ws, locked)


@pytest.mark.parametrize("preclaim", [False, True], ids=["arrival_order", "preclaimed"])
def test_anonymous_ids_of_a_writer_batch_are_locked_first(db, hooked, preclaim):
    """Two nodes' batches each log an anonymous event of one id and claim the other id
    (a-1, a-2 in opposite orders). Locked job by job as each use case starts, that
    deadlocks; locked at the batch's start, sorted (`anonymous_locks.preclaim`), the
    second waits. Either way every event ends with its claimer."""
    ws = new_workspace(db).workspace_id
    claim_a2 = people_service.parse_identify({"anonymous_id": "a-2"}, NOW)
    claim_a1 = parse_operation(V2_IDENTIFY, NOW)  # c-1's
    event_a2 = event_service.parse_event({"name": "Viewed"})
    batches = [
        [
            _anonymous_event(ws),
            Job(people_service.identify, (ws, Identifier("id", "c-2"), claim_a2, NOW), _future()),
        ],
        [
            Job(event_service.track_anonymous, (ws, "a-2", event_a2, NOW), _future()),
            Job(v2.apply_batch, (ws, [claim_a1], NOW), _future()),
        ],
    ]
    before = deadlocks(db)
    scope = wiring.batch_scope() if preclaim else None
    race_writers(db, hooked("pg_advisory_xact_lock"), scope, batches)
    deadlocked_unless(db, before, preclaim)
    assert _viewed(db, ws) == [("c-1", "a-1"), ("c-2", "a-2")]


# --- A merge carrying the secondary's anonymous id -----------------------------------------

STARTED = "SELECT 'anonymous-test: started'"


C1, C2 = Identifier("id", "c-1"), Identifier("id", "c-2")


@contextlib.contextmanager
def _in_turn(started: Any, conn: Connection, who: int) -> Iterator[None]:
    """Hold the second transaction (`who` 1) at its start until the first is done (not
    committed); then each, before its commit, until the other is done or waits for it
    (the `Interleaving`s of `STARTED` and of `MARKER`)."""
    started.enter(who, conn)
    if who == 1:
        raw.execute(conn, STARTED)
    yield
    if who == 0:
        raw.execute(conn, STARTED)
    _applied(conn)


def _merging(db: Any) -> int:
    """A workspace where c-2 holds a-1 and c-1 holds no anonymous id."""
    ws = new_workspace(db).workspace_id
    with db.writer.begin() as conn:
        for who, attributes in ((C1, {}), (C2, V1_CLAIM)):
            request = people_service.parse_identify(attributes, NOW)
            people_service.identify(conn, ws, who, request, NOW)
    return ws


@pytest.mark.parametrize("first", ["event", "merge"])
def test_anonymous_event_and_merge_carrying_its_id(db, hooked, locked, first):
    """c-2 holds a-1 and is merged into c-1 (`merge_customers`), which takes a-1 over,
    while a v1 anonymous event of a-1 is applied, each committed alone. Locked, the
    event ends c-1's in either order. Unlocked, an event applied first names c-2 and is
    deleted with it; one applied after the merge names c-2 too and fails its foreign
    key."""
    ws = _merging(db)
    work = [
        lambda conn: event_service.track_anonymous(conn, ws, "a-1", V1_EVENT, NOW),
        lambda conn: merge_people(conn, ws, C1, C2, NOW),
    ]
    if first == "merge":
        work.reverse()
    started, applied = hooked(STARTED), hooked(MARKER)
    before = deadlocks(db)

    def run(conn: Connection, who: int) -> Any:
        with _in_turn(started, conn, who):
            return work[who](conn)

    results = race(db, applied, run)
    no_deadlock(results)
    assert deadlocks(db) == before
    if locked:
        assert results == [None, None]
        assert _viewed(db, ws) == [("c-1", "a-1")]
    elif first == "event":
        assert results == [None, None] and _viewed(db, ws) == []
    else:
        assert results[0] is None and "foreign key" in str(results[1])
        assert _viewed(db, ws) == []


def test_anonymous_event_then_merge_in_two_writers(db, hooked, locked):
    """Two servers' writers, each with the batch scope `runtime.wiring` gives: one's
    batch logs a v1 anonymous event of a-1, the other's then merges c-2, holding a-1,
    into c-1. The merge's id is not in its job's arguments, so the batch scope takes
    nothing for it: the merge takes its own lock."""
    ws = _merging(db)
    batches = [
        [_anonymous_event(ws)],
        [Job(merge_people, (ws, C1, C2, NOW), _future())],
    ]
    started, applied = hooked(STARTED), hooked(MARKER)
    wired = wiring.batch_scope()
    before = deadlocks(db)

    @contextlib.contextmanager
    def scope(conn: Connection, batch: list[Job]) -> Iterator[None]:
        with _in_turn(started, conn, batches.index(batch)), wired(conn, batch):
            yield

    race_writers(db, applied, scope, batches)
    assert deadlocks(db) == before
    assert _viewed(db, ws) == ([("c-1", "a-1")] if locked else [])
