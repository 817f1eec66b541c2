"""Every Track v1 operation over HTTP: status, body, and the effect seen through the App API.

Success is `200 {}` with `application/json; charset=utf-8` (BEHAVIOUR.md rule 1),
except form submission (204, no body).
"""

import time
from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.factories import add_delivery
from tidings.db.schema import delivery_metrics, events, forms

JSON = "application/json; charset=utf-8"


def assert_ok(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert response.json() == {}


def activities(api, ident, id_type="id", type_="event"):
    response = api.app(
        "GET",
        f"/v1/customers/{quote(ident, safe='')}/activities",
        params={"id_type": id_type, "type": type_, "limit": 100},
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["activities"]))  # oldest first


def customer(api, ident, id_type="id"):
    response = api.attributes(ident, id_type)
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def test_identify_then_update(api):
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"email": "a@example.com", "n": 1}))
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"n": 2, "_timestamp": 1}))
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"plan": "pro"}))
    shown = customer(api, "u1")
    assert shown["attributes"]["n"] == "1"  # the stale update lost
    assert shown["attributes"]["plan"] == "pro"
    assert shown["identifiers"]["email"] == "a@example.com"


def test_identify_with_an_empty_body(api):
    assert_ok(api.track("PUT", "/api/v1/customers/u1", content=b""))
    assert customer(api, "u1")["id"] == "u1"


def test_identify_with_update_only_does_not_create(api):
    assert_ok(api.track("PUT", "/api/v1/customers/ghost", json={"_update": True, "a": 1}))
    assert api.attributes("ghost").status_code == 404


def test_delete_with_and_without_a_body(api):
    for raw in ("u1", "u2"):
        assert_ok(api.track("PUT", f"/api/v1/customers/{raw}", json={}))
    assert_ok(api.track("DELETE", "/api/v1/customers/u1", json={}))  # Python sends {}
    assert_ok(api.track("DELETE", "/api/v1/customers/u2"))  # Node sends nothing
    assert_ok(api.track("DELETE", "/api/v1/customers/never-existed"))
    assert api.attributes("u1").status_code == 404
    assert api.attributes("u2").status_code == 404


def test_customer_event(api):
    before = int(time.time())
    body = {"name": "purchase", "data": {"price": 9.5}, "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ"}
    assert_ok(api.track("POST", "/api/v1/customers/u1/events", json=body))
    assert_ok(api.track("POST", "/api/v1/customers/u1/events", json=body))  # a retry
    after = int(time.time())
    [event] = activities(api, "u1")
    assert event["name"] == "purchase"
    assert event["data"] == {"price": 9.5}
    assert before <= event["timestamp"] <= after  # receipt time


def test_customer_event_with_a_timestamp_and_types(api):
    for kind, name in (("event", "e"), ("page", "/pricing"), ("screen", "Home")):
        body = {"name": name, "type": kind, "timestamp": 1700000000}
        assert_ok(api.track("POST", "/api/v1/customers/u1/events", json=body))
    assert [(a["name"], a["timestamp"]) for a in activities(api, "u1")] == [("e", 1700000000)]
    [page] = activities(api, "u1", type_="page")
    assert page["name"] == page["url"] == "/pricing"
    assert activities(api, "u1", type_="screen")[0]["name"] == "Home"


def test_anonymous_event_then_identify(api):
    body = {"name": "viewed", "anonymous_id": "anon-1", "data": {"sku": "x"}}
    assert_ok(api.track("POST", "/api/v1/events", json=body))
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"anonymous_id": "anon-1"}))
    [event] = activities(api, "u1")
    assert (event["name"], event["data"]) == ("viewed", {"sku": "x"})


def invites(conn, ws):
    rows = conn.execute(
        select(events.c.anonymous_id, events.c.person_id, events.c.data).where(
            events.c.workspace_id == ws, events.c.name == "invite"
        )
    )
    return [tuple(row) for row in rows]


def test_invite_event(api, query):
    body = {"name": "invite", "data": {"recipient": "friend@example.com"}}
    assert_ok(api.track("POST", "/api/v1/events", json=body))
    assert query(invites, api.creds.workspace_id) == [
        (None, None, '{"recipient":"friend@example.com"}')
    ]


def test_anonymous_id_must_be_a_string(api):
    response = api.track("POST", "/api/v1/events", json={"name": "x", "anonymous_id": 5})
    assert response.status_code == 400


def test_add_update_and_delete_devices(api):
    device = {"id": "tok/1", "platform": "ios", "last_used": 1700000000}
    assert_ok(api.track("PUT", "/api/v1/customers/u1/devices", json={"device": device}))
    go_style = {"id": "tok2", "platform": "android", "last_used": "1700000001", "attributes": None}
    assert_ok(api.track("PUT", "/api/v1/customers/u1/devices", json={"device": go_style}))
    shown = customer(api, "u1")["devices"]
    assert [(d["id"], d["last_used"]) for d in shown] == [
        ("tok/1", 1700000000),
        ("tok2", 1700000001),
    ]
    assert_ok(api.track("DELETE", "/api/v1/customers/u1/devices/tok%2F1"))
    assert [d["id"] for d in customer(api, "u1")["devices"]] == ["tok2"]


