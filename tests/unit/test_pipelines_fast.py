"""The fast `/v1/batch` reading (pipelines.fast) against the general one (pure).

Whatever body it is given, the fast reading either declines (None) or gives
what the general reading gives: the same queued events, each stored document
decoding to the same value with its keys in the same order.
"""

import json

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tidings.api.pipelines import messages
from tidings.pipelines import fast, ingest
from tidings.pipelines.rejections import Rejected

NOW = 1_795_716_000  # 2026-11-26T18:00:00Z
SDK_ITEM = (
    '{{"type":"track","integrations":{{}},"anonymousId":null,'
    '"context":{{"library":{{"name":"analytics-python","version":"1.1.0"}}}},'
    '"userId":"u{n}","event":"purchase","properties":{{"price":9.5,"sku":"A-1"}},'
    '"timestamp":"2026-11-26T18:00:00.{n:03d}+00:00","messageId":"m-{n}"}}'
)


def sdk_batch(count=3):
    items = ",".join(SDK_ITEM.format(n=n) for n in range(count))
    return f'{{"batch":[{items}],"sentAt":"2026-11-26T18:00:01.5+00:00"}}'.encode()


def general(body):
    """The general reading of a non-strict request, as queued; None if it refuses anything."""
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, ValueError):  # invalid UTF-8 is a UnicodeDecodeError
        return None
    items = messages(decoded, len(body), None, NOW)
    if any(isinstance(item, Rejected) for item in items) or not ingest.only_plain_events(items):
        return None
    return ingest.plain_items(items)


def same_reading(fast_items, general_items):
    assert len(fast_items) == len(general_items)
    for mine, theirs in zip(fast_items, general_items, strict=True):
        assert mine[:6] == theirs[:6]
        # the same value with its keys in the same order (the text may differ in spacing)
        assert msgspec.json.encode(msgspec.json.decode(mine[6])) == msgspec.json.encode(
            msgspec.json.decode(theirs[6])
        )


def test_an_sdk_batch_takes_the_fast_reading():
    body = sdk_batch()
    items = fast.read_batch(body, NOW).plain
    assert items is not None and len(items) == 3
    same_reading(items, general(body))
    kind, user_id, anonymous_id, message_id, when, name, data = items[1]
    assert (kind, user_id, anonymous_id, message_id, name) == (
        "track",
        "u1",
        None,
        "m-1",
        "purchase",
    )
    assert when == NOW
    stored = json.loads(data)
    assert stored["price"] == 9.5
    assert stored["_cdp"]["sentAt"] == "2026-11-26T18:00:01.5+00:00"  # the batch's
    assert stored["_cdp"]["receivedAt"] == "2026-11-26T18:00:00Z"
    assert list(stored["_cdp"]) == [
        "integrations",
        "anonymousId",
        "context",
        "userId",
        "timestamp",
        "messageId",
        "sentAt",
        "receivedAt",
    ]


def test_it_declines_what_the_general_reading_must_judge():
    one = json.loads(sdk_batch(1))
    declined = [
        b"not json",
        b"[]",
        b'{"batch": {}}',
        json.dumps({**one, "context": {"ip": "1.2.3.4"}}).encode(),  # merged into each item
        json.dumps({"batch": [{**one["batch"][0], "type": "identify"}]}).encode(),
        json.dumps({"batch": [{**one["batch"][0], "event": "User Deleted"}]}).encode(),
        json.dumps({"batch": [{**one["batch"][0], "userId": 42}]}).encode(),  # a number
        json.dumps({"batch": [{**one["batch"][0], "properties": [1]}]}).encode(),
        json.dumps({"batch": [{**one["batch"][0], "timestamp": "soon"}]}).encode(),
        json.dumps({"batch": [{**one["batch"][0], "event": "x\u0000"}]}).encode(),
        json.dumps({"batch": [{**one["batch"][0], "big": "x" * 17_000}] * 2}).encode(),
        json.dumps({"batch": [{**one["batch"][0], "writeKey": "k"}]}).encode(),
        b'{"batch":[{"type":"track","userId":"u","event":"e","properties":{"a":1e400}}]}',
        b'{"batch":[{"type":"track","userId":"u","event":"e"}],"x":"\xff"}',
        b'{"batch":[{"type":"track","userId":"u\xff","event":"e"}]}',
        b'{"batch":[{"type":"track","userId":"u","event":"e","p":"\\ud800"}]}',
    ]
    for body in declined:
        assert fast.read_batch(body, NOW).plain is None, body[:80]


