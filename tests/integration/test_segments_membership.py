"""Dynamic segment membership on both stores: builds, refreshes, time windows, activities."""

from __future__ import annotations

import time
import uuid

import msgspec
import pytest
from sqlalchemy import func, insert, select

from tests.conftest import new_workspace
from tidings.attributes import render
from tidings.db.schema import attributes, events, people, segment_members
from tidings.db.schema import segments as segment_table
from tidings.errors import ApiError
from tidings.events import service as events_service
from tidings.people import service, store
from tidings.people.identifiers import classify
from tidings.segments import membership
from tidings.segments import service as segments
from tidings.segments.conditions import parse

NOW = 1_700_000_000


@pytest.fixture(scope="module")
def db(isolated_db):
    """These tests run the clock at NOW (2023); see `isolated_db`."""
    return isolated_db


DAY = 86400
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
RECENT_BUYER = {"event": {"name": "buy", "within_last": {"days": 30}}}


def identify(tx, ws, raw, attrs, now=NOW):
    body = {"email": f"{raw}@x.test", **attrs}
    tx(service.identify, ws, classify(raw), service.parse_identify(body, now), now)
    return pk_of(tx, ws, raw)


def track(tx, ws, raw, name, timestamp):
    body = {"name": name, "timestamp": timestamp}
    tx(events_service.track, ws, classify(raw), events_service.parse_event(body), NOW)


def pk_of(tx, ws, raw):
    return tx(store.find, ws, classify(raw)).pk


def dynamic(tx, ws, conditions, name="Seg"):
    body = {"segment": {"name": name, "conditions": conditions}}
    return tx(membership.create_segment, ws, body, NOW)["id"]


def members(query, segment_id):
    def read(conn):
        rows = conn.execute(
            select(people.c.customer_id)
            .join(segment_members, segment_members.c.person_id == people.c.id)
            .where(segment_members.c.segment_id == segment_id)
            .order_by(people.c.customer_id)
        )
        return list(rows.scalars())

    return query(read)


def activities(query, ws, kind):
    def read(conn):
        rows = conn.execute(
            select(people.c.customer_id, events.c.name, events.c.timestamp, events.c.data)
            .join(people, people.c.id == events.c.person_id)
            .where(events.c.workspace_id == ws, events.c.type == kind)
            .order_by(events.c.id)
        )
        return [(c, n, t, msgspec.json.decode(d)) for c, n, t, d in rows]

    return query(read)


def test_build_enters_matching_people_with_activities(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {"plan": "pro"})
    identify(tx, ws, "bob", {"plan": "free"})
    seg = dynamic(tx, ws, PRO, "Pros")
    assert tx(segments.get, ws, seg)["state"] == "build_queued"
    assert tx(membership.build_segment, ws, seg, NOW + 5) == membership.Changes(1, 0)
    assert members(query, seg) == ["ann"]
    shown = tx(segments.get, ws, seg)
    assert (shown["state"], shown["progress"], shown["type"]) == ("finished", None, "dynamic")
    assert shown["conditions"] == PRO
    data = {"segment_id": seg, "segment_name": "Pros"}
    assert activities(query, ws, "segment_enter") == [("ann", str(seg), NOW + 5, data)]
    # A second build changes nothing and records nothing.
    assert tx(membership.build_segment, ws, seg, NOW + 6) == membership.Changes(0, 0)
    assert len(activities(query, ws, "segment_enter")) == 1


def test_refresh_after_identify_and_event_changes(tx, query, workspace):
    ws = workspace.workspace_id
    ann = identify(tx, ws, "ann", {"plan": "pro"})
    bob = identify(tx, ws, "bob", {"plan": "free"})
    pros = dynamic(tx, ws, PRO, "Pros")
    buyers = dynamic(tx, ws, RECENT_BUYER, "Buyers")
    tx(membership.build_segment, ws, pros, NOW)
    tx(membership.build_segment, ws, buyers, NOW)
    identify(tx, ws, "ann", {"plan": "free"})
    identify(tx, ws, "bob", {"plan": "pro"})
    track(tx, ws, "bob", "buy", NOW)
    changes = tx(membership.refresh_people, ws, [ann, bob], NOW + 10)
    assert changes == membership.Changes(2, 1)
    assert members(query, pros) == ["bob"]
    assert members(query, buyers) == ["bob"]
    exits = activities(query, ws, "segment_exit")
    assert exits == [("ann", str(pros), NOW + 10, {"segment_id": pros, "segment_name": "Pros"})]


