"""Track API v2 over HTTP: statuses, bodies, effects, isolation and the Python client."""

import msgspec
from customerio import CustomerIO

ACME = {"object_type_id": "1", "object_id": "acme"}


def person(action, ident="42", **rest):
    return {"type": "person", "action": action, "identifiers": {"id": ident}, **rest}


def entity(api, payload):
    return api.track("POST", "/api/v2/entity", json=payload)


def batch(api, *ops):
    return api.track("POST", "/api/v2/batch", json={"batch": list(ops)})


def raw(api, path, content):
    headers = {"content-type": "application/json"}
    return api.track("POST", path, content=content, headers=headers)


def attributes_of(api, ident, id_type="id"):
    response = api.attributes(ident, id_type)
    return response.json()["customer"]["attributes"] if response.status_code == 200 else None


def test_entity_identify_answers_empty_object(api):
    response = entity(api, person("identify", attributes={"first_name": "Jane"}))
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["content-type"].startswith("application/json")
    assert attributes_of(api, "42")["first_name"] == "Jane"


def test_entity_invalid_operation_is_a_v2_error(api):
    response = entity(api, {"type": "person", "action": "fly", "identifiers": {"id": "1"}})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "action" and error["reason"] == "invalid_request"
    assert error["message"]


def test_entity_refused_by_the_use_case_writes_nothing(api):
    for part in range(3):
        attrs = {f"k{part}_{i}": "v" * 990 for i in range(30)}
        assert (
            entity(
                api,
                {"type": "object", "action": "identify", "identifiers": ACME, "attributes": attrs},
            ).status_code
            == 200
        )
    late = {f"k3_{i}": "v" * 990 for i in range(30)}
    op = {
        "type": "object",
        "action": "identify",
        "identifiers": ACME,
        "attributes": late,
        "cio_relationships": [{"identifiers": {"id": "late"}}],
    }
    response = entity(api, op)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "attributes"
    assert attributes_of(api, "late") is None


def test_malformed_and_empty_bodies_are_400(api):
    for path in ("/api/v2/entity", "/api/v2/batch"):
        for content in (b"{not json", b""):
            response = raw(api, path, content)
            assert response.status_code == 400
            assert response.json()["errors"][0]["reason"] == "malformed_json"


def test_oversized_requests_are_400_too_large(api):
    padding = "x" * 33_000
    response = entity(api, person("identify", attributes={"pad": padding}))
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "too_large"
    ops = [person("identify", str(i), attributes={"a": "x" * 900}) for i in range(600)]
    response = batch(api, *ops)
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "too_large"
    assert attributes_of(api, "0") is None


def test_batch_must_be_a_non_empty_array(api):
    for body in ({"batch": []}, {"batch": {"type": "person"}}, {}, [person("delete")]):
        response = api.track("POST", "/api/v2/batch", json=body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["reason"] == "invalid_request"


def test_batch_all_valid_answers_empty_object(api):
    response = batch(
        api,
        person("identify", attributes={"plan": "pro"}),
        person("event", name="bought", attributes={"price": 3}),
        {
            "type": "object",
            "action": "add_relationships",
            "identifiers": ACME,
            "cio_relationships": [
                {"identifiers": {"id": "42"}, "relationship_attributes": {"role": "admin"}}
            ],
        },
        person("add_device", device={"token": "tok", "platform": "ios"}),
    )
    assert response.status_code == 200
    assert response.json() == {}
    shown = api.attributes("42").json()["customer"]
    assert shown["attributes"]["plan"] == "pro"
    assert shown["devices"][0]["id"] == "tok"


def test_batch_partly_invalid_answers_207_and_applies_the_rest(api):
    big = person("identify", "big", attributes={f"a{i}": "x" * 900 for i in range(40)})
    response = batch(
        api,
        person("identify", "a", attributes={"n": 1}),
        {"type": "person", "action": "identify", "identifiers": {"phone": "+14155552671"}},
        big,
        person("identify", "b", attributes={"n": 2}),
        person("event", "c"),
    )
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [e["batch_index"] for e in errors] == [1, 2, 4]
    assert errors[0]["field"] == "identifiers.phone"
    assert errors[1]["reason"] == "too_large"
    assert errors[2] == {
        "batch_index": 4,
        "reason": "invalid_request",
        "field": "name",
        "message": "name cannot be blank",
    }
    assert attributes_of(api, "a")["n"] == "1"
    assert attributes_of(api, "b")["n"] == "2"
    assert attributes_of(api, "big") is None
    assert attributes_of(api, "c") is None


def test_batch_with_every_item_invalid_is_still_207(api):
    response = batch(api, {"type": "thing"}, 7)
    assert response.status_code == 207
    assert [e["batch_index"] for e in response.json()["errors"]] == [0, 1]


def test_bad_credentials_are_401_in_the_v2_format(api):
    response = api.http.post("/api/v2/batch", json={"batch": [person("delete")]}, auth=("x", "y"))
    assert response.status_code == 401
    message = "unauthorized: the Track API expects HTTP Basic auth with site_id:track_api_key"
    assert response.json() == {
        "errors": [{"reason": "unauthorized", "field": "", "message": message}]
    }
    assert response.headers["www-authenticate"] == 'Basic realm="Track API"'
    assert api.http.post("/api/v2/entity", json=person("delete")).status_code == 401


def test_a_workspace_never_touches_another_workspaces_people(api, other_api):
    batch(api, person("identify", attributes={"plan": "pro"}))
    response = batch(
        other_api,
        person("delete"),
        person("identify", attributes={"plan": "free"}),
        person("event", name="x"),
    )
    assert response.status_code == 200
    assert attributes_of(api, "42")["plan"] == "pro"
    assert attributes_of(other_api, "42")["plan"] == "free"
    assert entity(other_api, person("suppress")).status_code == 200
    assert attributes_of(api, "42")["plan"] == "pro"


def test_official_python_client_batch(api, server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    creds = api.creds
    cio = CustomerIO(creds.site_id, creds.track_api_key, host=server.host, port=server.port)
    response = cio.batch(
        [
            person("identify", "py-1", attributes={"email": "py@x.io", "plan": "pro"}),
            person("event", "py-1", name="signed_up", attributes={"via": "sdk"}),
        ]
    )
    assert response.status_code == 200
    assert msgspec.json.decode(response.content) == {}
    shown = api.attributes("py@x.io", "email").json()["customer"]
    assert shown["id"] == "py-1" and shown["attributes"]["plan"] == "pro"


def test_a_timestamp_past_64_bits_is_a_400_in_the_v2_format(api):
    operation = {
        "type": "person",
        "identifiers": {"id": "big-ts"},
        "action": "event",
        "name": "x",
        "timestamp": 2**64,
    }
    response = api.track("POST", "/api/v2/entity", json=operation)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "timestamp"
