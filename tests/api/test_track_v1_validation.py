"""Track v1 limits and malformed input: 400 with Customer.io's body, and nothing written.

Limits (BEHAVIOUR.md 2.9): ids and attribute names 150 bytes, attribute values
1000 bytes, 300 attributes per call, event names 100 bytes, event data 100,000
bytes. Errors are `{"meta":{"error": ...}}`, or `{"meta":{"errors": [...]}}`
where several problems are reported together (devices, segments, forms, metrics).
"""

import pytest
from sqlalchemy import func, select

from tidings.db.schema import events, people

EMPTY_DATA = len(b'{"k":""}')  # the encoded size of {"k": ""}


def counts(conn, ws):
    """(people, events) rows in the workspace."""
    return tuple(
        conn.execute(select(func.count()).select_from(t).where(t.c.workspace_id == ws)).scalar_one()
        for t in (people, events)
    )


def assert_error(response, *, contains=""):
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["meta"]
    meta = body["meta"]
    assert list(meta) in (["error"], ["errors"])
    message = meta.get("error") or " ".join(meta["errors"])
    assert isinstance(message, str) and message
    assert contains in message
    return message


@pytest.fixture
def nothing_written(api, query):
    """Asserts, after the test, that the workspace holds no people and no events."""
    yield
    assert query(counts, api.creds.workspace_id) == (0, 0)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/customers/" + "x" * 151, {}),
        ("/api/v1/customers/" + "%C3%A9" * 76, {}),  # 152 bytes of é
        ("/api/v1/customers/" + "x" * 151 + "/events", {"name": "e"}),
        ("/api/v1/customers/" + "x" * 151 + "/devices", {"device": {"id": "t", "platform": "ios"}}),
    ],
)
def test_ids_longer_than_150_bytes(api, nothing_written, path, body):
    method = "PUT" if not path.endswith("events") else "POST"
    assert_error(api.track(method, path, json=body), contains="150 bytes")


def test_ids_of_150_bytes_are_fine(api):
    for ident in ("x" * 150, "é" * 75):
        response = api.track("PUT", "/api/v1/customers/" + ident, json={})
        assert response.status_code == 200
        assert api.attributes(ident).status_code == 200


def test_body_id_longer_than_150_bytes(api, nothing_written):
    response = api.track("PUT", "/api/v1/customers/a@example.com", json={"id": "x" * 151})
    assert_error(response, contains="150 bytes")


def test_body_id_must_be_a_string(api, nothing_written):
    response = api.track("PUT", "/api/v1/customers/a@example.com", json={"id": ["u1"]})
    assert_error(response, contains="id attribute must be a string value")


def test_attribute_name_longer_than_150_bytes(api, nothing_written):
    response = api.track("PUT", "/api/v1/customers/u1", json={"n" * 151: 1, "ok": 1})
    assert_error(response, contains="attribute name cannot be longer than 150 bytes")


def test_attribute_value_longer_than_1000_bytes(api, nothing_written):
    response = api.track("PUT", "/api/v1/customers/u1", json={"ok": 1, "bio": "é" * 501})
    assert_error(response, contains="1000 bytes")


def test_more_than_300_attributes(api, nothing_written):
    body = {f"a{i}": i for i in range(301)}
    message = assert_error(api.track("PUT", "/api/v1/customers/u1", json=body))
    assert message == "cannot identify more than 300 attributes in one request"


def test_exactly_at_the_attribute_limits(api):
    body = {f"a{i}": i for i in range(299)} | {"n" * 150: "v" * 1000}
    assert api.track("PUT", "/api/v1/customers/u1", json=body).status_code == 200
    shown = api.attributes("u1").json()["customer"]["attributes"]
    assert shown["n" * 150] == "v" * 1000


def test_event_name_longer_than_100_bytes(api, nothing_written):
    response = api.track("POST", "/api/v1/customers/u1/events", json={"name": "é" * 51})
    assert_error(response, contains="100 bytes")
    response = api.track("POST", "/api/v1/events", json={"name": "n" * 101, "anonymous_id": "a"})
    assert_error(response, contains="100 bytes")


def test_event_data_larger_than_100000_bytes(api, nothing_written):
    data = {"k": "x" * (100_000 - EMPTY_DATA + 1)}
    response = api.track("POST", "/api/v1/customers/u1/events", json={"name": "e", "data": data})
    assert_error(response, contains="100000 bytes")
    response = api.track("POST", "/api/v1/events", json={"name": "e", "data": data})
    assert_error(response, contains="100000 bytes")


def tracked(conn, ws):
    query = select(func.count()).where(events.c.workspace_id == ws, events.c.type == "event")
    return conn.execute(query).scalar_one()


