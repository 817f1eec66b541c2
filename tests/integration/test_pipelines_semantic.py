"""Customer.io's semantic events (BEHAVIOUR.md 6.5) sent as Pipelines track calls."""

from sqlalchemy import select

from tests.integration.test_pipelines import NOW, exists, log, relations, send, shown
from tidings.db.schema import objects


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