def test_leaves_when_the_time_window_slides_past(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {})
    identify(tx, ws, "bob", {})
    track(tx, ws, "ann", "buy", NOW - 29 * DAY)
    track(tx, ws, "bob", "buy", NOW - DAY)
    buyers = dynamic(tx, ws, RECENT_BUYER)
    pros = dynamic(tx, ws, PRO)
    tx(membership.build_segment, ws, buyers, NOW)
    tx(membership.build_segment, ws, pros, NOW)
    assert members(query, buyers) == ["ann", "bob"]
    later = NOW + 2 * DAY
    assert tx(membership.refresh_time_windows, ws, later) == [buyers]
    assert members(query, buyers) == ["bob"]
    exits = activities(query, ws, "segment_exit")
    assert [(who, when) for who, _, when, _ in exits] == [("ann", later)]


def test_segments_referring_to_a_segment_follow_it(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {})
    track(tx, ws, "ann", "buy", NOW - 29 * DAY)
    buyers = dynamic(tx, ws, RECENT_BUYER)
    lapsed = dynamic(tx, ws, {"not": {"segment": {"id": buyers}}})
    tx(membership.build_segment, ws, buyers, NOW)
    tx(membership.build_segment, ws, lapsed, NOW)
    assert members(query, lapsed) == []
    assert tx(membership.refresh_time_windows, ws, NOW + 2 * DAY) == [buyers]
    assert members(query, lapsed) == ["ann"]


def finish_builds(tx, ws, now):
    """Run `build_step` over the workspace's building segments until none has work."""

    def building(conn):
        query = select(segment_table.c.id).where(
            segment_table.c.workspace_id == ws, segment_table.c.state.in_(membership.BUILDING)
        )
        return list(conn.execute(query.order_by(segment_table.c.id)).scalars())

    while pending := tx(building):
        assert any([tx(membership.build_step, ws, seg, now) for seg in pending])


def test_segments_referring_to_a_rebuilt_segment_follow_it(tx, query, workspace):
    """A window on event data is built again; a segment referring to it is built after it."""
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {})
    body = {"name": "renewal", "timestamp": NOW - 100 * DAY, "data": {"due": NOW - 6 * DAY}}
    tx(events_service.track, ws, classify("ann"), events_service.parse_event(body), NOW)
    due = {"field": "due", "operator": "within_last", "value": {"days": 7}}
    lapsed = dynamic(tx, ws, {"not": {"segment": {"id": 10**9}}})  # the lower id
    renewals = dynamic(tx, ws, {"event": {"name": "renewal", "where": [due]}})
    conditions = {"segment": {"conditions": {"not": {"segment": {"id": renewals}}}}}
    tx(membership.update_segment, ws, lapsed, conditions, NOW)
    tx(membership.build_segment, ws, renewals, NOW)
    tx(membership.build_segment, ws, lapsed, NOW)
    assert members(query, lapsed) == []
    later = NOW + 2 * DAY
    assert tx(membership.refresh_time_windows, ws, later) == [lapsed, renewals]
    assert tx(membership.build_step, ws, lapsed, later) is None  # waits for renewals
    finish_builds(tx, ws, later)
    assert members(query, renewals) == []
    assert members(query, lapsed) == ["ann"]


def test_refresh_visits_referenced_segments_first(tx, query, workspace):
    ws = workspace.workspace_id
    ann = identify(tx, ws, "ann", {"plan": "free"})
    first = dynamic(tx, ws, PRO)
    pros = dynamic(tx, ws, PRO)
    # The older segment refers to the newer one.
    tx(
        membership.update_segment,
        ws,
        first,
        {"segment": {"conditions": {"segment": {"id": pros}}}},
        NOW,
    )
    for seg in (pros, first):
        tx(membership.build_segment, ws, seg, NOW)
    identify(tx, ws, "ann", {"plan": "pro"})
    tx(membership.refresh_people, ws, [ann], NOW)
    assert members(query, first) == ["ann"]


