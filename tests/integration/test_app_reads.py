"""The App API's reads of Track's results, on a real database (BEHAVIOUR.md 5.3, 5.5)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from tidings import paging
from tidings.db.schema import segments as segments_table
from tidings.errors import ApiError
from tidings.events import service as events_service
from tidings.people import activities, read, service
from tidings.people.identifiers import classify
from tidings.segments import service as segments

NOW = 1_700_000_000


def identify(tx, ws, raw, body, now=NOW):
    return tx(service.identify, ws, classify(raw), service.parse_identify(body, now), now)


def track(tx, ws, raw, body, now=NOW):
    tx(events_service.track, ws, classify(raw), events_service.parse_event(body), now)


def manual_segment(tx, ws, name="S"):
    return tx(segments.create_manual, ws, {"segment": {"name": name}}, NOW)["id"]


def add(tx, ws, segment_id, ids, id_type="id"):
    tx(segments.change_members, ws, segment_id, id_type, ids, NOW, True)


def feed(query, ws, raw, id_type="id", limit=None, start="", **filters):
    params = {"start": start, **filters}
    if limit is not None:
        params["limit"] = str(limit)
    return query(activities.activities_of, ws, raw, id_type, activities.parse_query(params))


def page_through(fetch, key):
    """Follow `next` to the end; returns every item and the number of pages."""
    items, start, pages = [], "", 0
    while True:
        body = fetch(start)
        items.extend(body[key])
        pages += 1
        start = body["next"]
        if not start:
            return items, pages


def assert_404(fn, *args):
    with pytest.raises(ApiError) as caught:
        fn(*args)
    assert caught.value.status == 404


# ---------------------------------------------------------------- segments of a person


def test_segments_of_a_person(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"email": "U1@Example.com"})
    first, second, _third = (manual_segment(tx, ws, name) for name in ("A", "B", "C"))
    add(tx, ws, second, ["u1"])
    add(tx, ws, first, ["u1"])
    shown = query(segments.segments_of, ws, "u1", "id")["segments"]
    assert [s["id"] for s in shown] == [first, second]
    assert set(shown[0]) == {
        "id", "deduplicate_id", "name", "description", "state", "progress", "type", "tags",
        "created_at", "updated_at",
    }  # fmt: skip
    assert shown[0]["type"] == "manual" and shown[0]["name"] == "A"
    assert query(segments.segments_of, ws, "u1@example.com", "email")["segments"] == shown
    assert_404(query, segments.segments_of, ws, "nobody", "id")
    assert_404(query, segments.segments_of, other_workspace.workspace_id, "u1", "id")


def test_a_person_in_no_segment_has_an_empty_list(tx, query, workspace):
    identify(tx, workspace.workspace_id, "u1", {})
    assert query(segments.segments_of, workspace.workspace_id, "u1", "id") == {"segments": []}


# ---------------------------------------------------------------- attributes of many


def test_attributes_of_many_keeps_request_order_and_skips_unknown(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"email": "one@example.com", "plan": "pro"})
    identify(tx, ws, "u2", {"n": 3})
    result = query(read.attributes_of_many, ws, ["u2", "ghost", "u1", "u2"], "id")
    customers = [item["customer"] for item in result["customers"]]
    assert [c["id"] for c in customers] == ["u2", "u1"]
    assert customers[0]["attributes"]["n"] == "3"
    assert customers[1] == query(read.attributes_of, ws, "u1", "id")["customer"]


def test_attributes_of_many_by_email_and_cio_id(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "u1", {"email": "Mixed@Example.com"})
    by_email = query(read.attributes_of_many, ws, ["mixed@EXAMPLE.com"], "email")
    assert by_email["customers"][0]["customer"]["identifiers"]["email"] == "Mixed@Example.com"
    ids = [person.cio_id, "cio_" + person.cio_id]
    assert len(query(read.attributes_of_many, ws, ids, "cio_id")["customers"]) == 1
    other = query(read.attributes_of_many, other_workspace.workspace_id, ["u1"], "id")
    assert other == {"customers": []}


@pytest.mark.parametrize(
    "body", [{}, {"ids": []}, {"ids": "u1"}, {"ids": [True]}, {"ids": [""]}, [1], None]
)
def test_bulk_ids_are_validated(body):
    with pytest.raises(ApiError) as caught:
        read.parse_bulk_ids(body)
    assert caught.value.status == 400


def test_bulk_ids_allow_one_to_a_hundred():
    assert read.parse_bulk_ids({"ids": [1, "b"]}) == ["1", "b"]
    assert len(read.parse_bulk_ids({"ids": list(range(100))})) == 100
    with pytest.raises(ApiError):
        read.parse_bulk_ids({"ids": list(range(101))})


# ---------------------------------------------------------------- activities


def test_activities_newest_first_in_customer_io_shape(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"email": "A@Example.com"}, now=NOW)
    track(tx, ws, "u1", {"name": "purchase", "data": {"price": 5}}, now=NOW + 10)
    track(tx, ws, "u1", {"name": "/pricing", "type": "page"}, now=NOW + 20)
    track(tx, ws, "u1", {"name": "Home", "type": "screen"}, now=NOW + 30)
    identify(tx, ws, "u1", {"plan": "pro", "email": None}, now=NOW + 40)
    items = feed(query, ws, "u1")["activities"]
    kinds = ["attribute_change", "screen", "page", "event", "attribute_change"]
    assert [a["type"] for a in items] == kinds
    change, screen, page, event, created = items
    assert change["data"] == {
        "plan": {"from": "", "to": "pro"},
        "email": {"from": "A@Example.com", "to": ""},
    }
    assert created["data"]["email"] == {"from": "", "to": "A@Example.com"}
    assert event["name"] == "purchase" and event["data"] == {"price": 5}
    assert event["timestamp"] == NOW + 10
    assert page["name"] == page["url"] == "/pricing" and "url" not in event
    assert screen["name"] == "Home"
    assert set(event) == {
        "id", "customer_id", "customer_identifiers", "type", "name", "timestamp", "data",
        "delivery_id", "delivery_type",
    }  # fmt: skip
    assert event["customer_id"] == "u1" and isinstance(event["id"], str)
    assert event["customer_identifiers"]["id"] == "u1"
    assert len({a["id"] for a in items}) == len(items)


def test_activities_are_ordered_by_event_time_not_arrival(tx, query, workspace):
    ws = workspace.workspace_id
    track(tx, ws, "u1", {"name": "late", "timestamp": NOW - 500}, now=NOW)
    track(tx, ws, "u1", {"name": "early"}, now=NOW - 100)
    names = [a["name"] for a in feed(query, ws, "u1", type="event")["activities"]]
    assert names == ["early", "late"]


def test_activities_filter_by_type_and_name(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"plan": "free"}, now=NOW)
    for offset, name in enumerate(["signup", "purchase", "purchase"]):
        track(tx, ws, "u1", {"name": name}, now=NOW + offset + 1)
    identify(tx, ws, "u1", {"plan": "pro", "seats": 2}, now=NOW + 9)
    purchases = feed(query, ws, "u1", name="purchase")["activities"]
    assert [a["name"] for a in purchases] == ["purchase", "purchase"]
    plan = feed(query, ws, "u1", type="attribute_change", name="plan")["activities"]
    assert [a["data"]["plan"]["to"] for a in plan] == ["pro", "free"]
    assert len(feed(query, ws, "u1", name="seats")["activities"]) == 1
    assert feed(query, ws, "u1", name="Plan")["activities"] == []
    assert feed(query, ws, "u1", name="pro")["activities"] == []
    assert feed(query, ws, "u1", type="sent_email")["activities"] == []
    assert len(feed(query, ws, "u1", type="event")["activities"]) == 3


def test_activity_paging_has_no_gaps_or_duplicates(tx, query, workspace):
    ws = workspace.workspace_id
    for i in range(23):
        # Pairs of events share a timestamp, so the id tie-break is exercised.
        track(tx, ws, "u1", {"name": f"e{i}"}, now=NOW + i // 2)
    everything = feed(query, ws, "u1", limit=100, type="event")["activities"]
    assert len(everything) == 23

    def fetch(start):
        return feed(query, ws, "u1", limit=5, start=start, type="event")

    items, pages = page_through(fetch, "activities")
    assert pages == 5
    assert [a["id"] for a in items] == [a["id"] for a in everything]


def test_activity_limits(tx, query, workspace):
    ws = workspace.workspace_id
    for i in range(12):
        track(tx, ws, "u1", {"name": f"e{i}"}, now=NOW + i)
    default = feed(query, ws, "u1", type="event")
    assert len(default["activities"]) == activities.DEFAULT_LIMIT == 10
    assert default["next"]
    assert activities.parse_query({"limit": "5000"}).page.limit == activities.MAX_LIMIT == 100
    with pytest.raises(ApiError):
        activities.parse_query({"start": paging.encode_cursor((1,))})  # needs (timestamp, id)


def test_activities_of_unknown_or_foreign_people_are_404(tx, query, workspace, other_workspace):
    identify(tx, workspace.workspace_id, "u1", {})
    assert_404(feed, query, workspace.workspace_id, "ghost")
    assert_404(feed, query, other_workspace.workspace_id, "u1")


# ---------------------------------------------------------------- relationships


def related(i, **attrs):
    return {
        "identifiers": {"object_type_id": "1", "object_id": f"acct{i}"},
        "relationship_attributes": attrs,
    }


def test_relationships_page_with_their_attributes(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    links = [related(i, role=f"r{i}") for i in range(7)]
    identify(tx, ws, "u1", {"cio_relationships": links})

    def fetch(start, limit=3):
        page = paging.PageRequest(limit, paging.decode_cursor(start, 1) if start else None)
        return query(read.relationships_of, ws, "u1", "id", page)

    items, pages = page_through(fetch, "cio_relationships")
    assert pages == 3
    assert [r["identifiers"]["object_id"] for r in items] == [f"acct{i}" for i in range(7)]
    assert items[2]["relationship_attributes"] == {"role": "r2"}
    assert items[0]["identifiers"]["object_type_id"] == "1"
    assert items[0]["identifiers"]["cio_object_id"].startswith("ob")
    assert fetch("", limit=100)["next"] == ""
    page = paging.PageRequest(10)
    assert_404(query, read.relationships_of, other_workspace.workspace_id, "u1", "id", page)


# ---------------------------------------------------------------- segments


def test_segment_lifecycle(tx, query, workspace, other_workspace):
    ws, other = workspace.workspace_id, other_workspace.workspace_id
    body = {"segment": {"name": " VIPs ", "description": "big spenders", "tags": ["x"]}}
    created = tx(segments.create_manual, ws, body, NOW)
    assert created["name"] == "VIPs" and created["tags"] == ["x"]
    assert created["deduplicate_id"] == f"{created['id']}:{NOW}"
    assert query(segments.get, ws, created["id"]) == created
    assert query(segments.list_all, ws) == [created]
    assert query(segments.list_all, other) == []
    for fn in (segments.get, segments.customer_count):
        assert_404(query, fn, other, created["id"])
    assert_404(tx, segments.delete_manual, other, created["id"])
    tx(segments.delete_manual, ws, created["id"])
    assert_404(query, segments.get, ws, created["id"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"segment": "x"},
        {"segment": {}},
        {"segment": {"name": "  "}},
        {"segment": {"name": "n" * 256}},
        {"segment": {"name": "n", "description": 5}},
        {"segment": {"name": "n", "tags": "t"}},
    ],
)
def test_bad_segment_bodies_are_refused(tx, workspace, body):
    with pytest.raises(ApiError) as caught:
        tx(segments.create_manual, workspace.workspace_id, body, NOW)
    assert caught.value.status == 400


def test_only_manual_segments_can_be_deleted(tx, workspace):
    ws = workspace.workspace_id
    values = {"workspace_id": ws, "name": "d", "description": "", "type": "dynamic"}
    values |= {"state": "finished", "created_at": NOW, "updated_at": NOW}
    segment_id = tx(
        lambda conn: conn.execute(insert(segments_table).values(values)).inserted_primary_key[0]
    )
    with pytest.raises(ApiError) as caught:
        tx(segments.delete_manual, ws, segment_id)
    assert caught.value.status == 400


@pytest.mark.parametrize("raw", ["x", "-1", "1.0", "", "²", str(2**31), "9" * 40])
def test_unusable_segment_ids_are_404(raw):
    with pytest.raises(ApiError) as caught:
        segments.parse_segment_id(raw)
    assert caught.value.status == 404


def test_membership_pages_and_counts(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    segment_id = manual_segment(tx, ws)
    for i in range(7):
        identify(tx, ws, f"u{i}", {"email": f"User{i}@Example.com"})
    identify(tx, ws, "only@example.com", {})
    add(tx, ws, segment_id, [f"u{i}" for i in range(7)])
    add(tx, ws, segment_id, ["only@example.com"], "email")
    assert query(segments.customer_count, ws, segment_id) == 8

    def fetch(start):
        page = paging.PageRequest(3, paging.decode_cursor(start, 1) if start else None)
        return query(segments.membership, ws, segment_id, page)

    first = fetch("")
    assert set(first) == {"segment_id", "identifiers", "ids", "next"}
    identifiers, pages = page_through(fetch, "identifiers")
    assert pages == 3
    assert [i["id"] for i in identifiers] == [f"u{i}" for i in range(7)] + [None]
    assert identifiers[0]["email"] == "User0@Example.com" and identifiers[0]["id"] == "u0"
    assert set(identifiers[0]) == {"email", "id", "cio_id"}
    assert identifiers[-1]["email"] == "only@example.com"
    everyone = query(segments.membership, ws, segment_id, paging.PageRequest(100))
    assert everyone["ids"] == [f"u{i}" for i in range(7)] + [""]
    assert everyone["next"] == ""
    assert_404(
        query, segments.membership, other_workspace.workspace_id, segment_id, paging.PageRequest(5)
    )


def test_deleting_a_segment_removes_its_memberships(tx, query, workspace):
    ws = workspace.workspace_id
    segment_id = manual_segment(tx, ws)
    identify(tx, ws, "u1", {})
    add(tx, ws, segment_id, ["u1"])
    tx(segments.delete_manual, ws, segment_id)
    assert query(segments.segments_of, ws, "u1", "id") == {"segments": []}