def test_bad_devices_are_refused_with_every_problem(api):
    body = {"device": {"platform": "windows"}}
    response = api.track("PUT", "/api/v1/customers/u1/devices", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "meta": {
            "errors": ["device.id is required", "device.platform must be one of: ios, android"]
        }
    }
    assert api.attributes("u1").status_code == 404


@pytest.mark.parametrize("body", [{"json": {}}, {"content": b""}])
def test_suppress_and_unsuppress(api, body):
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"email": "a@example.com"}))
    assert_ok(api.track("POST", "/api/v1/customers/u1/suppress", **body))
    assert api.attributes("u1").status_code == 404
    assert_ok(api.track("PUT", "/api/v1/customers/a@example.com", json={"back": True}))
    assert api.attributes("a@example.com", "email").status_code == 404
    assert_ok(api.track("POST", "/api/v1/customers/u1/unsuppress", **body))
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"back": True}))
    assert customer(api, "u1")["attributes"] == {
        "id": "u1",
        "back": "true",
        "cio_id": customer(api, "u1")["identifiers"]["cio_id"],
    }


def test_merge_customers(api):
    assert_ok(api.track("PUT", "/api/v1/customers/keep", json={"plan": "gold"}))
    assert_ok(api.track("PUT", "/api/v1/customers/gone@example.com", json={"plan": "x", "age": 3}))
    assert_ok(api.track("POST", "/api/v1/customers/gone@example.com/events", json={"name": "e"}))
    body = {"primary": {"id": "keep"}, "secondary": {"email": "gone@example.com"}}
    assert_ok(api.track("POST", "/api/v1/merge_customers", json=body))
    shown = customer(api, "keep")
    assert shown["attributes"]["plan"] == "gold"
    assert shown["attributes"]["age"] == "3"
    assert shown["identifiers"]["email"] == "gone@example.com"
    assert [a["name"] for a in activities(api, "keep")] == ["e"]


@pytest.mark.parametrize(
    "body",
    [
        {"primary": {"id": "a", "email": "a@b.c"}, "secondary": {"id": "b"}},
        {"primary": {"id": "a"}, "secondary": {}},
        {"primary": {"phone": "1"}, "secondary": {"id": "b"}},
        {"primary": {"id": "a"}},
    ],
)
def test_merge_sides_hold_exactly_one_identifier(api, body):
    response = api.track("POST", "/api/v1/merge_customers", json=body)
    assert response.status_code == 400
    assert isinstance(response.json()["meta"]["error"], str)


@pytest.fixture
def segment_id(api):
    response = api.app("POST", "/v1/segments", json={"segment": {"name": "vip"}})
    assert response.status_code == 200, response.text
    return response.json()["segment"]["id"]


def segment_ids_of(api, ident):
    response = api.app("GET", f"/v1/customers/{ident}/segments")
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["segments"]]


def test_manual_segment_add_and_remove(api, segment_id):
    for n in (1, 2):
        body = {"email": f"p{n}@example.com"}
        assert_ok(api.track("PUT", f"/api/v1/customers/u{n}", json=body))
    path = f"/api/v1/segments/{segment_id}"
    assert_ok(api.track("POST", path + "/add_customers", json={"ids": ["u1", "nobody"]}))
    assert_ok(
        api.track(
            "POST",
            path + "/add_customers",
            params={"id_type": "email"},
            json={"ids": ["P2@example.com"]},
        )
    )
    assert segment_ids_of(api, "u1") == [segment_id]
    assert segment_ids_of(api, "u2") == [segment_id]
    assert api.attributes("nobody").status_code == 404
    assert_ok(
        api.track(
            "POST", path + "/remove_customers", params={"id_type": "id"}, json={"ids": ["u1"]}
        )
    )
    assert segment_ids_of(api, "u1") == []


def test_a_missing_segment_is_a_plain_404(api):
    response = api.track("POST", "/api/v1/segments/999999999/add_customers", json={"ids": ["u1"]})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


def test_segment_membership_needs_a_known_id_type_and_ids(api, segment_id):
    path = f"/api/v1/segments/{segment_id}/add_customers"
    response = api.track("POST", path, params={"id_type": "phone"}, json={"ids": ["u1"]})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"]
    response = api.track("POST", path, json={"ids": []})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"]


def metrics_of(conn, ws, delivery_id):
    rows = conn.execute(
        select(delivery_metrics.c.metric).where(
            delivery_metrics.c.workspace_id == ws, delivery_metrics.c.delivery_id == delivery_id
        )
    )
    return sorted(rows.scalars())


