"""The Pipelines rule functions that the general and the fast reading share (pure).

`parse.parse_message` and `fast.read_batch` both call these; each rule is
written once, here it is held to its table.
"""

import msgspec
import pytest

from tidings.errors import ApiError
from tidings.pipelines import parse, rules

NOW = 1_700_000_000
RECEIVED = "2023-11-14T22:13:20Z"


def refusal(call, *args):
    with pytest.raises(ApiError) as caught:
        call(*args)
    assert caught.value.status == 400 and caught.value.code == "invalid_request"
    return caught.value.message


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", None),
        ("u1", "u1"),
        (42, "42"),
        (1.5, "1.5"),
        ("é" * 75, "é" * 75),  # 150 bytes: the limit
        ("x" * 150, "x" * 150),
    ],
)
def test_ident_takes(value, expected):
    assert rules.ident(value, "userId") == expected


@pytest.mark.parametrize(
    "value, words",
    [
        (True, "userId must be a string"),
        ([1], "userId must be a string"),
        ({"a": 1}, "userId must be a string"),
        ("x" * 151, "longer than 150 bytes"),
        ("é" * 76, "longer than 150 bytes"),
    ],
)
def test_ident_refuses(value, words):
    assert words in refusal(rules.ident, value, "userId")


def test_ident_without_numbers_leaves_them_to_the_general_reading():
    assert rules.ident("u1", "userId", numbers=False) == "u1"
    assert rules.ident("", "userId", numbers=False) is None
    for number in (42, 1.5):
        message = refusal(lambda value: rules.ident(value, "userId", numbers=False), number)
        assert message == "userId must be a string"


@pytest.mark.parametrize(
    "value, outcome",
    [
        (None, None),
        ("", None),
        ("m1", "m1"),
        ("m" * 200, "m" * 200),
        ("é" * 100, "é" * 100),
        ("m" * 201, "messageId cannot be longer than 200 bytes"),
        ("é" * 101, "messageId cannot be longer than 200 bytes"),
        (5, "messageId must be a string"),
    ],
)
def test_check_message_id(value, outcome):
    if outcome is None or outcome == value:
        assert rules.check_message_id(value) == outcome
    else:
        assert refusal(rules.check_message_id, value) == outcome


def test_need_someone():
    rules.need_someone("u", None)
    rules.need_someone(None, "a")
    assert "userId or anonymousId" in refusal(rules.need_someone, None, None)


@pytest.mark.parametrize(
    "kind, name, properties, expected",
    [
        ("track", "purchase", {}, "purchase"),
        ("track", "e" * 100, {}, "e" * 100),
        ("page", "Home", {"url": "https://x.test"}, "Home"),
        ("page", None, {"url": "https://x.test"}, "https://x.test"),
        ("page", "", {"url": "https://x.test"}, "https://x.test"),
        ("page", None, {"url": 5}, ""),
        ("screen", None, {}, ""),
        ("page", " ", {}, " "),  # not empty: kept
        ("page", "p" * 300, {}, "p" * 255),  # cut to the column's size
        ("page", "é" * 128, {}, "é" * 127),  # cut on a character boundary
    ],
)
def test_event_name(kind, name, properties, expected):
    assert rules.event_name(kind, name, properties) == expected


@pytest.mark.parametrize(
    "kind, name, words",
    [
        ("track", None, "event is required"),
        ("track", "", "event is required"),
        ("track", "  ", "event is required"),
        ("track", 5, "event is required"),
        ("track", "e" * 101, "event cannot be longer than 100 bytes"),
        ("page", 5, "name must be a string"),
        ("screen", ["s"], "name must be a string"),
    ],
)
def test_event_name_refuses(kind, name, words):
    assert words in refusal(rules.event_name, kind, name, {})


def test_a_name_within_its_limit_is_the_same_object():
    """The fast reading takes a name only if it is stored as given (not cut, no URL)."""
    name = "Home"
    assert rules.event_name("page", name, {}) is name
    assert rules.event_name("track", name, {}) is name


def test_object_of():
    assert rules.object_of(None, "traits") == {}
    value = {"a": 1}
    assert rules.object_of(value, "traits") is value
    assert refusal(rules.object_of, [1], "traits") == "traits must be an object"


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({}, NOW),
        ({"timestamp": "2023-11-14T22:00:00Z"}, NOW - 800),
        ({"timestamp": NOW - 5}, NOW - 5),
        ({"timestamp": "2023-11-14T22:00:00Z", "originalTimestamp": "2023-11-14"}, NOW - 800),
        ({"originalTimestamp": "2023-11-14T22:00:00Z"}, NOW - 800),
        ({"originalTimestamp": "2023-11-14T22:00:00Z", "sentAt": "2023-11-14T22:00:30Z"}, NOW - 30),
        ({"sentAt": "2023-11-14T22:00:30Z"}, NOW),
    ],
)
def test_when(fields, expected):
    assert rules.when(fields, NOW) == expected


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"timestamp": "soon"}, "timestamp must be an ISO 8601 date-time"),
        ({"sentAt": True}, "sentAt must be an ISO 8601 date-time"),
        ({"originalTimestamp": []}, "originalTimestamp must be an ISO 8601 date-time"),
        ({"timestamp": "soon", "sentAt": "x"}, "timestamp"),  # checked in this order
        ({"context": "x"}, "context must be an object"),
        ({"integrations": [], "context": 1}, "context must be an object"),
        ({"integrations": []}, "integrations must be an object"),
        ({"context": 1, "timestamp": "soon"}, "timestamp"),  # times first
        (
            {"originalTimestamp": -(2**63), "sentAt": 2**63 - 1},
            "too far apart",
        ),
    ],
)
def test_when_refuses(fields, words):
    assert words in refusal(rules.when, fields, NOW)


