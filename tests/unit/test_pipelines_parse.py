"""Segment message parsing and validation (pure): pipelines.parse and pipelines.semantic."""

import msgspec
import pytest

from tidings.errors import ApiError
from tidings.pipelines import parse
from tidings.pipelines.parse import parse_message
from tidings.pipelines.rules import parse_time

NOW = 1_700_000_000


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("2023-11-14T22:13:20Z", NOW),
        ("2023-11-14T22:13:20.633+00:00", NOW),
        ("2023-11-15T00:13:20+02:00", NOW),
        ("2023-11-14T17:13:20.123456789-05:00", NOW),
        ("2023-11-14T22:13:20", NOW),  # no offset: UTC
        ("2023-11-14", NOW - (22 * 3600 + 13 * 60 + 20)),
        (NOW, NOW),
        (NOW + 0.9, NOW),
        ("yesterday", None),
        ("", None),
        (True, None),
        ([], None),
        (float("inf"), None),
    ],
)
def test_parse_time(value, seconds):
    assert parse_time(value) == seconds


def message(**fields):
    return {"type": "track", "userId": "u1", "event": "e", **fields}


def refused(raw, field_hint=""):
    with pytest.raises(ApiError) as caught:
        parse_message(raw, NOW)
    assert caught.value.status == 400
    assert field_hint in caught.value.message
    return caught.value


@pytest.mark.parametrize(
    "raw, hint",
    [
        ("track", "JSON object"),
        ({"userId": "u1", "event": "e"}, "type"),
        (message(type="launch"), "type"),
        (message(userId=None), "userId or anonymousId"),
        (message(userId=True), "userId"),
        (message(userId={"a": 1}), "userId"),
        (message(userId="x" * 151), "userId"),
        (message(anonymousId=["a"]), "anonymousId"),
        (message(event=""), "event"),
        (message(event=None), "event"),
        (message(event=5), "event"),
        (message(event="e" * 101), "event"),
        (message(messageId=5), "messageId"),
        (message(messageId="m" * 201), "messageId"),
        (message(timestamp="tomorrow"), "timestamp"),
        (message(sentAt="x"), "sentAt"),
        (message(originalTimestamp=[]), "originalTimestamp"),
        (message(context="ctx"), "context"),
        (message(integrations=[]), "integrations"),
        (message(properties=[1]), "properties"),
        ({"type": "page", "userId": "u", "name": 5}, "name"),
        ({"type": "identify", "traits": {"a": 1}}, "userId or anonymousId"),
        ({"type": "identify", "userId": "u", "traits": "x"}, "traits"),
        ({"type": "identify", "userId": "u", "traits": {"a" * 151: 1}}, "150 bytes"),
        ({"type": "identify", "userId": "u", "traits": {"a": "v" * 1001}}, "1000 bytes"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "group", "groupId": "g", "traits": {"object_type_id": "x"}}, "object_type_id"),
        (
            {"type": "group", "groupId": "g", "traits": {"relationshipAttributes": 1}},
            "relationship",
        ),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "alias", "previousId": "p"}, "previousId"),
    ],
)
def test_invalid_messages(raw, hint):
    refused(raw, hint)


def test_numbers_are_ids_and_empty_ids_are_absent():
    parsed = parse_message(message(userId=42, anonymousId=""), NOW)
    assert (parsed.user_id, parsed.anonymous_id) == ("42", None)


def test_the_endpoint_sets_the_type():
    parsed = parse_message({"type": "identify", "userId": "u", "event": "e"}, NOW, "track")
    assert parsed.type == "track" and parsed.event_type == "event"


def test_the_stored_layout_keeps_every_key():
    raw = message(
        properties={"price": 1},
        context={"ip": "1.2.3.4"},
        integrations={"All": True},
        messageId="m1",
        timestamp="2023-11-14T22:13:20Z",
        sentAt="2023-11-14T22:13:21Z",
        originalTimestamp="2023-11-14T22:13:19Z",
        custom={"nested": [1]},
        writeKey="secret",
    )
    parsed = parse_message(raw, NOW + 5)
    data = msgspec.json.decode(parsed.data_json)
    envelope = data.pop("_cdp")
    assert data == {"price": 1}
    expected = {
        k: v for k, v in raw.items() if k not in ("type", "event", "properties", "writeKey")
    }
    assert envelope == {**expected, "receivedAt": "2023-11-14T22:13:25Z"}
    assert (parsed.timestamp, parsed.dedup_key) == (NOW, "cdp:m1")


def test_identify_and_group_layouts():
    ident = parse_message({"type": "identify", "userId": "u", "traits": {"a": 1}}, NOW)
    assert msgspec.json.decode(ident.data_json)["traits"] == {"a": 1}
    traits = {"name": "Acme", "object_type_id": 3, "relationshipAttributes": {"role": "x"}}
    group = parse_message({"type": "group", "groupId": 7, "traits": traits}, NOW)
    assert group.group is not None
    assert (group.group.ref.type_id, group.group.ref.object_id) == ("3", "7")
    assert group.group.attributes == {"name": "Acme"}
    assert group.group.relationship == {"role": "x"}
    assert (group.name, group.user_id) == ("7", None)  # a group needs no person


