"""Customer.io's semantic events (BEHAVIOUR.md 6.5) sent as Pipelines track calls."""

import pytest
from sqlalchemy import select

from tests.factories import recorded_metrics
from tests.integration.test_pipelines import NOW, exists, log, relations, send, shown
from tidings import paging
from tidings.db.schema import objects
from tidings.errors import ApiError
from tidings.pipelines import ingest, parse, rejections


def semantic(event, user_id="u1", **fields):
    return {"type": "track", "event": event, "userId": user_id, **fields}


def device(token, type_="ios", **extra):
    return {"device": {"token": token, "type": type_, **extra}}


def test_device_created_or_updated_and_deleted(tx, query, workspace):
    ws = workspace.workspace_id
    send(
        tx,
        ws,
        semantic(
            "Device Created or Updated",
            context=device("tok-1", model="iPhone15,2"),
            properties={"app_version": "1.2"},
            timestamp="2023-11-14T22:13:20Z",
        ),
        semantic("Device Created or Updated", context=device("tok-2", "Android")),
    )
    devices = shown(query, ws, "u1")["devices"]
    assert devices[0] == {
        "id": "tok-1",
        "platform": "ios",
        "last_used": NOW,
        "attributes": {"model": "iPhone15,2", "app_version": "1.2"},
    }
    assert (devices[1]["id"], devices[1]["platform"]) == ("tok-2", "android")
    assert [a["name"] for a in log(query, ws, "u1", "event")] == ["Device Created or Updated"] * 2
    send(tx, ws, semantic("Device Deleted", context=device("tok-1")))
    assert [d["id"] for d in shown(query, ws, "u1")["devices"]] == ["tok-2"]


def test_device_deleted_for_an_unknown_person_creates_nobody(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, semantic("Device Deleted", user_id="ghost", context=device("t")))
    assert not exists(query, ws, "ghost")


def test_user_deleted(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "identify", "userId": "u1", "traits": {"a": 1}})
    send(tx, ws, semantic("User Deleted"))
    assert not exists(query, ws, "u1")


def test_user_suppressed_then_unsuppressed(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "identify", "userId": "u1", "traits": {"a": 1}})
    send(tx, ws, semantic("User Suppressed"))
    assert not exists(query, ws, "u1")
    send(
        tx,
        ws,
        {"type": "identify", "userId": "u1", "traits": {"a": 2}},
        {"type": "track", "userId": "u1", "event": "dropped"},
    )
    assert not exists(query, ws, "u1")  # suppressed: identify and events are dropped
    send(tx, ws, semantic("User Unsuppressed"))
    assert not exists(query, ws, "u1")  # unsuppressing creates nobody
    send(tx, ws, {"type": "identify", "userId": "u1", "traits": {"a": 3}})
    assert shown(query, ws, "u1")["attributes"]["a"] == "3"


def test_relationship_deleted(tx, query, workspace):
    ws = workspace.workspace_id
    send(
        tx,
        ws,
        {"type": "group", "userId": "u1", "groupId": "acme"},
        {"type": "group", "userId": "u1", "groupId": "7", "traits": {"object_type_id": "2"}},
    )
    send(tx, ws, semantic("Relationship Deleted", properties={"objectId": "acme"}))
    assert relations(query, ws, "u1") == [("2", "7", {})]
    send(tx, ws, semantic("Relationship Deleted", properties={"objectId": 7, "objectTypeId": 2}))
    assert relations(query, ws, "u1") == []


def test_object_deleted(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "group", "userId": "u1", "groupId": "acme"})
    send(
        tx,
        ws,
        {
            "type": "track",
            "event": "Object Deleted",
            "anonymousId": "x",
            "properties": {"objectId": "acme"},
        },
    )

    def count(conn):
        return len(conn.execute(select(objects.c.id).where(objects.c.workspace_id == ws)).all())

    assert query(count) == 0
    assert relations(query, ws, "u1") == []


def test_a_semantic_event_applied_once_per_message_id(tx, query, workspace):
    ws = workspace.workspace_id
    message = semantic("Device Created or Updated", context=device("t1"), messageId="m1")
    send(tx, ws, message)
    send(tx, ws, semantic("Device Deleted", context=device("t1")))
    send(tx, ws, message)  # a retry of the first: not applied again
    assert shown(query, ws, "u1")["devices"] == []


def test_report_delivery_event_records_a_metric(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    opened = {"deliveryId": "d1", "metric": "opened", "recipient": "tok-1"}
    send(
        tx,
        ws,
        semantic("Report Delivery Event", properties=opened, timestamp="2023-11-14T22:13:20Z"),
        {
            "type": "track",
            "event": "Report Delivery Event",
            "anonymousId": "a1",
            "properties": {"deliveryId": "d2", "metric": "clicked", "href": "https://x.test"},
        },
    )
    assert query(recorded_metrics, ws) == [
        ("d1", "opened", NOW, {"recipient": "tok-1"}),
        ("d2", "clicked", NOW, {"href": "https://x.test"}),
    ]
    assert not exists(query, ws, "u1")  # records the metric, creates nobody
    assert query(recorded_metrics, other_workspace.workspace_id) == []


def test_report_delivery_event_applied_once_per_message_id(tx, query, workspace):
    ws = workspace.workspace_id
    props = {"deliveryId": "d1", "metric": "delivered"}
    message = semantic("Report Delivery Event", properties=props, messageId="m1")
    send(tx, ws, message)
    send(tx, ws, message)
    assert [row[:2] for row in query(recorded_metrics, ws)] == [("d1", "delivered")]


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        ({"metric": "opened"}, "properties.deliveryId is required"),
        ({"deliveryId": "d1", "metric": "read"}, "properties.metric must be one of"),
        ({"deliveryId": "d1"}, "properties.metric must be one of"),
    ],
)
def test_an_invalid_report_delivery_event_is_rejected(tx, query, workspace, properties, problem):
    ws = workspace.workspace_id
    raw = semantic("Report Delivery Event", properties=properties)
    with pytest.raises(ApiError) as refused:
        parse.parse_message(dict(raw), NOW)  # strict mode answers this 400
    assert refused.value.status == 400 and refused.value.message.startswith(problem)
    items = [rejections.rejected(refused.value, raw)]
    assert tx(ingest.ingest, ws, items, NOW, False) == ["invalid_request"]
    listed = query(rejections.recent, ws, paging.PageRequest(10))["rejections"]
    assert [(r["type"], r["message"][: len(problem)]) for r in listed] == [("track", problem)]
    assert query(recorded_metrics, ws) == []