def test_a_body_left_to_the_general_reading_is_handed_over_decoded():
    body = json.loads(sdk_batch(2))
    body["batch"][1] = {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}
    read = fast.read_batch(json.dumps(body).encode(), NOW)
    assert read.plain is None and read.body == body
    assert fast.read_batch(b"{", NOW) == (
        None,
        None,
    )  # nothing decoded: the general reading says why


def test_the_stored_document_is_encoded_as_the_general_reading_encodes_it():
    """Not the client's text: numbers respelt, a repeated key once (SQLite's JSON
    functions would read the first of two, the general reading keeps the last)."""
    body = (
        b'{"batch":[{"type":"track","userId":"u","event":"e",'
        b'"properties":{"plan":"free","n":1E2,"plan":"pro","s":"\\u00e9"},'
        b'"context":{"a":1,"a":2}}]}'
    )
    mine, theirs = fast.read_batch(body, NOW).plain, general(body)
    assert mine is not None and theirs is not None
    assert mine[0][6] == theirs[0][6]
    assert mine[0][6].startswith(
        '{"plan":"pro","n":100.0,"s":"é","_cdp":{"userId":"u","context":{"a":2}'
    )


def _json_text(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
properties = st.dictionaries(
    st.sampled_from(["a", "b", "_cdp", "url", "ip"]), json_values, max_size=3
)


def mostly(usual, odd):
    """Usually a value the SDKs send, now and then one the general reading must judge."""
    return st.integers(0, 15).flatmap(lambda n: odd if n == 0 else usual)


ids = mostly(st.text(min_size=1, max_size=8), st.sampled_from(["", "é" * 80, 42, None]))
times = mostly(
    st.sampled_from(["2026-11-26T18:00:00Z", "2026-11-26T19:00:00.250+01:00", "2026-11-26"]),
    st.sampled_from(["soon", "", 1_795_716_000, None]),
)
names = mostly(
    st.text(min_size=1, max_size=10),
    st.sampled_from([" ", "", "Device Deleted", "User Deleted", "x" * 101, "y" * 256, None, 7]),
)
objects = mostly(properties, st.sampled_from([{}, None, [1], "x"]))
KEYS = {
    "userId": ids,
    "anonymousId": ids,
    "messageId": ids,
    "event": names,
    "name": names,
    "timestamp": times,
    "sentAt": times,
    "originalTimestamp": times,
    "context": objects,
    "integrations": objects,
    "properties": objects,
    "receivedAt": times,
    "writeKey": st.text(max_size=4),
    "custom": json_values,
}
USUAL = {"userId", "event", "name", "timestamp", "context", "properties", "messageId"}


@st.composite
def items(draw):
    kind = draw(
        mostly(st.sampled_from(["track", "page", "screen"]), st.sampled_from(["identify", 3]))
    )
    pairs = [("type", kind)]
    for key, values in KEYS.items():
        if draw(st.integers(0, 9)) < (8 if key in USUAL else 2):
            pairs.append((key, draw(values)))
    pairs = draw(st.permutations(pairs))
    if draw(st.integers(0, 9)) == 0:  # a key given twice: the last one counts
        key, _ = pairs[0]
        pairs.append((key, draw(KEYS.get(key, st.just("track")))))
    space = draw(st.sampled_from(["", "", " ", "\n  "]))
    ascii_only = draw(st.booleans())
    members = [
        f"{json.dumps(key)}:{space}{json.dumps(value, ensure_ascii=ascii_only)}"
        for key, value in pairs
    ]
    return "{" + ("," + space).join(members) + "}"


@st.composite
def batches(draw):
    body = ['"batch":[' + ",".join(draw(st.lists(items(), min_size=1, max_size=3))) + "]"]
    batch_level = (("sentAt", times), ("context", objects), ("integrations", objects))
    for key, values in batch_level:
        if draw(st.integers(0, 5)) == 0:
            body.append(f"{json.dumps(key)}:{_json_text(draw(values))}")
    return ("{" + ",".join(draw(st.permutations(body))) + "}").encode()


@settings(max_examples=600, deadline=None)
@given(batches())
@example(sdk_batch(2))
@example(b'{"batch":[{"type":"track","userId":"u","event":"e","properties":{"_cdp":1,"a":2}}]}')
@example(b'{"batch":[{"type":"page","userId":"u","name":"p","properties": { } }]}')
@example(
    b'{"batch":[{"type":"track","userId":"u","event":"e","sentAt":null}],"sentAt":"2026-11-26"}'
)
def test_the_fast_reading_is_the_general_one(body):
    mine = fast.read_batch(body, NOW).plain
    if mine is None:
        return
    theirs = general(body)
    assert theirs is not None, "the fast reading took a request the general one refuses"
    same_reading(mine, theirs)