def test_metrics_and_push_events(api, query):
    body = {"delivery_id": "dlv1", "metric": "clicked", "href": "https://x.test"}
    assert_ok(api.track("POST", "/api/v1/metrics", json=body))
    push = {"delivery_id": "dlv1", "event": "opened", "device_id": "tok1", "timestamp": 1700000000}
    assert_ok(api.track("POST", "/api/v1/push/events", json=push))
    assert_ok(api.track("POST", "/push/events", json={**push, "event": "delivered"}))  # Ruby
    ws = api.creds.workspace_id
    assert query(metrics_of, ws, "dlv1") == ["clicked", "delivered", "opened"]


def test_bad_metrics_are_refused_with_the_errors_form(api, query):
    response = api.track("POST", "/api/v1/metrics", json={"delivery_id": "d", "metric": "read"})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"]
    response = api.track("POST", "/api/v1/push/events", json={"event": "opened"})
    assert response.status_code == 400
    assert query(metrics_of, api.creds.workspace_id, "d") == []


def form_submissions(conn, ws, form_id):
    return conn.execute(
        select(forms.c.submissions).where(forms.c.workspace_id == ws, forms.c.form_id == form_id)
    ).scalar()


def test_form_submission_is_204_without_a_body(api, query):
    body = {"data": {"email": "a@example.com", "name": "Ann", "form_name": "Contact"}}
    response = api.track("POST", "/api/v1/forms/contact-1/submit", json=body)
    assert response.status_code == 204
    assert response.content == b""
    assert customer(api, "a@example.com", "email")["attributes"]["name"] == "Ann"
    assert query(form_submissions, api.creds.workspace_id, "contact-1") == 1


def test_bad_form_submissions_are_refused_with_the_errors_form(api):
    response = api.track("POST", "/api/v1/forms/f/submit", json={"data": {"name": "x"}})
    assert response.status_code == 400
    assert response.json() == {"meta": {"errors": ["data must contain an id or an email"]}}


def test_unsubscribe_needs_no_credentials(api, tx, query):
    from tidings.people import store
    from tidings.people.identifiers import Identifier

    ws = api.creds.workspace_id
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"email": "a@example.com"}))
    person = query(store.find, ws, Identifier("id", "u1"))
    tx(add_delivery, ws, f"dlv-{ws}", person.pk)
    response = api.http.post(f"/unsubscribe/dlv-{ws}", json={"unsubscribe": True})
    assert_ok(response)
    shown = customer(api, "u1")
    assert shown["attributes"]["unsubscribed"] == "true"
    assert shown["unsubscribed"] is True
    assert query(metrics_of, ws, f"dlv-{ws}") == ["unsubscribed"]
    assert_ok(api.http.post(f"/unsubscribe/dlv-{ws}", json={"unsubscribe": False}))
    assert customer(api, "u1")["unsubscribed"] is False


def test_unsubscribe_refuses_an_unknown_delivery_and_non_json(api):
    response = api.http.post("/unsubscribe/no-such-delivery", json={"unsubscribe": True})
    assert response.status_code == 400
    response = api.http.post(
        "/unsubscribe/x", content=b'{"unsubscribe":true}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400


def test_account_region(api, server):
    response = api.track("GET", "/api/v1/accounts/region")
    assert response.status_code == 200
    assert response.json() == {
        "url": server.url,
        "region": "us",
        "environment_id": api.creds.workspace_id,
    }


def related(api, ident):
    response = api.app("GET", f"/v1/customers/{ident}/relationships")
    assert response.status_code == 200, response.text
    return {
        (r["identifiers"]["object_id"], tuple(sorted(r["relationship_attributes"].items())))
        for r in response.json()["cio_relationships"]
    }


def test_identify_with_cio_relationships(api):
    acme = {"identifiers": {"object_type_id": "1", "object_id": "acme"}}
    globex = {
        "identifiers": {"object_type_id": "1", "object_id": "globex"},
        "relationship_attributes": {"role": "admin"},
    }
    body = {"cio_relationships": {"action": "add_relationships", "relationships": [acme, globex]}}
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json=body))
    assert related(api, "u1") == {("acme", ()), ("globex", (("role", "admin"),))}
    body = {"cio_relationships": {"action": "delete_relationships", "relationships": [acme]}}
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json=body))
    assert related(api, "u1") == {("globex", (("role", "admin"),))}


def test_only_the_last_30_days_of_anonymous_events_attach(api):
    now = int(time.time())
    for name, age in (("ancient", 31), ("recent", 29)):
        body = {"name": name, "anonymous_id": "anon-30", "timestamp": now - age * 86400}
        assert_ok(api.track("POST", "/api/v1/events", json=body))
    assert_ok(api.track("PUT", "/api/v1/customers/u1", json={"anonymous_id": "anon-30"}))
    assert [a["name"] for a in activities(api, "u1")] == ["recent"]