def test_manual_and_queued_segments_are_untouched(tx, query, workspace):
    ws = workspace.workspace_id
    ann = identify(tx, ws, "ann", {"plan": "pro"})
    manual = tx(segments.create_manual, ws, {"segment": {"name": "M"}}, NOW)["id"]
    queued = dynamic(tx, ws, PRO)
    assert tx(membership.refresh_people, ws, [ann], NOW) == membership.Changes()
    assert tx(membership.build_segment, ws, manual, NOW) == membership.Changes()
    assert members(query, manual) == [] and members(query, queued) == []
    assert tx(segments.get, ws, manual)["state"] == "finished"
    assert tx(membership.build_segment, ws, 10**9, NOW) == membership.Changes()


def test_deleted_and_foreign_people_are_skipped(tx, query, workspace, db):
    ws = workspace.workspace_id
    ann = identify(tx, ws, "ann", {"plan": "pro"})
    other = new_workspace(db).workspace_id
    stranger = identify(tx, other, "zed", {"plan": "pro"})
    seg = dynamic(tx, ws, PRO)
    tx(membership.build_segment, ws, seg, NOW)
    tx(service.delete_person, ws, classify("ann"))
    assert tx(membership.refresh_people, ws, [ann, stranger], NOW) == membership.Changes()
    assert members(query, seg) == []


def test_workspaces_are_isolated(tx, query, workspace, other_workspace):
    ws, other = workspace.workspace_id, other_workspace.workspace_id
    identify(tx, ws, "ann", {"plan": "pro"})
    zed = identify(tx, other, "zed", {"plan": "pro"})
    seg = dynamic(tx, ws, PRO)
    tx(membership.build_segment, ws, seg, NOW)
    assert tx(membership.build_segment, other, seg, NOW) == membership.Changes()
    assert members(query, seg) == ["ann"]
    tx(membership.refresh_people, other, [zed], NOW)
    assert members(query, seg) == ["ann"]
    assert activities(query, other, "segment_enter") == []


def test_update_requeues_only_on_a_new_condition(tx, workspace):
    ws = workspace.workspace_id
    seg = dynamic(tx, ws, PRO)
    tx(membership.build_segment, ws, seg, NOW)
    same = {"segment": {"name": "Renamed", "conditions": PRO, "tags": ["a"]}}
    shown = tx(membership.update_segment, ws, seg, same, NOW + 1)
    assert (shown["name"], shown["tags"], shown["state"]) == ("Renamed", ["a"], "finished")
    new = {"segment": {"conditions": RECENT_BUYER}}
    shown = tx(membership.update_segment, ws, seg, new, NOW + 2)
    assert (shown["state"], shown["progress"], shown["conditions"]) == (
        "build_queued",
        0,
        RECENT_BUYER,
    )
    with pytest.raises(ApiError) as raised:
        tx(
            membership.update_segment,
            ws,
            seg,
            {"segment": {"conditions": {"segment": {"id": seg}}}},
            0,
        )
    assert raised.value.message.startswith("segment.conditions")


def test_has_time_window():
    assert membership.has_time_window(parse(RECENT_BUYER))
    assert membership.has_time_window(parse({"not": {"or": [PRO, RECENT_BUYER]}}))
    window = {"field": "at", "operator": "within_last", "value": 60}
    assert membership.has_time_window(parse({"event": {"where": [window]}}))
    assert membership.has_time_window(parse({"attribute": window}))
    assert not membership.has_time_window(parse({"event": {"between": [0, 10]}}))
    assert not membership.has_time_window(parse(PRO))


