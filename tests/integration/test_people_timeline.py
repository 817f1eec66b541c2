"""A person's timeline (`reporting/timeline.py`): activities, attribute changes, segment
entries and exits and messages merged newest first, and paged without gaps or duplicates
across kinds and equal times; and the People page's search with a condition."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from tidings import paging
from tidings.db.schema import campaigns, deliveries, delivery_metrics
from tidings.errors import ApiError
from tidings.events import service as events_service
from tidings.people import service, store
from tidings.people.identifiers import classify
from tidings.reporting import fanout, timeline
from tidings.segments import membership, search
from tidings.segments import service as segments
from tidings.segments.conditions import parse
from tidings.ui import person

NOW = 1_700_000_000


@pytest.fixture(scope="module")
def db(isolated_db):
    """Segment builds here run at NOW (2023); see `isolated_db`."""
    return isolated_db


def identify(tx, ws, raw, attrs, now=NOW):
    tx(service.identify, ws, classify(raw), service.parse_identify(attrs, now), now)
    return tx(store.find, ws, classify(raw)).pk


def track(tx, ws, raw, name, timestamp, data=None):
    body = {"name": name, "timestamp": timestamp, "data": data or {}}
    tx(events_service.track, ws, classify(raw), events_service.parse_event(body), NOW)


def message(db, ws, pk, delivery_id, created_at, **columns):
    with db.writer.begin() as conn:
        conn.execute(
            insert(deliveries).values(
                id=delivery_id,
                workspace_id=ws,
                person_id=pk,
                channel="email",
                recipient="a@x.test",
                created_at=created_at,
                **{"state": "sent", **columns},
            )
        )


def metric(db, ws, delivery_id, name, at):
    with db.writer.begin() as conn:
        conn.execute(
            insert(delivery_metrics).values(
                workspace_id=ws, delivery_id=delivery_id, metric=name, timestamp=at, data="{}"
            )
        )


def read(query, ws, pk, limit=50, start=""):
    after = timeline.decode_cursor(start) if start else None
    return query(timeline.timeline, ws, pk, limit, after)


def every_page(query, ws, pk, limit):
    entries, start, pages = [], "", 0
    while True:
        page = read(query, ws, pk, limit, start)
        entries += page["entries"]
        pages += 1
        start = page["next"]
        if not start:
            return entries, pages


def test_every_kind_is_merged_newest_first(tx, query, db, workspace):
    ws = workspace.workspace_id
    pk = identify(tx, ws, "u1", {"plan": "free"}, now=NOW - 100)
    track(tx, ws, "u1", "purchase", NOW - 50, {"price": 5})
    identify(tx, ws, "u1", {"plan": "pro"}, now=NOW - 40)
    pro = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    body = {"segment": {"name": "Pros", "conditions": pro}}
    seg = tx(membership.create_segment, ws, body, NOW - 30)["id"]
    tx(membership.build_segment, ws, seg, NOW - 30)
    with db.writer.begin() as conn:
        (camp,) = conn.execute(
            insert(campaigns).values(
                workspace_id=ws,
                kind="broadcast",
                name="Spring sale",
                description="",
                state="running",
                trigger_kind="api",
                definition="{}",
                tags="[]",
                created_at=NOW,
                updated_at=NOW,
            )
        ).inserted_primary_key
    message(db, ws, pk, "m1", NOW - 20, subject="Hello", broadcast_id=camp)
    metric(db, ws, "m1", "delivered", NOW - 10)
    metric(db, ws, "m1", "opened", NOW - 10)  # same time: the one further along shows
    message(db, ws, pk, "draft", NOW - 5, state="draft")  # never shown
    identify(tx, ws, "u1", {"plan": "free"}, now=NOW)
    tx(membership.build_segment, ws, seg, NOW)

    entries = read(query, ws, pk)["entries"]
    kinds = [(e["kind"], e["timestamp"]) for e in entries]
    assert kinds == [
        ("segment_exit", NOW),
        ("attribute_change", NOW),
        ("message", NOW - 20),
        ("segment_enter", NOW - 30),
        ("attribute_change", NOW - 40),
        ("event", NOW - 50),
        ("attribute_change", NOW - 100),
    ]  # at equal times, the later row first: the exit was written after the change
    sent = next(e for e in entries if e["kind"] == "message")
    assert sent["status"] == "opened" and sent["campaign"] == "Spring sale"
    assert sent["channel"] == "email" and sent["name"] == "Hello"
    assert sent["data"]["metrics"] == {"delivered": NOW - 10, "opened": NOW - 10}
    event = next(e for e in entries if e["kind"] == "event")
    assert event["name"] == "purchase" and event["data"] == {"price": 5}
    entered = next(e for e in entries if e["kind"] == "segment_enter")
    assert entered["data"]["segment_name"] == "Pros"
    change = entries[[k for k, _ in kinds].index("attribute_change", 2)]
    assert change["data"]["attributes"]["plan"] == {"from": "free", "to": "pro"}


def test_pages_have_no_gaps_or_duplicates_across_kinds_and_equal_times(
    tx, query, db, workspace, other_workspace
):
    ws = workspace.workspace_id
    pk = identify(tx, ws, "u2", {}, now=NOW - 1000)
    for n in range(9):  # three activities and three messages at each of three times
        at = NOW - 10 * (n // 3)
        track(tx, ws, "u2", f"e{n}", at)
        message(db, ws, pk, f"u2-m{n}", at)
    other = identify(tx, other_workspace.workspace_id, "u2", {}, now=NOW)
    message(db, other_workspace.workspace_id, other, "elsewhere", NOW)
    whole = read(query, ws, pk, limit=100)["entries"]
    assert sum(e["kind"] in ("event", "message") for e in whole) == 18
    keys = [(e["timestamp"], e["kind"] == "message") for e in whole]
    assert keys == sorted(keys, reverse=True)  # at equal times, messages first
    for limit in (1, 2, 4, 5, 7):
        entries, pages = every_page(query, ws, pk, limit)
        assert [(e["kind"], e["id"]) for e in entries] == [(e["kind"], e["id"]) for e in whole]
        assert pages == -(-len(whole) // limit)


def test_a_cursor_not_made_here_is_a_400():
    for bad in ("nope", "dDE6MTox", paging.encode_cursor([1, 2])):
        with pytest.raises(ApiError) as raised:
            timeline.decode_cursor(bad)
        assert raised.value.status == 400


def test_search_combines_the_text_with_a_condition(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {"email": "ann@x.test", "plan": "pro"})
    identify(tx, ws, "anna", {"email": "anna@x.test", "plan": "free"})
    identify(tx, ws, "bob", {"email": "bob@x.test", "plan": "pro"})
    pro = parse({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})
    page = paging.PageRequest(50)

    def ids(text, condition):
        return query(search.search_people, ws, text, condition, page, NOW)["ids"]

    assert ids("ann", pro) == ["ann"]
    assert ids("", pro) == ["ann", "bob"]
    assert ids("ann", None) == ["ann", "anna"]
    assert ids("", None) == ["ann", "anna", "bob"]
    assert ids("carol", pro) == []


def test_search_walks_a_segments_members_with_the_text_and_condition(
    tx, query, workspace, other_workspace
):
    ws = workspace.workspace_id
    for n in range(6):
        identify(tx, ws, f"m{n}", {"plan": "pro" if n % 2 else "free"})
    identify(tx, other_workspace.workspace_id, "m9", {})
    seg = tx(segments.create_manual, ws, {"segment": {"name": "S"}}, NOW)["id"]
    tx(segments.change_members, ws, seg, "id", ["m5", "m1", "m2", "m3"], NOW, True)
    pro = parse({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})

    def found(text, condition, limit=50, after=None):
        page = paging.PageRequest(limit, after)
        return query(search.search_people, ws, text, condition, page, NOW, seg)

    assert found("", None)["ids"] == ["m1", "m2", "m3", "m5"]  # oldest person first
    assert found("", pro)["ids"] == ["m1", "m3", "m5"]
    assert found("m3", pro)["ids"] == ["m3"]
    first = found("", None, limit=3)
    assert first["ids"] == ["m1", "m2", "m3"]
    rest = found("", None, limit=3, after=paging.decode_cursor(first["next"], 1))
    assert rest == {**rest, "ids": ["m5"], "next": ""}
    other_ws = other_workspace.workspace_id
    nobody = query(search.search_people, other_ws, "", None, paging.PageRequest(50), NOW, seg)
    assert nobody["ids"] == []  # another workspace's segment chooses no one


def test_a_persons_page_reads_everything_of_theirs_and_nothing_of_another_workspace(
    tx, query, db, workspace, other_workspace
):
    ws = workspace.workspace_id
    pk = identify(tx, ws, "p1", {"email": "P1@x.test", "unsubscribed": True, "plan": "pro"})
    tx(fanout.block, ws, "p1@x.test", "bounced", "d-1", NOW)
    cio_id = tx(store.by_pk, pk).cio_id
    shown = query(person.profile, ws, cio_id, None)
    assert shown["customer"]["identifiers"] == {"email": "P1@x.test", "id": "p1", "cio_id": cio_id}
    assert ("plan", "pro", NOW) in shown["attributes"]
    assert shown["customer"]["unsubscribed"] is True and shown["blocked"] == "bounced"
    assert shown["suppressed"] is False
    assert [e["kind"] for e in shown["timeline"]["entries"]] == ["attribute_change"]
    with pytest.raises(ApiError) as raised:
        query(person.profile, other_workspace.workspace_id, cio_id, None)
    assert raised.value.status == 404


def test_a_persons_messages_are_read_in_order_through_their_index(db, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the plan checked is SQLite's")
    sql = (
        "SELECT id FROM deliveries WHERE workspace_id = 1 AND person_id = 5"
        " AND state != 'draft' ORDER BY created_at DESC, id DESC LIMIT 51"
    )
    with db.reader.connect() as conn:
        plan = " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "USING INDEX ix_deliveries_person_id_created_at" in plan
