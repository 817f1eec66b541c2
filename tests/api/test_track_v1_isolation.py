"""No key of one workspace reads or changes another's data (DESIGN.md, "isolation").

`api` is workspace A, `other_api` workspace B. Every test sets A up, lets B's
keys do their worst with the same identifiers, then checks A is untouched.
"""

import pytest

from tests.api.test_track_v1_operations import activities, assert_ok, customer


@pytest.fixture
def alice(api):
    """Workspace A's person u1, with an email, an event and a device."""
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"email": "a@example.com", "p": 1}))
    body = {"name": "purchase", "id": "evt-shared"}
    assert_ok(api.track("POST", "/api/v1/customers/u1/events", json=body))
    device = {"device": {"id": "tok-shared", "platform": "ios"}}
    assert_ok(api.track("PUT", "/api/v1/customers/u1/devices", json=device))
    return customer(api, "u1")


def assert_untouched(api, alice):
    now = customer(api, "u1")
    assert now["identifiers"] == alice["identifiers"]
    assert now["attributes"] == alice["attributes"]
    assert now["devices"] == alice["devices"]
    assert [a["name"] for a in activities(api, "u1")] == ["purchase"]


def test_the_same_identifiers_elsewhere_are_other_people(api, other_api, alice):
    assert_ok(other_api.track("PUT", "/api/v1/customers/u1", json={"p": 2, "email": "b@x.io"}))
    assert_ok(other_api.track("PUT", "/api/v1/customers/a@example.com", json={"p": 3}))
    assert_untouched(api, alice)
    theirs = customer(other_api, "u1")
    assert theirs["identifiers"]["cio_id"] != alice["identifiers"]["cio_id"]


def test_another_workspace_cannot_read(api, other_api, alice):
    assert other_api.attributes("u1").status_code == 404
    assert other_api.attributes("a@example.com", "email").status_code == 404
    cio_id = alice["identifiers"]["cio_id"]
    assert other_api.attributes(cio_id, "cio_id").status_code == 404
    response = other_api.app("GET", "/v1/customers", params={"email": "a@example.com"})
    assert response.json() == {"results": []}
    response = other_api.app("GET", "/v1/customers/u1/activities")
    assert response.status_code == 404


def test_another_workspace_cannot_delete_or_suppress(api, other_api, alice):
    cio = f"cio_{alice['identifiers']['cio_id']}"
    for path in ("u1", "a@example.com", cio):
        assert_ok(other_api.track("DELETE", "/api/v1/customers/" + path))
        assert_ok(other_api.track("POST", f"/api/v1/customers/{path}/suppress", json={}))
    assert_untouched(api, alice)
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"still": "here"}))
    assert customer(api, "u1")["attributes"]["still"] == "here"


def test_another_workspace_cannot_lift_a_suppression(api, other_api):
    assert_ok(api.track("POST", "/api/v1/customers/u9/suppress", json={}))
    assert_ok(other_api.track("POST", "/api/v1/customers/u9/unsuppress", json={}))
    assert_ok(api.track("PUT", "/api/v1/customers/u9", json={}))
    assert api.attributes("u9").status_code == 404


def test_another_workspace_cannot_touch_devices(api, other_api, alice):
    device = {"device": {"id": "tok-shared", "platform": "android"}}
    assert_ok(other_api.track("PUT", "/api/v1/customers/u1/devices", json=device))
    assert_ok(other_api.track("DELETE", "/api/v1/customers/u1/devices/tok-shared"))
    assert_ok(other_api.track("PUT", "/api/v1/customers/u2/devices", json=device))
    assert_untouched(api, alice)


def test_another_workspace_cannot_merge_my_people(api, other_api, alice):
    assert_ok(other_api.track("PUT", "/api/v1/customers/keep", json={}))
    for secondary in ({"id": "u1"}, {"email": "a@example.com"}):
        body = {"primary": {"id": "keep"}, "secondary": secondary}
        assert_ok(other_api.track("POST", "/api/v1/merge_customers", json=body))
    body = {"primary": {"id": "u1"}, "secondary": {"id": "keep"}}
    assert_ok(other_api.track("POST", "/api/v1/merge_customers", json=body))
    assert_untouched(api, alice)
    assert customer(other_api, "keep")["attributes"] == {
        "id": "keep",
        "cio_id": customer(other_api, "keep")["identifiers"]["cio_id"],
    }


def test_event_ids_and_anonymous_ids_are_per_workspace(api, other_api, alice):
    body = {"name": "purchase", "id": "evt-shared"}
    assert_ok(other_api.track("POST", "/api/v1/customers/u1/events", json=body))
    assert [a["name"] for a in activities(other_api, "u1")] == ["purchase"]
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"anonymous_id": "anon-x"}))
    alice = customer(api, "u1")
    anonymous = {"name": "theirs", "anonymous_id": "anon-x"}
    assert_ok(other_api.track("POST", "/api/v1/events", json=anonymous))
    assert_untouched(api, alice)


def test_another_workspace_cannot_use_my_segments(api, other_api, alice):
    created = api.app("POST", "/v1/segments", json={"segment": {"name": "mine"}})
    segment_id = created.json()["segment"]["id"]
    path = f"/api/v1/segments/{segment_id}"
    assert_ok(api.track("POST", path + "/add_customers", json={"ids": ["u1"]}))
    assert_ok(other_api.track("PUT", "/api/v1/customers/u1", json={}))
    response = other_api.track("POST", path + "/add_customers", json={"ids": ["u1"]})
    assert response.status_code == 404
    response = other_api.track("POST", path + "/remove_customers", json={"ids": ["u1"]})
    assert response.status_code == 404
    assert other_api.app("GET", f"/v1/segments/{segment_id}").status_code == 404
    mine = api.app("GET", "/v1/customers/u1/segments").json()["segments"]
    assert [s["id"] for s in mine] == [segment_id]
    theirs = other_api.app("GET", "/v1/customers/u1/segments").json()["segments"]
    assert theirs == []


def test_the_region_names_the_callers_workspace(api, other_api):
    mine = api.track("GET", "/api/v1/accounts/region").json()
    theirs = other_api.track("GET", "/api/v1/accounts/region").json()
    assert mine["environment_id"] == api.creds.workspace_id
    assert theirs["environment_id"] == other_api.creds.workspace_id


def test_mixing_one_workspaces_site_id_with_anothers_key_is_refused(api, other_api):
    auth = (api.creds.site_id, other_api.creds.track_api_key)
    response = api.http.put("/api/v1/customers/u1", json={"x": 1}, auth=auth)
    assert response.status_code == 401
    assert api.attributes("u1").status_code == 404
    assert other_api.attributes("u1").status_code == 404
