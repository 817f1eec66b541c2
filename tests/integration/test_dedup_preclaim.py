"""The writer's batch takes its dedup keys first, in one order (`events.dedup.preclaim`):
the answers are the ones the old path (each run asking as it goes) gives.

Each test runs the same batch twice through a `Writer`, once without the
scope and once with it, each time on fresh workspaces, and compares what
the runs saw and stored.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from tests.conftest import new_workspace
from tidings.db.schema import event_dedup, events
from tidings.db.writer import BatchScope, Job, Writer
from tidings.errors import ApiError
from tidings.events import bulk as bulk_events
from tidings.events import dedup
from tidings.pipelines import ingest
from tidings.runtime import wiring
from tidings.track_v2 import apply

NOW = 1_800_000_000

# A queued item of the asking bulk functions below: (workspace slot, keys, refuse).
Asked = tuple[int, list[str], bool]
ANSWERS: list[tuple[str, int, list[str]]] = []  # (function, workspace slot, new keys asked)
WORKSPACES: list[int] = []  # the workspace ids of the current run, by slot


def _asker(name: str) -> Callable[[Any, list[Asked]], None]:
    def ask(conn: Any, items: list[Asked]) -> None:
        for slot, keys, refuse in items:
            new = dedup.record_keys(conn, WORKSPACES[slot], keys, NOW)
            ANSWERS.append((name, slot, sorted(new)))
            if refuse:
                raise ApiError(400, "refused after asking")

    ask.__name__ = name
    return ask


ask_a = _asker("ask_a")
ask_b = _asker("ask_b")


def _one_at_a_time(conn: Any, slot: int, key: str) -> bool:
    """A job that is not bulk: `events.service.track`'s way of asking."""
    return dedup.first_sighting(conn, WORKSPACES[slot], key, NOW)


def _claims(item: Asked) -> list[dedup.Claim]:
    slot, keys, _ = item
    return [(WORKSPACES[slot], key, NOW) for key in keys]


SCOPE = dedup.preclaim({ask_a: _claims, ask_b: _claims})


def _job(fn: Any, *args: Any, bulk: bool = True) -> Job:
    return Job(fn, args, concurrent.futures.Future(), bulk)


def _run(db: Any, scope: BatchScope | None, batches: list[list[Job]]) -> tuple[list[Any], ...]:
    """Commit the batches on two fresh workspaces; the answers asked, each job's outcome,
    and the keys stored per workspace slot."""
    WORKSPACES[:] = [new_workspace(db).workspace_id for _ in range(2)]
    ANSWERS.clear()
    writer = Writer(db.writer, batch_scope=scope)
    outcomes = []
    for batch in batches:
        fresh = [Job(job.fn, job.args, concurrent.futures.Future(), job.bulk) for job in batch]
        writer.commit(fresh)
        for job in fresh:
            error = job.future.exception()
            outcomes.append(type(error).__name__ if error else job.future.result())
    writer.close()
    stored = []
    with db.reader.connect() as conn:
        for ws in WORKSPACES:
            rows = conn.execute(select(event_dedup.c.key).where(event_dedup.c.workspace_id == ws))
            stored.append(sorted(rows.scalars()))
    return list(ANSWERS), outcomes, stored


def _same_either_way(db: Any, batches: list[list[Job]]) -> tuple[list[Any], ...]:
    old = _run(db, None, batches)
    new = _run(db, SCOPE, batches)
    assert new == old
    return new


def test_keys_resent_within_a_job_across_runs_and_workspaces(db):
    batches = [
        [
            _job(ask_a, (0, ["k1", "k2", "k1"], False)),
            _job(ask_a, (1, ["k1"], False)),  # another workspace: new there too
            _job(ask_b, (0, ["k2", "k3"], False)),  # a later run: k2 already seen
            _job(_one_at_a_time, 0, "k3", bulk=False),  # a job that is not bulk
            _job(_one_at_a_time, 1, "k9", bulk=False),  # not claimed: asked as it runs
            _job(ask_a, (0, ["k3", "k4"], False)),
            _job(ask_b, (1, ["k9", "k1", "k5"], False)),
        ],
        [  # the next commit sees the keys of the first
            _job(ask_b, (0, ["k4", "k6"], False)),
            _job(ask_a, (1, ["k5", "k6"], False)),
        ],
    ]
    answers, outcomes, stored = _same_either_way(db, batches)
    assert answers == [
        ("ask_a", 0, ["k1", "k2"]),
        ("ask_a", 1, ["k1"]),
        ("ask_b", 0, ["k3"]),
        ("ask_a", 0, ["k4"]),
        ("ask_b", 1, ["k5"]),
        ("ask_b", 0, ["k6"]),
        ("ask_a", 1, ["k6"]),
    ]
    assert outcomes[3:5] == [False, True]
    assert stored == [["k1", "k2", "k3", "k4", "k6"], ["k1", "k5", "k6", "k9"]]


