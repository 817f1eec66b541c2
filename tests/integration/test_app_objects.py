"""Objects, workspace activities, workspaces and archived messages as the App API
reads them, on a real database (both stores)."""

from __future__ import annotations

import msgspec
import pytest

from tests.factories import add_delivery
from tidings import paging
from tidings.errors import ApiError
from tidings.events import service as events
from tidings.objects import find
from tidings.objects.store import ObjectRef
from tidings.people import activities, object_people, objects
from tidings.people.identifiers import classify
from tidings.providers import base
from tidings.reporting import archived
from tidings.workspaces import listing

NOW = 1_700_000_000


def add_object(tx, ws, type_id, object_id, attributes, people=()):
    related = [(classify(p), {"since": "2020"}) for p in people]
    ref = ObjectRef(type_id=type_id, object_id=object_id)
    tx(objects.identify_object, ws, ref, attributes, related, NOW)


def search(query, ws, body, limit=10, start=""):
    type_id, matches = find.parse_search(body)
    page = paging.parse_page({"limit": str(limit), "start": start}, default=10, maximum=100)
    return query(find.find_objects, ws, type_id, matches, page)


def leaf(field, operator="exists", value=None, type_id="1"):
    node = {"field": field, "operator": operator, "type_id": type_id}
    return {"object_attribute": node | ({"value": value} if value is not None else {})}