def test_exactly_at_the_event_limits(api, query):
    data = {"k": "x" * (100_000 - EMPTY_DATA)}
    body = {"name": "n" * 100, "data": data}
    assert api.track("POST", "/api/v1/customers/u1/events", json=body).status_code == 200
    assert query(tracked, api.creds.workspace_id) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name cannot be blank"),
        ({"name": "   "}, "name cannot be blank"),
        ({"name": 5}, "name must be a string"),
        ({"name": "e", "type": "click"}, "type must be one of event, page or screen"),
        ({"name": "e", "timestamp": "yesterday"}, "timestamp"),
        ({"name": "e", "data": ["not", "an", "object"]}, "data must be an object"),
        ({"name": "e", "id": {"not": "a string"}}, "id must be a string"),
    ],
)
def test_bad_events(api, nothing_written, body, message):
    assert_error(api.track("POST", "/api/v1/customers/u1/events", json=body), contains=message)
    assert_error(api.track("POST", "/api/v1/events", json=body), contains=message)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/customers/u1"),
        ("POST", "/api/v1/customers/u1/events"),
        ("POST", "/api/v1/events"),
        ("PUT", "/api/v1/customers/u1/devices"),
        ("POST", "/api/v1/merge_customers"),
        ("POST", "/api/v1/metrics"),
        ("POST", "/api/v1/push/events"),
        ("POST", "/api/v1/forms/f1/submit"),
        ("POST", "/api/v1/segments/1/add_customers"),
    ],
)
@pytest.mark.parametrize("payload", [b'{"name": "e",', b"{'single': 'quotes'}", b"\xff\xfe"])
def test_malformed_json_is_a_400(api, nothing_written, method, path, payload):
    response = api.track(
        method, path, content=payload, headers={"content-type": "application/json"}
    )
    assert_error(response, contains="malformed JSON")


@pytest.mark.parametrize("payload", [b"[]", b'"text"', b"42", b"null"])
def test_a_body_that_is_not_an_object_is_a_400(api, nothing_written, payload):
    response = api.track("PUT", "/api/v1/customers/u1", content=payload)
    assert_error(response, contains="JSON object")


def test_a_rejected_identify_leaves_no_partial_write(api, nothing_written):
    body = {
        "plan": "x",
        "cio_relationships": [
            {"identifiers": {"object_type_id": "1", "object_id": "acme"}},
            {"identifiers": {"object_type_id": "one", "object_id": "globex"}},
        ],
    }
    assert_error(api.track("PUT", "/api/v1/customers/u1", json=body))


def test_a_rejected_event_does_not_use_up_its_dedup_id(api, query):
    body = {"name": "e", "id": "evt-1", "data": {"k": "x" * 100_001}}
    assert_error(api.track("POST", "/api/v1/customers/u1/events", json=body))
    body["data"] = {"k": "ok"}
    assert api.track("POST", "/api/v1/customers/u1/events", json=body).status_code == 200
    assert query(tracked, api.creds.workspace_id) == 1


def test_a_rejected_update_leaves_the_person_as_they_were(api):
    assert api.track("PUT", "/api/v1/customers/u1", json={"plan": "a"}).status_code == 200
    body = {"plan": "b", "bio": "x" * 1001}
    assert_error(api.track("PUT", "/api/v1/customers/u1", json=body))
    assert api.attributes("u1").json()["customer"]["attributes"]["plan"] == "a"


def test_a_body_over_4_mib_is_refused(api, nothing_written):
    response = api.track(
        "PUT", "/api/v1/customers/u1", content=b'{"a":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    )
    assert response.status_code == 413
    assert isinstance(response.json()["meta"]["error"], str)


TOO_BIG = 2**63


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/v1/customers/u1", {"_timestamp": TOO_BIG}),
        ("PUT", "/api/v1/customers/u1", {"timestamp": -TOO_BIG - 1}),
        ("POST", "/api/v1/customers/u1/events", {"name": "e", "timestamp": TOO_BIG}),
        ("POST", "/api/v1/customers/u1/events", {"name": "e", "timestamp": str(TOO_BIG)}),
        ("POST", "/api/v1/customers/u1/events", {"name": "e", "timestamp": "²"}),
        ("POST", "/api/v1/events", {"name": "e", "anonymous_id": "a", "timestamp": 1e300}),
        (
            "PUT",
            "/api/v1/customers/u1/devices",
            {"device": {"id": "t", "platform": "ios", "last_used": str(TOO_BIG)}},
        ),
        ("POST", "/api/v1/metrics", {"delivery_id": "d", "metric": "opened", "timestamp": 1e19}),
        (
            "POST",
            "/api/v1/push/events",
            {"delivery_id": "d", "event": "opened", "timestamp": TOO_BIG},
        ),
    ],
)
def test_timestamps_beyond_64_bits_are_a_400(api, nothing_written, method, path, body):
    assert_error(api.track(method, path, json=body), contains="timestamp")


def test_the_largest_storable_timestamp_is_fine(api):
    body = {"name": "e", "timestamp": TOO_BIG - 1}
    assert api.track("POST", "/api/v1/customers/u1/events", json=body).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/api/v1/events", {"name": "e", "anonymous_id": "a" * 151}, "150 bytes"),
        (
            "PUT",
            "/api/v1/customers/u1/devices",
            {"device": {"id": "t" * 256, "platform": "ios"}},
            "255 bytes",
        ),
        ("POST", "/api/v1/metrics", {"delivery_id": "d" * 256, "metric": "opened"}, "255 bytes"),
        ("POST", "/api/v1/push/events", {"delivery_id": "d" * 256, "event": "opened"}, "255 bytes"),
    ],
)
def test_values_longer_than_their_columns_are_a_400(
    api, nothing_written, method, path, body, message
):
    assert_error(api.track(method, path, json=body), contains=message)


