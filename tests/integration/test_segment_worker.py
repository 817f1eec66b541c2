"""The segment worker keeps membership current after each kind of change."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tidings.clock import FixedClock
from tidings.db.schema import events, segment_dirty, segment_members
from tidings.events import service as events_service
from tidings.people import devices, service
from tidings.people.identifiers import classify
from tidings.segments import membership
from tidings.segments import service as segments
from tidings.segments.refresher import SegmentWorker

DAY = 86_400


@pytest.fixture(scope="module")
def db(isolated_db):
    """A database no other segment worker (the API test server's) looks at."""
    return isolated_db


def _identify(tx, ws, who, attrs, now):
    tx(service.identify, ws, classify(who), service.parse_identify(attrs, now), now)


def _segment(tx, ws, conditions, now):
    body = {"segment": {"name": f"s{now}", "conditions": conditions}}
    return tx(membership.create_segment, ws, body, now)["id"]


def _members(query, segment_id):
    def read(conn):
        rows = conn.execute(
            select(segment_members.c.person_id).where(segment_members.c.segment_id == segment_id)
        )
        return sorted(rows.scalars())

    return query(read)


def _activity_types(query, ws):
    def read(conn):
        rows = conn.execute(
            select(events.c.type, events.c.timestamp)
            .where(events.c.workspace_id == ws, events.c.type.like("segment_%"))
            .order_by(events.c.id)
        )
        return [tuple(r) for r in rows]

    return query(read)


def _drain(worker):
    while worker.run_once():
        pass


def test_builds_then_follows_attribute_changes(db, tx, query, workspace):
    ws, clock = workspace.workspace_id, FixedClock(1_800_000_000)
    now = int(clock.now())
    worker = SegmentWorker(db, clock, time_window_every=3600, build_grace=0)
    _identify(tx, ws, "before", {"plan": "pro"}, now)
    segment_id = _segment(
        tx, ws, {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}, now
    )
    _drain(worker)
    assert len(_members(query, segment_id)) == 1
    _identify(tx, ws, "after", {"plan": "pro"}, now + 1)
    _identify(tx, ws, "before", {"plan": "free"}, now + 2)
    _drain(worker)
    assert len(_members(query, segment_id)) == 1
    assert [t for t, _ in _activity_types(query, ws)] == [
        "segment_enter",
        "segment_enter",
        "segment_exit",
    ]
    assert query(lambda conn: conn.execute(select(segment_dirty)).all()) == []


def test_events_and_devices_move_people_in(db, tx, query, workspace):
    ws, clock = workspace.workspace_id, FixedClock(1_800_000_000)
    now = int(clock.now())
    worker = SegmentWorker(db, clock, time_window_every=3600, build_grace=0)
    bought = _segment(tx, ws, {"event": {"name": "purchase"}}, now)
    on_ios = _segment(tx, ws, {"device": {"platform": "ios"}}, now)
    _drain(worker)
    event = events_service.parse_event({"name": "purchase"}).received(now)
    tx(events_service.track, ws, classify("buyer"), event, now)
    device = devices.parse_device({"id": "tok", "platform": "ios"}, token_key="id")
    tx(devices.add_to, ws, classify("phone"), device, now)
    _drain(worker)
    assert len(_members(query, bought)) == 1
    assert len(_members(query, on_ios)) == 1


def test_people_leave_a_time_window_without_new_events(db, tx, query, workspace):
    ws, clock = workspace.workspace_id, FixedClock(1_800_000_000)
    now = int(clock.now())
    worker = SegmentWorker(db, clock, time_window_every=0, build_grace=0)
    recent = {"event": {"name": "purchase", "within_last": {"days": 30}}}
    segment_id = _segment(tx, ws, recent, now)
    event = events_service.parse_event({"name": "purchase"}).received(now)
    tx(events_service.track, ws, classify("buyer"), event, now)
    _drain(worker)
    assert len(_members(query, segment_id)) == 1
    clock.advance(31 * DAY)
    worker.run_once()
    assert _members(query, segment_id) == []
    assert _activity_types(query, ws)[-1] == ("segment_exit", now + 31 * DAY)


def test_a_manual_membership_change_reaches_segments_built_on_it(db, tx, query, workspace):
    ws, clock = workspace.workspace_id, FixedClock(1_800_000_000)
    now = int(clock.now())
    worker = SegmentWorker(db, clock, time_window_every=3600, build_grace=0)
    manual = tx(segments.create_manual, ws, {"segment": {"name": "hand-picked"}}, now)["id"]
    derived = _segment(tx, ws, {"segment": {"id": manual}}, now)
    _identify(tx, ws, "picked", {"plan": "x"}, now)
    _drain(worker)
    tx(segments.change_members, ws, manual, "id", ["picked"], now, True)
    _drain(worker)
    assert len(_members(query, derived)) == 1
    tx(segments.change_members, ws, manual, "id", ["picked"], now, False)
    _drain(worker)
    assert _members(query, derived) == []


def test_builds_wait_out_the_grace_period(db, tx, query, workspace):
    ws, clock = workspace.workspace_id, FixedClock(1_800_000_000)
    now = int(clock.now())
    worker = SegmentWorker(db, clock, time_window_every=3600, build_grace=2)
    _identify(tx, ws, "graced", {"plan": "pro"}, now)
    segment_id = _segment(
        tx, ws, {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}, now
    )
    _drain(worker)
    assert _members(query, segment_id) == []
    clock.advance(2)
    _drain(worker)
    assert len(_members(query, segment_id)) == 1


def test_no_marks_in_a_workspace_without_data_driven_segments(db, tx, query, workspace):
    now = 1_800_000_000
    _identify(tx, workspace.workspace_id, "unwatched", {"plan": "pro"}, now)
    marks = query(
        lambda conn: conn.execute(
            select(segment_dirty).where(segment_dirty.c.workspace_id == workspace.workspace_id)
        ).all()
    )
    assert marks == []


def test_marks_wait_for_a_queued_build_on_postgresql(db, tx, query, workspace):
    """A build may run in another worker's transaction that predates a change; the
    change's mark must outlive the build, or the segment would never see it."""
    ws, clock = workspace.workspace_id, FixedClock(1_800_000_000)
    now = int(clock.now())
    pro = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    first = _segment(tx, ws, pro, now)
    worker = SegmentWorker(db, clock, time_window_every=3600, build_grace=2)
    clock.advance(2)
    _drain(worker)  # `first` is finished
    second = _segment(tx, ws, pro, int(clock.now()))  # queued: building waits 2 s
    _identify(tx, ws, "late", {"plan": "pro"}, int(clock.now()))
    _drain(worker)

    def marks(conn):
        query_ = select(segment_dirty.c.person_id).where(segment_dirty.c.workspace_id == ws)
        return conn.execute(query_).all()

    if db.is_sqlite:  # one writer: nothing to wait for
        assert query(marks) == [] and len(_members(query, first)) == 1
        return
    assert len(query(marks)) == 1 and _members(query, first) == []
    clock.advance(2)
    _drain(worker)  # builds `second`, then takes the mark
    assert query(marks) == []
    assert len(_members(query, first)) == 1 and len(_members(query, second)) == 1
