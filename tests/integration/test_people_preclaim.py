"""The writer's batch scope finds or creates its queued events' people first
(`events.bulk.preclaim_people`) and makes its segment marks at its end
(`segments.dirty.deferred`): what a batch stores is what the runs store on
their own.

Each test commits the same batches twice through a `Writer`, once without a
scope and once with `runtime.wiring.batch_scope()`, each time on fresh
workspaces (each with a dynamic segment, so that changes are marked), and
compares the people, events and marks stored.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from tests.conftest import new_workspace
from tidings.db.schema import events, people, segment_dirty
from tidings.db.writer import BatchScope, Job, Writer
from tidings.events import bulk as bulk_events
from tidings.people import service
from tidings.people.identifiers import Identifier
from tidings.pipelines import ingest
from tidings.runtime import wiring
from tidings.segments import membership
from tidings.track_v2 import apply

NOW = 1_800_000_000
WORKSPACES: list[int] = []  # the workspace ids of the current run, by slot


def _job(fn: Any, *args: Any, bulk: bool = True) -> Job:
    return Job(fn, args, concurrent.futures.Future(), bulk)


def _v1(kind: str, value: str, dedup_id: str | None = None) -> bulk_events.Plain:
    return (kind, value, "bought", "event", "{}", NOW, dedup_id)


def _cdp(user: str | None, anonymous: str | None, message_id: str | None) -> Any:
    return ("track", user, anonymous, message_id, NOW, "bought", "{}")


def _workspace(db: Any) -> int:
    ws = new_workspace(db).workspace_id
    with db.writer.begin() as conn:
        pro = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
        membership.create_segment(conn, ws, {"segment": {"name": "pro", "conditions": pro}}, NOW)
    return ws


def _stored(db: Any) -> list[tuple[list[Any], int, list[Any]]]:
    """Per workspace slot: its people (id, email, created), its "bought" events, and the
    people marked (by id or email)."""
    found = []
    with db.reader.connect() as conn:
        for ws in WORKSPACES:
            who = select(people.c.customer_id, people.c.email, people.c.created_at)
            rows = _sorted(conn.execute(who.where(people.c.workspace_id == ws)))
            bought = select(events.c.id).where(events.c.workspace_id == ws)
            count = len(conn.execute(bought.where(events.c.name == "bought")).all())
            marked = (
                select(people.c.customer_id, people.c.email)
                .join(segment_dirty, segment_dirty.c.person_id == people.c.id)
                .where(segment_dirty.c.workspace_id == ws)
            )
            found.append((rows, count, _sorted(conn.execute(marked))))
    return found


def _sorted(rows: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(row) for row in rows), key=lambda row: [str(v) for v in row])


def _same_either_way(
    db: Any, before: Callable[[Any], None], batches: Callable[[], list[list[Job]]]
) -> list[tuple[list[Any], int, list[Any]]]:
    seen = []
    scope: BatchScope | None
    for scope in (None, wiring.batch_scope()):
        WORKSPACES[:] = [_workspace(db) for _ in range(2)]
        with db.writer.begin() as conn:
            before(conn)
        writer = Writer(db.writer, batch_scope=scope)
        for batch in batches():
            writer.commit(batch)
            assert all(job.future.exception() is None for job in batch)
        writer.close()
        seen.append(_stored(db))
    assert seen[1] == seen[0]
    return seen[1]


def test_people_first_named_across_runs_and_workspaces(db):
    """Dropped events name nobody: a repeated id (in an earlier commit, in the batch, in a
    Pipelines message logged anonymously), a suppressed identifier."""

    def before(conn: Any) -> None:
        service.suppress(conn, WORKSPACES[0], Identifier("id", "blocked"), NOW)

    def batches() -> list[list[Job]]:
        w0, w1 = WORKSPACES
        anonymous_first = [_cdp(None, "x", "m1"), _cdp("c", None, "m1")]  # c's is a repeat
        return [
            [_job(bulk_events.track_queued, (w0, _v1("id", "old"), NOW))],  # an earlier commit
            [
                _job(bulk_events.track_queued, (w0, _v1("id", "a", "e1"), NOW)),
                _job(bulk_events.track_queued, (w0, _v1("email", "B@x.io", "e2"), NOW)),
                _job(bulk_events.track_queued, (w1, _v1("id", "a", "e1"), NOW)),
                _job(bulk_events.track_queued, (w0, _v1("id", "blocked"), NOW)),
                _job(ingest.ingest_queued, (w0, anonymous_first, NOW)),
                _job(apply.apply_queued, (w0, [_v1("id", "d", "e1"), _v1("email", "b@x.io")], NOW)),
                _job(ingest.ingest_queued, (w1, [_cdp("c", None, "m1"), _cdp("e", None, "")], NOW)),
                _job(apply.apply_queued, (w1, [_v1("id", "old"), _v1("id", "f", "e9")], NOW)),
            ],
            [_job(bulk_events.track_queued, (w1, _v1("id", "g", "e9"), NOW))],  # seen: nobody
        ]  # fmt: skip

    stored = _same_either_way(db, before, batches)
    assert [[(row[0], row[1]) for row in people] for people, _, _ in stored] == [
        [(None, "b@x.io"), ("a", None), ("old", None)],
        [("a", None), ("c", None), ("e", None), ("f", None), ("old", None)],
    ]
    assert [count for _, count, _ in stored] == [5, 5]
    assert [marks for _, _, marks in stored] == [
        [(None, "b@x.io"), ("a", None), ("old", None)],
        [("a", None), ("c", None), ("e", None), ("f", None), ("old", None)],
    ]


def test_a_person_removed_later_in_the_batch_is_not_marked(db):
    """A job after the runs deletes a person they marked: the mark goes with them."""

    def batches() -> list[list[Job]]:
        w0, _ = WORKSPACES
        return [
            [
                _job(bulk_events.track_queued, (w0, _v1("id", "gone"), NOW)),
                _job(bulk_events.track_queued, (w0, _v1("id", "kept"), NOW)),
                _job(service.delete_person, w0, Identifier("id", "gone"), bulk=False),
            ]
        ]

    stored = _same_either_way(db, lambda conn: None, batches)
    assert stored[0] == ([("kept", None, NOW)], 1, [("kept", None)])