def test_check_time():
    assert rules.check_time("2023-11-14T22:13:20Z", "sentAt") == NOW
    assert rules.check_time(NOW, "sentAt") == NOW
    assert refusal(rules.check_time, "later", "sentAt") == "sentAt must be an ISO 8601 date-time"


def test_document_layouts():
    raw = {"type": "track", "event": "e", "properties": {"p": 1}, "writeKey": "k", "userId": "u"}
    stored = msgspec.json.decode(rules.document("track", raw, {"p": 1}, RECEIVED))
    assert stored == {"p": 1, "_cdp": {"userId": "u", "receivedAt": RECEIVED}}
    raw = {"traits": {"a": 1}, "type": "identify", "anonymousId": "a"}
    stored = msgspec.json.decode(rules.document("identify", raw, {"traits": {"a": 1}}, RECEIVED))
    assert stored == {"traits": {"a": 1}, "_cdp": {"anonymousId": "a", "receivedAt": RECEIVED}}
    raw = {"type": "alias", "previousId": "p", "userId": "u"}
    stored = msgspec.json.decode(rules.document("alias", raw, {}, RECEIVED))
    assert stored == {"_cdp": {"previousId": "p", "userId": "u", "receivedAt": RECEIVED}}


def test_a_property_named_cdp_gives_way_to_the_envelope():
    stored = rules.document("page", {"name": "p"}, {"_cdp": 1, "a": 2}, RECEIVED)
    assert stored == b'{"_cdp":{"receivedAt":"2023-11-14T22:13:20Z"},"a":2}'


@pytest.mark.parametrize(
    "item",
    [
        {"type": "track", "event": "e", "userId": "u"},
        {"type": "track", "sentAt": None, "event": "e", "userId": "u"},
        {"type": "track", "sentAt": "own", "event": "e", "userId": "u"},
    ],
)
def test_a_batch_sent_at_is_stored_alike_inherited_by_the_item_or_its_envelope(item):
    """The general reading sets it on the item, the fast one on the stored envelope."""
    on_item = dict(item)
    rules.inherit_sent_at(on_item, "batch")
    general = rules.document("track", on_item, {}, RECEIVED)
    assert rules.document("track", dict(item), {}, RECEIVED, "batch") == general
    assert msgspec.json.decode(general)["_cdp"]["sentAt"] == (item.get("sentAt") or "batch")


def test_inherit_merges_one_level_and_keeps_the_items_own_keys():
    item = {"context": {"ip": "1"}, "integrations": "odd", "sentAt": None}
    shared = {"context": {"ip": "0", "locale": "fr"}, "integrations": {"All": True}}
    rules.inherit(item, shared, "batch")
    assert item == {
        "context": {"ip": "1", "locale": "fr"},
        "integrations": "odd",
        "sentAt": "batch",
    }
    bare = {"type": "track"}
    rules.inherit(bare, {"context": {}, "integrations": {}}, None)
    assert bare == {"type": "track"}  # empty defaults add nothing


def test_dedup_keys_and_log_types():
    assert rules.dedup_key("m1") == "cdp:m1"
    assert rules.dedup_key(None) == rules.dedup_key("") == ""
    assert rules.LOG_TYPES == {
        "identify": "identify",
        "track": "event",
        "page": "page",
        "screen": "screen",
        "group": "group",
        "alias": "alias",
    }
    for kind, key in rules.NAME_KEY.items():
        assert set(rules.NOT_ENVELOPE[kind]) == {"type", key, "properties", "writeKey"}


@pytest.mark.parametrize(
    "raw, plain",
    [
        ({"type": "track", "userId": "u", "event": "e"}, True),
        ({"type": "page", "anonymousId": "a"}, True),
        ({"type": "screen", "userId": "u", "name": "User Deleted"}, True),
        ({"type": "track", "userId": "u", "event": "User Deleted"}, False),
        ({"type": "identify", "userId": "u"}, False),
        ({"type": "alias", "userId": "u", "previousId": "p"}, False),
    ],
)
def test_plain_messages_and_their_queued_form(raw, plain):
    msg = parse.parse_message({**raw, "messageId": "m"}, NOW)
    assert msg.plain is plain
    assert msg.as_plain() == (
        msg.type,
        msg.user_id,
        msg.anonymous_id,
        "m",
        NOW,
        msg.name,
        msg.data_json,
    )