@pytest.mark.parametrize(
    "fields, when",
    [
        ({}, NOW),
        ({"timestamp": "2023-11-14T22:00:00Z"}, NOW - 800),
        ({"originalTimestamp": "2023-11-14T22:00:00Z"}, NOW - 800),
        ({"originalTimestamp": "2023-11-14T22:00:00Z", "sentAt": "2023-11-14T22:00:30Z"}, NOW - 30),
        (
            {"timestamp": 1, "originalTimestamp": "2023-11-14T22:00:00Z", "sentAt": NOW},
            1,
        ),
    ],
)
def test_when_a_message_happened(fields, when):
    assert parse_message(message(**fields), NOW).timestamp == when


def test_page_names():
    assert parse_message({"type": "page", "userId": "u", "name": "Home"}, NOW).name == "Home"
    url = "https://x.test/" + "é" * 200
    named = parse_message({"type": "page", "userId": "u", "properties": {"url": url}}, NOW).name
    assert url.startswith(named) and len(named.encode()) <= 255
    assert parse_message({"type": "screen", "anonymousId": "a"}, NOW).name == ""


@pytest.mark.parametrize(
    "raw, action",
    [
        (
            message(event="Device Created or Updated", context={"device": {"token": "t"}}),
            "device_upsert",
        ),  # noqa: E501
        (message(event="Device Deleted", context={"device": {"token": "t"}}), "device_delete"),
        (message(event="User Deleted"), "delete"),
        (message(event="User Suppressed"), "suppress"),
        (message(event="User Unsuppressed"), "unsuppress"),
        (
            message(event="Relationship Deleted", properties={"objectId": "o"}),
            "relationship_delete",
        ),  # noqa: E501
        (
            {"type": "track", "event": "Object Deleted", "properties": {"objectId": 1}},
            "object_delete",
        ),  # noqa: E501
        (message(event="device created or updated"), None),  # names are exact
    ],
)
def test_semantic_events(raw, action):
    parsed = parse_message(raw, NOW)
    assert (parsed.semantic.action if parsed.semantic else None) == action


def test_a_device_event_carries_its_device():
    context = {"device": {"token": "t", "type": "iOS", "model": "X", "id": "dev-1"}}
    parsed = parse_message(
        message(event="Device Created or Updated", context=context, properties={"v": 2}), NOW
    )
    assert parsed.semantic is not None and parsed.semantic.device is not None
    device = parsed.semantic.device
    assert (device.token, device.platform, device.last_used) == ("t", "ios", NOW)
    assert device.attributes == {"model": "X", "v": "2"}


@pytest.mark.parametrize(
    "raw, hint",
    [
        ({"type": "track", "anonymousId": "a", "event": "User Deleted"}, "userId"),
        (message(event="Device Deleted"), "context.device.token"),
        (message(event="Device Deleted", context={"device": {"token": ""}}), "token"),
        (
            message(
                event="Device Created or Updated", context={"device": {"token": "t", "type": "web"}}
            ),
            "type",
        ),  # noqa: E501
        (message(event="Relationship Deleted"), "objectId"),
        (
            message(event="Object Deleted", properties={"objectId": "o", "objectTypeId": "x"}),
            "object_type_id",
        ),  # noqa: E501
    ],
)
def test_invalid_semantic_events(raw, hint):
    refused(raw, hint)


def test_batch_items_take_the_batch_defaults():
    body = {
        "batch": [
            {"type": "track", "context": {"ip": "1"}, "integrations": None},
            {"type": "track", "sentAt": "own", "integrations": {"X": False}},
            "not an object",
        ],
        "context": {"ip": "0", "locale": "fr"},
        "integrations": {"All": True},
        "sentAt": "batch",
    }
    first, second, third = parse.batch_items(body)
    assert first["context"] == {"ip": "1", "locale": "fr"}
    assert first["integrations"] == {"All": True} and first["sentAt"] == "batch"
    assert second["context"] == {"ip": "0", "locale": "fr"}
    assert second["integrations"] == {"All": True, "X": False} and second["sentAt"] == "own"
    assert third == "not an object"


@pytest.mark.parametrize(
    "body", [[], {"batch": {}}, {"batch": None}, {"batch": [], "context": "x"}, "x"]
)
def test_invalid_batches(body):
    with pytest.raises(ApiError):
        parse.batch_items(body)


def test_size_checks():
    parse.check_size(parse.MESSAGE_LIMIT, parse.MESSAGE_LIMIT, "a message")
    with pytest.raises(ApiError) as caught:
        parse.check_size(parse.MESSAGE_LIMIT + 1, parse.MESSAGE_LIMIT, "a message")
    assert (caught.value.status, caught.value.code) == (413, "too_large")
