"""Dynamic segments over HTTP: create with conditions, update, count and membership.

Tests build a segment by calling `membership.build_segment` through the `tx`
fixture, as the segment worker does; when the test server runs a worker of
its own, either may build first, and a build run twice changes nothing.
"""

from __future__ import annotations

import contextlib
import time

from sqlalchemy.exc import IntegrityError

from tests.support import eventually
from tidings.segments import membership

PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def error(response, status=400):
    assert response.status_code == status, response.text
    return response.json()["meta"]["error"]


def identify(api, raw, body):
    ok(api.track("PUT", f"/api/v1/customers/{raw}", json=body))


def build(api, tx, segment_id):
    # IntegrityError: the server's own worker inserted the same members first.
    with contextlib.suppress(IntegrityError):
        tx(membership.build_segment, api.creds.workspace_id, segment_id, int(time.time()))

    def finished():
        return ok(api.app("GET", f"/v1/segments/{segment_id}"))["segment"]["state"] == "finished"

    eventually(finished)


def create(api, conditions=PRO, name="Pros"):
    body = {"segment": {"name": name, "conditions": conditions}}
    return ok(api.app("POST", "/v1/segments", json=body))["segment"]


def test_create_with_conditions_is_dynamic_and_queued(api):
    created = create(api)
    assert created["type"] == "dynamic"
    assert (created["state"], created["progress"]) == ("build_queued", 0)
    assert created["conditions"] == PRO
    shown = ok(api.app("GET", f"/v1/segments/{created['id']}"))["segment"]
    assert (shown["id"], shown["type"], shown["conditions"]) == (created["id"], "dynamic", PRO)
    manual = ok(api.app("POST", "/v1/segments", json={"segment": {"name": "M"}}))["segment"]
    assert manual["type"] == "manual" and "conditions" not in manual


def test_a_bad_condition_is_a_400_naming_its_path(api):
    bad = {"and": [{"attribute": {"field": "plan", "operator": "equals", "value": "x"}}]}
    message = error(
        api.app("POST", "/v1/segments", json={"segment": {"name": "X", "conditions": bad}})
    )
    assert message.startswith("segment.conditions.and[0].attribute.operator")
    assert ok(api.app("GET", "/v1/segments")) == {"segments": []}


def test_put_updates_and_requeues_on_new_conditions(api, tx):
    seg = create(api)
    build(api, tx, seg["id"])
    path = f"/v1/segments/{seg['id']}"
    renamed = ok(api.app("PUT", path, json={"segment": {"name": "Pro plan", "tags": ["x"]}}))
    assert renamed["segment"]["name"] == "Pro plan"
    assert (renamed["segment"]["state"], renamed["segment"]["progress"]) == ("finished", None)
    other = {"attribute": {"field": "plan", "operator": "exists"}}
    changed = ok(api.app("PUT", path, json={"segment": {"conditions": other}}))["segment"]
    assert (changed["state"], changed["conditions"]) == ("build_queued", other)
    message = error(api.app("PUT", path, json={"segment": {"conditions": {"nope": {}}}}))
    assert message.startswith("segment.conditions.nope")
    error(api.app("PUT", "/v1/segments/999999", json={"segment": {"name": "x"}}), 404)


def test_count_and_membership_after_a_build(api, tx):
    identify(api, "u1", {"email": "u1@x.test", "plan": "pro"})
    identify(api, "u2", {"plan": "free"})
    identify(api, "u3", {"plan": "pro"})
    seg = create(api)
    path = f"/v1/segments/{seg['id']}"
    build(api, tx, seg["id"])
    assert ok(api.app("GET", path + "/customer_count")) == {"segment_id": seg["id"], "count": 2}
    body = ok(api.app("GET", path + "/membership"))
    assert body["ids"] == ["u1", "u3"]
    assert body["identifiers"][0]["email"] == "u1@x.test"
    shown = ok(api.app("GET", path))["segment"]
    assert (shown["state"], shown["progress"]) == ("finished", None)


def test_dynamic_segments_cannot_be_deleted_or_edited_by_hand(api):
    seg = create(api)
    path = f"/v1/segments/{seg['id']}"
    assert "dynamic" in error(api.app("DELETE", path))
    add = api.track("POST", f"/api/v1/segments/{seg['id']}/add_customers", json={"ids": ["u1"]})
    assert add.status_code == 400
    assert ok(api.app("GET", path))["segment"]["id"] == seg["id"]


def test_isolation(api, other_api, tx):
    identify(api, "u1", {"plan": "pro"})
    identify(other_api, "u1", {"plan": "pro"})
    identify(other_api, "u2", {"plan": "pro"})
    seg = create(api)
    now = int(time.time())
    unchanged = tx(membership.build_segment, other_api.creds.workspace_id, seg["id"], now)
    assert unchanged == membership.Changes()
    build(api, tx, seg["id"])
    path = f"/v1/segments/{seg['id']}"
    assert ok(api.app("GET", path + "/customer_count"))["count"] == 1
    for suffix in ("", "/customer_count", "/membership"):
        error(other_api.app("GET", path + suffix), 404)
    error(other_api.app("PUT", path, json={"segment": {"name": "mine"}}), 404)
    assert ok(api.app("GET", path))["segment"]["name"] == "Pros"