def test_a_job_refused_in_the_careful_pass_records_no_key(db):
    batch = [
        _job(ask_a, (0, ["r1", "r2"], False)),
        _job(ask_a, (0, ["r2", "r3"], True)),  # refused: its r3 is not kept
        _job(ask_a, (1, ["r3"], False)),
        _job(ask_b, (0, ["r3", "r4"], False)),  # r3 is new again: the refusal kept none
    ]
    answers, outcomes, stored = _same_either_way(db, [batch])
    assert answers == [
        ("ask_a", 0, ["r1", "r2"]),  # the optimistic pass, undone
        ("ask_a", 0, ["r3"]),
        ("ask_a", 0, ["r1", "r2"]),  # the careful pass: the run in a savepoint, undone
        ("ask_a", 0, ["r3"]),
        ("ask_a", 0, ["r1", "r2"]),  # then each job in a savepoint of its own
        ("ask_a", 0, ["r3"]),
        ("ask_a", 1, ["r3"]),
        ("ask_b", 0, ["r3", "r4"]),
    ]
    assert outcomes == [None, "ApiError", None, None]
    assert stored == [["r1", "r2", "r3", "r4"], ["r3"]]


def _plain_v1(ident: str, dedup_id: str | None) -> bulk_events.Plain:
    return ("id", ident, "bought", "event", "{}", NOW, dedup_id)


def _plain_cdp(user: str, message_id: str | None) -> Any:
    return ("track", user, None, message_id, NOW, "bought", "{}")


def _stored(db: Any) -> list[tuple[int, list[str]]]:
    """Per workspace: its events named "bought" (not those of the people made), and its
    dedup keys."""
    found = []
    with db.reader.connect() as conn:
        for ws in WORKSPACES:
            count = (
                select(func.count())
                .select_from(events)
                .where(events.c.workspace_id == ws, events.c.name == "bought")
            )
            keys = select(event_dedup.c.key).where(event_dedup.c.workspace_id == ws)
            found.append((conn.scalar(count) or 0, sorted(conn.execute(keys).scalars())))
    return found


def test_the_queued_bulk_functions_record_the_same_events(db):
    """Track v1, Pipelines and Track v2 runs in one batch, re-sending ids across runs."""

    def batch() -> list[Job]:
        w0, w1 = WORKSPACES
        return [
            _job(bulk_events.track_queued, (w0, _plain_v1("p1", "e1"), NOW)),
            _job(bulk_events.track_queued, (w0, _plain_v1("p1", "e2"), NOW)),
            _job(bulk_events.track_queued, (w1, _plain_v1("p1", "e1"), NOW)),
            _job(ingest.ingest_queued, (w0, [_plain_cdp("p1", "m1"), _plain_cdp("p2", "m1")], NOW)),
            _job(apply.apply_queued, (w0, [_plain_v1("p2", "e2"), _plain_v1("p2", "e3")], NOW)),
            _job(bulk_events.track_queued, (w0, _plain_v1("p3", "e3"), NOW)),
            _job(bulk_events.track_queued, (w0, _plain_v1("p3", None), NOW)),
            _job(ingest.ingest_queued, (w1, [_plain_cdp("p1", "m1"), _plain_cdp("p1", None)], NOW)),
            _job(apply.apply_queued, (w1, [_plain_v1("p2", "e1"), _plain_v1("p2", "e4")], NOW)),
        ]

    seen = []
    for scope in (None, wiring.batch_scope()):
        WORKSPACES[:] = [new_workspace(db).workspace_id for _ in range(2)]
        writer = Writer(db.writer, batch_scope=scope)
        jobs = batch()
        writer.commit(jobs)
        writer.close()
        assert all(job.future.exception() is None for job in jobs)
        seen.append(_stored(db))
    assert seen[0] == seen[1]
    # Workspace 0: e1, e2, m1, e3 and the one without an id; workspace 1: e1, m1, the
    # one without an id, e4.
    assert seen[1] == [
        (5, ["cdp:m1", "event:e1", "event:e2", "event:e3"]),
        (4, ["cdp:m1", "event:e1", "event:e4"]),
    ]
