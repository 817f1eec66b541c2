"""Data-driven segments follow Track and Pipelines writes in real time (embedded worker).

Each test waits for the segment's first build before it changes anything: a
change made earlier would be picked up by that build, and the test would pass
without real-time marking (`segments/dirty.mark`).
"""

from __future__ import annotations

import base64

from tests.support import eventually


def _member_ids(api, segment_id):
    response = api.app("GET", f"/v1/segments/{segment_id}/membership")
    assert response.status_code == 200
    return sorted(response.json()["ids"])


def _create_built(api, conditions):
    """A new dynamic segment, once its first build has finished (with no members)."""
    body = {"segment": {"name": "live", "conditions": conditions}}
    response = api.app("POST", "/v1/segments", json=body)
    assert response.status_code == 200, response.text
    segment_id = response.json()["segment"]["id"]
    eventually(
        lambda: api.app("GET", f"/v1/segments/{segment_id}").json()["segment"]["state"]
        == "finished"
    )
    assert _member_ids(api, segment_id) == []
    return segment_id


def test_people_enter_and_leave_as_their_attributes_change(api):
    condition = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    segment_id = _create_built(api, condition)
    assert api.track("PUT", "/api/v1/customers/rt1", json={"plan": "pro"}).status_code == 200
    eventually(lambda: _member_ids(api, segment_id) == ["rt1"])
    assert api.track("PUT", "/api/v1/customers/rt1", json={"plan": "free"}).status_code == 200
    eventually(lambda: _member_ids(api, segment_id) == [])


def test_a_tracked_event_puts_its_person_in(api):
    segment_id = _create_built(api, {"event": {"name": "purchase"}})
    response = api.track("POST", "/api/v1/customers/rt2/events", json={"name": "purchase"})
    assert response.status_code == 200
    eventually(lambda: _member_ids(api, segment_id) == ["rt2"])


def test_a_pipelines_track_call_puts_its_person_in(api):
    segment_id = _create_built(api, {"event": {"name": "Signed Up"}})
    key = base64.b64encode(f"{api.creds.cdp_write_key}:".encode()).decode()
    message = {"userId": "rt3", "event": "Signed Up", "messageId": "m-rt3"}
    response = api.http.post("/v1/track", json=message, headers={"Authorization": f"Basic {key}"})
    assert response.status_code == 200
    eventually(lambda: _member_ids(api, segment_id) == ["rt3"])