def _many_people(conn, ws, count):
    rows = [
        {
            "workspace_id": ws,
            "cio_id": uuid.uuid4().hex[:20],
            "customer_id": f"p{n}",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for n in range(count)
    ]
    conn.execute(insert(people), rows)
    pks = conn.execute(
        select(people.c.id).where(people.c.workspace_id == ws).order_by(people.c.id)
    ).scalars()
    text, kind = render("pro")
    conn.execute(
        insert(attributes),
        [
            {
                "person_id": pk,
                "workspace_id": ws,
                "name": "plan",
                "value": text,
                "kind": kind,
                "updated_at": NOW,
            }
            for i, pk in enumerate(pks)
            if i % 2 == 0
        ],
    )


def _analyze(conn):
    """Give PostgreSQL's planner the row counts autovacuum would after a bulk load.

    Without them it believes the new rows are a handful and picks nested
    loops that are quadratic in the people count.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE people, attributes, segment_members")


def test_chunked_build_of_many_people(tx, query, db):
    ws = new_workspace(db).workspace_id
    tx(_many_people, ws, 12_000)
    tx(_analyze)
    seg = dynamic(tx, ws, PRO)
    started = time.monotonic()
    assert tx(membership.build_segment, ws, seg, NOW) == membership.Changes(6000, 0)
    tx(membership.update_segment, ws, seg, {"segment": {"conditions": {"not": PRO}}}, NOW)
    assert tx(membership.build_segment, ws, seg, NOW) == membership.Changes(6000, 6000)
    assert time.monotonic() - started < 10

    def count(conn, kind):
        where = (events.c.workspace_id == ws, events.c.type == kind)
        return conn.execute(select(func.count()).where(*where)).scalar_one()

    assert query(count, "segment_enter") == 12_000
    assert query(count, "segment_exit") == 6_000
    assert query(segments.customer_count, ws, seg) == 6_000


def test_a_future_dated_event_enters_when_it_comes_due(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {})
    track(tx, ws, "ann", "buy", NOW + DAY)  # future events do not count yet
    buyers = dynamic(tx, ws, RECENT_BUYER)
    tx(membership.build_segment, ws, buyers, NOW)
    assert members(query, buyers) == []
    tx(membership.refresh_time_windows, ws, NOW + DAY - 1)
    assert members(query, buyers) == []
    tx(membership.refresh_time_windows, ws, NOW + DAY)
    assert members(query, buyers) == ["ann"]


def test_an_attribute_window_slides_past(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {"trial_started": NOW - 6 * DAY})
    identify(tx, ws, "bob", {"trial_started": NOW - DAY})
    trials = dynamic(
        tx,
        ws,
        {"attribute": {"field": "trial_started", "operator": "within_last", "value": {"days": 7}}},
    )
    tx(membership.build_segment, ws, trials, NOW)
    assert members(query, trials) == ["ann", "bob"]
    tx(membership.refresh_time_windows, ws, NOW + DAY)  # ann's edge: exactly 7 days, still in
    assert members(query, trials) == ["ann", "bob"]
    tx(membership.refresh_time_windows, ws, NOW + DAY + 1)
    assert members(query, trials) == ["bob"]


def test_only_people_whose_rows_crossed_an_edge_are_looked_at(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {})
    cat = identify(tx, ws, "cat", {})
    track(tx, ws, "ann", "buy", NOW - 29 * DAY)
    buyers = dynamic(tx, ws, RECENT_BUYER)
    tx(membership.build_segment, ws, buyers, NOW)
    # A stale row no write or window explains (cat never bought): the refresh
    # leaves it, since none of cat's rows crossed an edge; a full build would not.
    tx(
        lambda conn: conn.execute(
            insert(segment_members).values(
                segment_id=buyers, person_id=cat, workspace_id=ws, added_at=NOW
            )
        )
    )
    tx(membership.refresh_time_windows, ws, NOW + 2 * DAY)
    assert members(query, buyers) == ["cat"]  # ann left on time
    tx(membership.build_segment, ws, buyers, NOW + 2 * DAY)
    assert members(query, buyers) == []


def test_a_window_on_event_data_is_rebuilt_in_full(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {})
    body = {"name": "renewal", "timestamp": NOW - 100 * DAY, "data": {"due": NOW - 6 * DAY}}
    tx(events_service.track, ws, classify("ann"), events_service.parse_event(body), NOW)
    due = {"field": "due", "operator": "within_last", "value": {"days": 7}}
    renewals = dynamic(tx, ws, {"event": {"name": "renewal", "where": [due]}})
    tx(membership.build_segment, ws, renewals, NOW)
    assert members(query, renewals) == ["ann"]
    assert tx(membership.refresh_time_windows, ws, NOW + 2 * DAY) == [renewals]
    assert members(query, renewals) == ["ann"]  # queued: the segment worker builds it
    finish_builds(tx, ws, NOW + 2 * DAY)
    assert members(query, renewals) == []