def test_longest_anonymous_id_token_and_delivery_id_are_fine(api, query):
    body = {"name": "e", "anonymous_id": "a" * 150}
    assert api.track("POST", "/api/v1/events", json=body).status_code == 200
    device = {"device": {"id": "t" * 255, "platform": "ios"}}
    assert api.track("PUT", "/api/v1/customers/u1/devices", json=device).status_code == 200
    metric = {"delivery_id": "d" * 255, "metric": "opened"}
    assert api.track("POST", "/api/v1/metrics", json=metric).status_code == 200


@pytest.mark.parametrize("segment_id", ["2147483648", "99999999999999999999", "0"])
def test_segment_ids_beyond_the_column_are_not_found(api, segment_id):
    path = f"/api/v1/segments/{segment_id}/add_customers"
    response = api.track("POST", path, json={"ids": ["u1"]})
    assert response.status_code == 404


NUL = "\u0000"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/v1/customers/u%00x", {}),
        ("PUT", "/api/v1/customers/u1", {"plan": f"a{NUL}b"}),
        ("PUT", "/api/v1/customers/u1", {f"pl{NUL}an": "a"}),
        ("PUT", "/api/v1/customers/u1", {"doc": {"nested": [NUL]}}),
        ("POST", "/api/v1/customers/u1/events", {"name": f"e{NUL}"}),
        ("POST", "/api/v1/customers/u1/events", {"name": "e", "id": f"i{NUL}"}),
        ("POST", "/api/v1/events", {"name": "e", "anonymous_id": f"a{NUL}"}),
        ("PUT", "/api/v1/customers/u1/devices", {"device": {"id": f"t{NUL}", "platform": "ios"}}),
        ("POST", "/api/v1/metrics", {"delivery_id": f"d{NUL}", "metric": "opened"}),
        ("POST", "/api/v1/forms/f%00/submit", {"data": {"email": "a@example.com"}}),
        ("POST", "/api/v1/merge_customers", {"primary": {"id": NUL}, "secondary": {"id": "b"}}),
    ],
)
def test_nul_characters_are_a_400(api, nothing_written, method, path, body):
    assert_error(api.track(method, path, json=body), contains="NUL")


def test_an_escaped_backslash_before_u0000_is_just_text(api):
    response = api.track("PUT", "/api/v1/customers/u1", content=rb'{"plan": "\\u0000"}')
    assert response.status_code == 200, response.text
    assert api.attributes("u1").json()["customer"]["attributes"]["plan"] == "\\u0000"


def test_nul_in_a_query_string_is_a_400(api):
    response = api.app("GET", "/v1/customers", params={"email": f"a{NUL}@example.com"})
    assert response.status_code == 400


@pytest.mark.parametrize("depth", [5_000, 500_000])
def test_json_nested_too_deeply_is_a_400(api, nothing_written, depth):
    nested = b"[" * depth + b"]" * depth
    response = api.track("PUT", "/api/v1/customers/u1", content=b'{"a":' + nested + b"}")
    assert_error(response, contains="nested too deeply")


def test_reasonably_nested_json_is_fine(api):
    nested = b"[" * 200 + b"]" * 200
    body = b'{"name":"e","data":{"a":' + nested + b"}}"
    assert api.track("POST", "/api/v1/customers/u1/events", content=body).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        (
            "PUT",
            "/api/v1/customers/u1/devices",
            {"device": {"id": 12345, "platform": "ios"}},
            "device.id must be a string",
        ),
        ("PUT", "/api/v1/customers/u1", {"plan": "pro", "_update": "true"}, "_update"),
        ("PUT", "/api/v1/customers/u1", {"plan": "pro", "_update": 1}, "_update"),
        ("POST", "/api/v1/customers/u1/events", {"name": "e", "timestamp": None}, "timestamp"),
        ("POST", "/api/v1/customers/u1/events", {"name": "e", "type": None}, "type"),
        ("POST", "/api/v1/events", {"name": "e", "anonymous_id": "a", "timestamp": None}, "null"),
        ("POST", "/api/v1/events", {"name": "e", "anonymous_id": "a", "type": None}, "null"),
    ],
)
def test_bodies_outside_the_schema_are_a_400(api, nothing_written, method, path, body, message):
    assert_error(api.track(method, path, json=body), contains=message)


def test_v2_refuses_a_numeric_device_token_and_a_null_timestamp(api, nothing_written):
    ops = [
        {
            "type": "person",
            "action": "add_device",
            "identifiers": {"id": "u1"},
            "device": {"token": 5, "platform": "ios"},
        },
        {
            "type": "person",
            "action": "event",
            "identifiers": {"id": "u1"},
            "name": "e",
            "timestamp": None,
        },
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": "u1"},
            "attributes": {"_update": "yes"},
        },
    ]
    for op in ops:
        response = api.track("POST", "/api/v2/entity", json=op)
        assert response.status_code == 400, (op, response.text)
