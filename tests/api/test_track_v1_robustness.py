"""No JSON a client can send makes a Track v1 endpoint answer 5xx.

Every field of every v1 body is replaced in turn by awkward JSON values
(wrong types, huge numbers, long text, nesting). Each answer must be a 2xx
or a 4xx, never a 500: a 500 means a value slipped past validation into the
database or the code.
"""

import pytest

AWKWARD = [None, True, 0, -1, 1.5, 2**70, "", "x", "é" * 200, [], [1], {}, {"a": 1}, "1e3", " 12 "]

# (method, path, a valid body, the fields to spoil)
ROUTES = [
    (
        "PUT",
        "/api/v1/customers/u1",
        {"plan": "pro"},
        ["id", "email", "_timestamp", "_update", "cio_id", "anonymous_id", "created_at"]
        + ["unsubscribed", "cio_subscription_preferences.topics.t1", "cio_relationships"],
    ),
    (
        "POST",
        "/api/v1/customers/u1/events",
        {"name": "e"},
        ["name", "type", "data", "id", "timestamp"],
    ),
    (
        "POST",
        "/api/v1/events",
        {"name": "e", "anonymous_id": "a1"},
        ["name", "anonymous_id", "data", "id", "timestamp", "type"],
    ),
    ("PUT", "/api/v1/customers/u1/devices", {"device": {"id": "t", "platform": "ios"}}, []),
    (
        "POST",
        "/api/v1/merge_customers",
        {"primary": {"id": "a"}, "secondary": {"id": "b"}},
        ["primary", "secondary"],
    ),
    (
        "POST",
        "/api/v1/metrics",
        {"delivery_id": "d", "metric": "opened"},
        ["delivery_id", "metric", "timestamp", "recipient", "href", "reason"],
    ),
    (
        "POST",
        "/api/v1/push/events",
        {"delivery_id": "d", "event": "opened"},
        ["delivery_id", "event", "device_id", "timestamp"],
    ),
    ("POST", "/api/v1/forms/f1/submit", {"data": {"email": "a@example.com"}}, ["data"]),
    ("POST", "/api/v1/segments/{segment}/add_customers", {"ids": ["u1"]}, ["ids"]),
]


def spoiled(valid, fields):
    """The valid body with each field, in turn, set to each awkward value."""
    for field in fields:
        for value in AWKWARD:
            yield {**valid, field: value}


def nested(path, value):
    """Awkward values one level down, where the top-level field is an object or list."""
    if path.endswith("/devices"):
        for key in ("id", "platform", "last_used", "attributes"):
            yield {"device": {"id": "t", "platform": "ios", key: value}}
        yield {"device": value}
    elif "merge_customers" in path:
        yield {"primary": {"id": value}, "secondary": {"email": value}}
        yield {"primary": {"cio_id": value}, "secondary": {"id": "b"}}
    elif "/forms/" in path:
        yield {"data": {"email": "a@example.com", "x": value}}
        yield {"data": {"id": value}}
    elif "add_customers" in path:
        yield {"ids": [value]}
    elif path == "/api/v1/customers/u1":
        yield {"cio_relationships": [value]}
        yield {"cio_relationships": {"action": value, "relationships": []}}
        yield {"cio_relationships": {"relationships": [{"identifiers": value}]}}
        ids = {"object_type_id": value, "object_id": value}
        yield {"cio_relationships": [{"identifiers": ids, "relationship_attributes": value}]}
        yield {"plan": value, "doc": {"k": value}}
    else:
        yield {"name": "e", "data": {"k": value}}


@pytest.mark.parametrize(
    ("method", "path", "valid", "fields"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_awkward_json_never_causes_a_5xx(api, method, path, valid, fields):
    if "{segment}" in path:
        created = api.app("POST", "/v1/segments", json={"segment": {"name": "s"}})
        path = path.format(segment=created.json()["segment"]["id"])
    bodies = list(spoiled(valid, fields))
    bodies += [body for value in AWKWARD for body in nested(path, value)]
    failures = []
    for body in bodies:
        response = api.track(method, path, json=body)
        if response.status_code >= 500:
            failures.append((body, response.status_code, response.text))
    assert failures == []
