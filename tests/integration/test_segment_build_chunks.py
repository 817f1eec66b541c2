"""Segment builds a chunk of people per transaction (`membership.build_step`), on both
stores: the same members as a build in one transaction, resumable after a crash,
and right for people who change while it runs; so too the full rebuild of a time
window the refresh cannot follow person by person."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from tests.integration.test_segments_membership import members
from tidings.clock import FixedClock
from tidings.db.schema import events, people, segment_dirty, segments
from tidings.events import service as events_service
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.segments import membership
from tidings.segments.refresher import SegmentWorker

NOW = 1_800_000_000
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
PEOPLE = 30
CHUNK = 7  # 30 people: chunks of 7, 7, 7, 7 and the rest


@pytest.fixture(scope="module")
def db(isolated_db):
    """No other segment worker (the API test server's) may build these segments."""
    return isolated_db


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(membership, "BUILD_CHUNK", CHUNK)


def identify(tx, ws, who, plan, now=NOW):
    body = service.parse_identify({"plan": plan}, now)
    tx(service.identify, ws, classify(who), body, now)


def populate(tx, ws):
    """People p00..p29, every third one on the pro plan; their keys in order."""
    for n in range(PEOPLE):
        identify(tx, ws, f"p{n:02}", "pro" if n % 3 == 0 else "free")


def segment(tx, ws, name, conditions=PRO):
    body = {"segment": {"name": name, "conditions": conditions}}
    return tx(membership.create_segment, ws, body, NOW)["id"]


def transitions(query, segment_id):
    """(person, type) of each entry and exit, with how many times each was recorded."""

    def read(conn):
        rows = conn.execute(
            select(people.c.customer_id, events.c.type, func.count())
            .join(people, people.c.id == events.c.person_id)
            .where(events.c.name == str(segment_id), events.c.type.like("segment_%"))
            .group_by(people.c.customer_id, events.c.type)
            .order_by(people.c.customer_id, events.c.type)
        )
        return [tuple(row) for row in rows]

    return query(read)


def state(query, segment_id):
    def read(conn):
        columns = (segments.c.state, segments.c.progress, segments.c.build_cursor)
        return tuple(conn.execute(select(*columns).where(segments.c.id == segment_id)).one())

    return query(read)


def step(tx, ws, segment_id, now=NOW):
    return tx(membership.build_step, ws, segment_id, now)


def test_chunks_give_the_members_of_a_build_in_one_transaction(tx, query, workspace):
    ws = workspace.workspace_id
    populate(tx, ws)
    whole, chunked = segment(tx, ws, "whole"), segment(tx, ws, "chunked")
    tx(membership.build_segment, ws, whole, NOW)
    steps = [step(tx, ws, chunked)]
    assert state(query, chunked)[0] == "build" and state(query, chunked)[2] is not None
    while not steps[-1].finished:
        steps.append(step(tx, ws, chunked))
    assert len(steps) == 5
    assert sum((s.changes for s in steps), membership.Changes()) == membership.Changes(10, 0)
    assert members(query, chunked) == members(query, whole)
    assert len(members(query, whole)) == 10
    assert state(query, chunked) == ("finished", None, None)
    assert step(tx, ws, chunked) is None  # finished: nothing more to do
    assert [(who, kind, n) for who, kind, n in transitions(query, chunked)] == [
        (who, "segment_enter", 1) for who in members(query, whole)
    ]


def test_progress_grows_while_it_builds(tx, query, workspace):
    ws = workspace.workspace_id
    populate(tx, ws)
    seg = segment(tx, ws, "progress")
    shown = []
    while not step(tx, ws, seg).finished:
        shown.append(state(query, seg)[1])
    assert shown == sorted(shown) and 0 < shown[-1] < 100


def test_a_build_stopped_between_chunks_resumes(db, tx, query, workspace, monkeypatch):
    ws = workspace.workspace_id
    populate(tx, ws)
    whole, seg = segment(tx, ws, "whole"), segment(tx, ws, "resumed")
    tx(membership.build_segment, ws, whole, NOW)
    step(tx, ws, seg)
    step(tx, ws, seg)
    cursor = state(query, seg)[2]

    real_apply = membership._apply

    def crash(*args):
        real_apply(*args)  # written, then the process dies before the commit
        raise RuntimeError("killed")

    monkeypatch.setattr(membership, "_apply", crash)
    with pytest.raises(RuntimeError):
        step(tx, ws, seg)
    monkeypatch.setattr(membership, "_apply", real_apply)
    assert state(query, seg)[:1] == ("build",) and state(query, seg)[2] == cursor
    worker = SegmentWorker(db, FixedClock(NOW), time_window_every=3600, build_grace=0)
    while worker.run_once():
        pass
    assert members(query, seg) == members(query, whole)
    assert transitions(query, seg) == [(who, "segment_enter", 1) for who in members(query, whole)]


def test_a_changed_condition_starts_the_build_again(tx, query, workspace):
    ws = workspace.workspace_id
    populate(tx, ws)
    seg = segment(tx, ws, "changed")
    step(tx, ws, seg)
    step(tx, ws, seg)
    body = {"segment": {"conditions": {"not": PRO}}}
    tx(membership.update_segment, ws, seg, body, NOW)
    assert state(query, seg)[0] == "build_queued"
    while not step(tx, ws, seg).finished:
        pass
    assert len(members(query, seg)) == 20
    assert "p00" not in members(query, seg)


def test_people_changed_in_built_chunks_end_up_right(db, tx, query, workspace):
    """p00 (pro, in the first chunk) leaves and p01 (free, first chunk) joins while
    later chunks are still to build: their marks wait for the build, then each is
    re-evaluated once, with one activity each."""
    ws = workspace.workspace_id
    populate(tx, ws)
    seg = segment(tx, ws, "moving")
    worker = SegmentWorker(db, FixedClock(NOW + 10), time_window_every=3600, build_grace=0)
    step(tx, ws, seg)
    step(tx, ws, seg)
    identify(tx, ws, "p00", "free", NOW + 5)
    identify(tx, ws, "p01", "pro", NOW + 5)
    identify(tx, ws, "p29", "pro", NOW + 5)  # in a chunk still to build
    worker.run_once()  # a third chunk, then the marks: they wait
    assert state(query, seg)[0] == "build"
    assert _marks(query, ws) == 3
    while worker.run_once():
        pass
    assert _marks(query, ws) == 0
    expected = sorted({f"p{n:02}" for n in range(0, PEOPLE, 3)} - {"p00"} | {"p01", "p29"})
    assert members(query, seg) == expected
    recorded = transitions(query, seg)
    assert [row for row in recorded if row[0] in ("p00", "p01")] == [
        ("p00", "segment_enter", 1),
        ("p00", "segment_exit", 1),
        ("p01", "segment_enter", 1),
    ]
    assert all(n == 1 for _, _, n in recorded)


def _marks(query, ws):
    return query(
        lambda conn: conn.execute(
            select(func.count()).where(segment_dirty.c.workspace_id == ws)
        ).scalar_one()
    )


def test_two_workers_share_a_build(db, tx, query, workspace):
    """Each chunk is taken by one of them (PostgreSQL: the other skips the locked
    segment row; SQLite: one writer), and each entry is recorded once."""
    ws = workspace.workspace_id
    populate(tx, ws)
    whole, seg = segment(tx, ws, "whole"), segment(tx, ws, "shared")
    tx(membership.build_segment, ws, whole, NOW)
    workers = [
        SegmentWorker(db, FixedClock(NOW), time_window_every=3600, build_grace=0) for _ in range(2)
    ]

    def drain(worker):
        while worker.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert state(query, seg) == ("finished", None, None)
    assert members(query, seg) == members(query, whole)
    assert transitions(query, seg) == [(who, "segment_enter", 1) for who in members(query, whole)]


DAY = 86400
LATER = NOW + 3 * DAY
DUE = {"field": "due", "operator": "within_last", "value": {"days": 7}}
RENEWING = {"event": {"name": "renewal", "where": [DUE]}}  # a window `windows.crossed` refuses


def renew(tx, ws, who, due):
    body = {"name": "renewal", "timestamp": NOW - 100 * DAY, "data": {"due": due}}
    tx(events_service.track, ws, classify(who), events_service.parse_event(body), NOW)


def renewing(tx, ws):
    """p00..p29 each with a renewal due 6 days before NOW to 3 days after (n % 10):
    built at NOW, those with n % 10 in 0..6 are in; at LATER, those in 2..9."""
    populate(tx, ws)
    for n in range(PEOPLE):
        renew(tx, ws, f"p{n:02}", NOW + (n % 10 - 6) * DAY)
    seg = segment(tx, ws, "renewing", RENEWING)
    tx(membership.build_segment, ws, seg, NOW)
    return seg


def expected_at_later():
    return [f"p{n:02}" for n in range(PEOPLE) if n % 10 >= 2]


def test_a_window_rebuild_goes_in_chunks_like_a_build(tx, query, workspace, other_workspace):
    """The time-window refresh of a window it cannot follow queues a build; its chunks
    give the members and activities the one-transaction rebuild gave."""
    whole = renewing(tx, workspace.workspace_id)
    ws = other_workspace.workspace_id
    seg = renewing(tx, ws)
    tx(membership.build_segment, workspace.workspace_id, whole, LATER)  # the old way
    assert tx(membership.refresh_time_windows, ws, LATER) == [seg]
    assert state(query, seg) == ("build_queued", 0, None)
    before = members(query, seg)
    assert before == [f"p{n:02}" for n in range(PEOPLE) if n % 10 <= 6]
    steps = [tx(membership.build_step, ws, seg, LATER, CHUNK)]
    assert state(query, seg)[0] == "build"
    cursor = state(query, seg)[2]
    assert tx(membership.refresh_time_windows, ws, LATER + 60) == []  # waits for the build
    assert state(query, seg)[0] == "build" and state(query, seg)[2] == cursor
    while not steps[-1].finished:
        steps.append(tx(membership.build_step, ws, seg, LATER, CHUNK))
    assert len(steps) == 5
    assert sum((s.changes for s in steps), membership.Changes()) == membership.Changes(9, 6)
    assert members(query, seg) == members(query, whole) == expected_at_later()
    assert transitions(query, seg) == transitions(query, whole)
    assert _stamps(query, seg) == _stamps(query, whole) == [NOW, LATER]
    assert state(query, seg) == ("finished", None, None)
    assert query(lambda conn: _built_at(conn, seg)) == LATER


def _stamps(query, segment_id):
    def read(conn):
        where = (events.c.name == str(segment_id), events.c.type.like("segment_%"))
        rows = conn.execute(select(events.c.timestamp).where(*where).distinct())
        return sorted(rows.scalars())

    return query(read)


def _built_at(conn, segment_id):
    return conn.execute(select(segments.c.built_at).where(segments.c.id == segment_id)).scalar()


def test_a_change_between_chunks_of_a_window_rebuild_is_not_lost(db, tx, query, workspace):
    """p00 left in the first chunk, then renews: their mark waits for the rebuild and
    they enter again. p20 would leave in a chunk still to build, but renews first: it
    stays, with no activity. Each activity is recorded once."""
    ws = workspace.workspace_id
    seg = renewing(tx, ws)
    worker = SegmentWorker(
        db, FixedClock(LATER), time_window_every=3600, build_grace=0, build_chunk=CHUNK
    )
    assert tx(membership.refresh_time_windows, ws, LATER) == [seg]
    tx(membership.build_step, ws, seg, LATER, CHUNK)
    tx(membership.build_step, ws, seg, LATER, CHUNK)  # p00..p13 done
    assert "p00" not in members(query, seg)
    renew(tx, ws, "p00", LATER)
    renew(tx, ws, "p20", LATER)
    worker.run_once()  # a third chunk, the marks wait, the refresh skips a build
    assert state(query, seg)[0] == "build"
    assert _marks(query, ws) == 2
    while worker.run_once():
        pass
    assert _marks(query, ws) == 0
    assert members(query, seg) == sorted({*expected_at_later(), "p00", "p20"})
    recorded = transitions(query, seg)
    assert [row for row in recorded if row[0] in ("p00", "p20")] == [
        ("p00", "segment_enter", 2),
        ("p00", "segment_exit", 1),
        ("p20", "segment_enter", 1),
    ]
    assert [row for row in recorded if row[0] == "p10"] == [
        ("p10", "segment_enter", 1),
        ("p10", "segment_exit", 1),
    ]