def test_find_objects_filters_and_pages(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    for i in range(5):
        add_object(tx, ws, "1", f"o{i}", {"plan": "pro" if i % 2 else "free", "seats": i})
    add_object(tx, ws, "2", "elsewhere", {"plan": "pro"})
    add_object(tx, other_workspace.workspace_id, "1", "theirs", {"plan": "pro"})
    pro = leaf("plan", "eq", "pro")
    assert search(query, ws, {"object_type_id": "1", "filter": pro})["ids"] == ["o1", "o3"]
    both = {"and": [leaf("seats"), {"not": pro}]}
    assert search(query, ws, {"object_type_id": 1, "filter": both})["ids"] == ["o0", "o2", "o4"]
    number = {"or": [leaf("seats", "eq", 4), leaf("seats", "eq", "0")]}
    assert search(query, ws, {"object_type_id": "1", "filter": number})["ids"] == ["o0", "o4"]
    other_type = leaf("plan", type_id="2")
    assert search(query, ws, {"object_type_id": "1", "filter": other_type})["ids"] == []
    first = search(query, ws, {"object_type_id": "1", "filter": leaf("plan")}, limit=2)
    assert first["ids"] == ["o0", "o1"] and first["next"]
    rest = search(query, ws, {"object_type_id": "1", "filter": leaf("plan")}, 10, first["next"])
    assert rest == {
        "identifiers": rest["identifiers"],
        "ids": ["o2", "o3", "o4"],
        "next": "",
    }
    assert all(i["cio_object_id"].startswith("ob") for i in rest["identifiers"])


@pytest.mark.parametrize(
    "body",
    [
        {"filter": {}},
        {"object_type_id": "x", "filter": leaf("a")},
        {"object_type_id": "1"},
        {"object_type_id": "1", "filter": {"segment": {"id": 1}}},
        {"object_type_id": "1", "filter": {"and": []}},
        {"object_type_id": "1", "filter": leaf("a", "eq")},
        {"object_type_id": "1", "filter": leaf("a", "contains", "x")},
        {
            "object_type_id": "1",
            "filter": {"object_attribute": {"field": "a", "operator": "exists"}},
        },
    ],
)
def test_bad_filters_are_400s(body):
    with pytest.raises(ApiError) as error:
        find.parse_search(body)
    assert error.value.status == 400


def test_attributes_relationships_and_types(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    add_object(tx, ws, "3", "acme", {"name": "Acme"}, people=["ann", "bob"])
    add_object(tx, ws, "1", "solo", {})
    shown = query(find.attributes_of, ws, find.ref_of("3", "acme", "object_id"))["object"]
    assert shown["attributes"] == {"name": "Acme"}
    assert shown["timestamps"] == {"name": NOW}
    cio = shown["identifiers"]["cio_object_id"]
    again = query(find.attributes_of, ws, find.ref_of("3", cio, "cio_object_id"))
    assert again["object"] == shown
    for ref in (find.ref_of("1", "acme", "object_id"), find.ref_of("3", "nope", "object_id")):
        with pytest.raises(ApiError) as error:
            query(find.attributes_of, ws, ref)
        assert error.value.status == 404
    with pytest.raises(ApiError):
        query(
            find.attributes_of, other_workspace.workspace_id, find.ref_of("3", "acme", "object_id")
        )
    page = paging.PageRequest(limit=1)
    first = query(object_people.people_of_object, ws, find.ref_of("3", "acme", "object_id"), page)
    assert [r["identifiers"]["id"] for r in first["cio_relationships"]] == ["ann"]
    assert first["cio_relationships"][0]["relationship_attributes"] == {"since": "2020"}
    after = paging.PageRequest(limit=5, after=paging.decode_cursor(first["next"], 1))
    rest = query(object_people.people_of_object, ws, find.ref_of("3", "acme", "object_id"), after)
    assert [r["identifiers"]["id"] for r in rest["cio_relationships"]] == ["bob"]
    assert rest["next"] == ""
    assert [t["id"] for t in query(find.object_types, ws)["types"]] == ["1", "3"]
    usage = query(listing.visible_to_key, ws, NOW)["workspaces"]
    assert [(u["id"], u["objects"], u["object_types"], u["people"]) for u in usage] == [
        (ws, 2, 2, 2)
    ]


def test_workspace_activities_page_over_everyone(tx, query, workspace):
    ws = workspace.workspace_id
    for who, name, at in (("a", "one", NOW), ("b", "two", NOW + 1), ("a", "three", NOW + 2)):
        tx(events.track, ws, classify(who), events.parse_event({"name": name}), at)

    def fetch(start="", **filters):
        request, raw, id_type = activities.parse_workspace_query(
            {"limit": "2", "start": start, **filters}
        )
        return query(activities.workspace_activities, ws, request, raw, id_type)

    first = fetch(type="event")
    assert [a["name"] for a in first["activities"]] == ["three", "two"]
    assert [a["customer_id"] for a in first["activities"]] == ["a", "b"]
    assert [a["name"] for a in fetch(first["next"], type="event")["activities"]] == ["one"]
    assert [a["name"] for a in fetch(customer_id="b", type="event")["activities"]] == ["two"]
    assert [a["name"] for a in fetch(name="one")["activities"]] == ["one"]
    with pytest.raises(ApiError):
        fetch(deleted="maybe")


def test_an_archive_is_kept_for_the_configured_days(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    email = base.Email(
        message_id="<m@x>",
        from_="shop@x.y",
        to=["a@example.com"],
        subject="Hi",
        html="<p>Hi</p>",
        bcc=["b@x.y"],
        headers={"X-Tag": "t"},
    )
    payload = msgspec.json.encode(email).decode()
    sent = {"payload": payload, "sent_at": NOW, "options": '{"fake_bcc": true}'}
    tx(lambda conn: add_delivery(conn, ws, "sent", None, **sent))
    tx(lambda conn: add_delivery(conn, ws, "queued", None, payload=payload, state="queued"))
    tx(lambda conn: add_delivery(conn, ws, "forgotten", None, payload=None, sent_at=NOW))
    shown = query(archived.archived_message, ws, "sent", 0, NOW + 400 * 86400)["archived_message"]
    assert shown["subject"] == "Hi" and shown["body"] == "<p>Hi</p>"
    assert shown["bcc"] == "b@x.y" and shown["fake_bcc"] is True
    assert shown["headers"] == [{"X-Tag": "t"}]
    assert query(archived.archived_message, ws, "sent", 30, NOW + 30 * 86400)["archived_message"]
    for args in (
        (ws, "sent", 30, NOW + 30 * 86400 + 1),
        (ws, "queued", 0, NOW),
        (ws, "forgotten", 0, NOW),
        (other_workspace.workspace_id, "sent", 0, NOW),
    ):
        with pytest.raises(ApiError) as error:
            query(archived.archived_message, *args)
        assert error.value.status == 404
