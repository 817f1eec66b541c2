"""App API reads over HTTP, with data written through the Track API (BEHAVIOUR.md 5.3, 5.5)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

CUSTOMER_IO_SEGMENT_KEYS = {
    "id", "deduplicate_id", "name", "description", "state", "progress", "type", "tags",
    "created_at", "updated_at",
}  # fmt: skip
ACTIVITY_KEYS = {
    "id", "customer_id", "customer_identifiers", "type", "name", "timestamp", "data",
    "delivery_id", "delivery_type",
}  # fmt: skip


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def identify(api, raw, body):
    ok(api.track("PUT", f"/api/v1/customers/{quote(raw, safe='')}", json=body))


def track(api, raw, body):
    ok(api.track("POST", f"/api/v1/customers/{quote(raw, safe='')}/events", json=body))


def create_segment(api, name="VIPs", description="big spenders"):
    body = {"segment": {"name": name, "description": description}}
    return ok(api.app("POST", "/v1/segments", json=body))["segment"]


def add_members(api, segment_id, ids, id_type="id"):
    path = f"/api/v1/segments/{segment_id}/add_customers"
    ok(api.track("POST", path, json={"ids": ids}, params={"id_type": id_type}))


def pages(api, path, key, **params):
    """Every item of a paged listing, following `next`; also the number of pages."""
    items, start, count = [], "", 0
    while True:
        body = ok(api.app("GET", path, params={**params, "start": start}))
        items.extend(body[key])
        count += 1
        start = body["next"]
        assert isinstance(start, str)
        if not start:
            return items, count


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert isinstance(response.json()["meta"]["error"], str)


# ---------------------------------------------------------------- customers


def test_customer_segments(api, other_api):
    identify(api, "u1", {"email": "u1@example.com"})
    first, second = create_segment(api, "A"), create_segment(api, "B")
    add_members(api, second["id"], ["u1"])
    add_members(api, first["id"], ["u1@example.com"], "email")
    body = ok(api.app("GET", "/v1/customers/u1/segments"))
    assert list(body) == ["segments"]
    assert [s["id"] for s in body["segments"]] == [first["id"], second["id"]]
    assert set(body["segments"][0]) == CUSTOMER_IO_SEGMENT_KEYS
    by_email = api.app("GET", "/v1/customers/u1%40example.com/segments?id_type=email")
    assert ok(by_email) == body
    assert_error(api.app("GET", "/v1/customers/ghost/segments"), 404)
    assert_error(other_api.app("GET", "/v1/customers/u1/segments"), 404)
    assert_error(api.app("GET", "/v1/customers/u1/segments?id_type=phone"), 400)


def test_customer_activities_shape_and_filters(api):
    identify(api, "u1", {"email": "Ann@Example.com", "plan": "free", "_timestamp": 1_700_000_000})
    track(api, "u1", {"name": "purchase", "data": {"price": 9}, "timestamp": 1_700_000_100})
    track(api, "u1", {"name": "/pricing", "type": "page", "timestamp": 1_700_000_200})
    track(api, "u1", {"name": "Home", "type": "screen", "timestamp": 1_700_000_300})
    body = ok(api.app("GET", "/v1/customers/u1/activities", params={"type": "event"}))
    assert set(body) == {"activities", "next"} and body["next"] == ""
    (event,) = body["activities"]
    assert set(event) == ACTIVITY_KEYS
    assert event["name"] == "purchase" and event["data"] == {"price": 9}
    assert event["timestamp"] == 1_700_000_100 and event["customer_id"] == "u1"
    assert event["customer_identifiers"]["email"] == "Ann@Example.com"
    page = ok(api.app("GET", "/v1/customers/u1/activities?type=page"))["activities"][0]
    assert page["url"] == "/pricing"
    changes = ok(api.app("GET", "/v1/customers/u1/activities?type=attribute_change&name=plan"))
    assert changes["activities"][0]["data"]["plan"] == {"from": "", "to": "free"}
    newest = ok(api.app("GET", "/v1/customers/u1/activities?limit=1"))["activities"][0]
    assert newest["type"] == "screen"


def test_customer_activities_page_without_gaps_or_duplicates(api):
    for i in range(25):
        track(api, "u1", {"name": f"e{i}", "timestamp": 1_700_000_000 + i // 3})
    path = "/v1/customers/u1/activities"
    items, count = pages(api, path, "activities", type="event", limit="4")
    assert count == 7
    assert len(items) == len({a["id"] for a in items}) == 25
    everything = ok(api.app("GET", path, params={"type": "event", "limit": "100"}))["activities"]
    assert [a["id"] for a in items] == [a["id"] for a in everything]
    timestamps = [a["timestamp"] for a in items]
    assert timestamps == sorted(timestamps, reverse=True)
    assert len(ok(api.app("GET", path, params={"type": "event"}))["activities"]) == 10


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "start=not-a-cursor", "id_type=x"])
def test_customer_activities_bad_parameters(api, query):
    identify(api, "u1", {})
    assert_error(api.app("GET", f"/v1/customers/u1/activities?{query}"), 400)


def test_customer_activities_404_and_isolation(api, other_api):
    identify(api, "u1", {})
    assert_error(api.app("GET", "/v1/customers/ghost/activities"), 404)
    assert_error(other_api.app("GET", "/v1/customers/u1/activities"), 404)


def test_customer_relationships(api, other_api):
    links = [
        {
            "identifiers": {"object_type_id": "1", "object_id": f"acct{i}"},
            "relationship_attributes": {"role": f"r{i}"},
        }
        for i in range(5)
    ]
    identify(api, "u1", {"cio_relationships": links})
    path = "/v1/customers/u1/relationships"
    items, count = pages(api, path, "cio_relationships", limit="2")
    assert count == 3
    assert [r["identifiers"]["object_id"] for r in items] == [f"acct{i}" for i in range(5)]
    assert items[4]["relationship_attributes"] == {"role": "r4"}
    assert set(items[0]["identifiers"]) == {"object_type_id", "object_id", "cio_object_id"}
    assert ok(api.app("GET", path))["next"] == ""
    assert_error(api.app("GET", "/v1/customers/ghost/relationships"), 404)
    assert_error(other_api.app("GET", path), 404)


def test_attributes_of_many_customers(api, other_api):
    identify(api, "u1", {"email": "one@example.com", "plan": "pro"})
    identify(api, "u2", {"n": 2})
    body = ok(api.app("POST", "/v1/customers/attributes", json={"ids": ["u2", "ghost", "u1"]}))
    customers = [item["customer"] for item in body["customers"]]
    assert [c["id"] for c in customers] == ["u2", "u1"]
    assert customers[1] == ok(api.attributes("u1"))["customer"]
    by_email = api.app(
        "POST", "/v1/customers/attributes?id_type=email", json={"ids": ["ONE@example.com"]}
    )
    assert ok(by_email)["customers"][0]["customer"]["id"] == "u1"
    other = other_api.app("POST", "/v1/customers/attributes", json={"ids": ["u1"]})
    assert ok(other) == {"customers": []}


@pytest.mark.parametrize("ids", [[], [str(i) for i in range(101)], "u1", [{"id": 1}]])
def test_attributes_of_many_refuses_bad_id_lists(api, ids):
    assert_error(api.app("POST", "/v1/customers/attributes", json={"ids": ids}), 400)


# ---------------------------------------------------------------- segments


def test_segment_crud(api, other_api):
    created = create_segment(api, "VIPs", "big spenders")
    assert set(created) == CUSTOMER_IO_SEGMENT_KEYS
    assert created["type"] == "manual" and created["description"] == "big spenders"
    path = f"/v1/segments/{created['id']}"
    assert ok(api.app("GET", path)) == {"segment": created}
    assert ok(api.app("GET", "/v1/segments")) == {"segments": [created]}
    assert ok(other_api.app("GET", "/v1/segments")) == {"segments": []}
    for suffix in ("", "/customer_count", "/membership"):
        assert_error(other_api.app("GET", path + suffix), 404)
    assert_error(other_api.app("DELETE", path), 404)
    response = api.app("DELETE", path)
    assert response.status_code == 204 and response.content == b""
    assert_error(api.app("GET", path), 404)
    assert_error(api.app("DELETE", path), 404)


@pytest.mark.parametrize(
    "body", [{}, {"segment": {}}, {"segment": {"name": ""}}, {"segment": {"name": 3}}]
)
def test_create_segment_refuses_bad_bodies(api, body):
    assert_error(api.app("POST", "/v1/segments", json=body), 400)


def test_create_segment_refuses_malformed_json(api):
    response = api.app(
        "POST", "/v1/segments", content=b"{", headers={"content-type": "application/json"}
    )
    assert_error(response, 400)


@pytest.mark.parametrize("segment_id", ["999999", "abc", "99999999999999999999"])
def test_unknown_segments_are_404(api, segment_id):
    for suffix in ("", "/customer_count", "/membership"):
        assert_error(api.app("GET", f"/v1/segments/{segment_id}{suffix}"), 404)


def test_segment_count_and_membership_pages(api):
    segment = create_segment(api)
    for i in range(9):
        identify(api, f"u{i}", {"email": f"User{i}@example.com"})
    identify(api, "solo@example.com", {})
    add_members(api, segment["id"], [f"u{i}" for i in range(9)])
    add_members(api, segment["id"], ["solo@example.com"], "email")
    path = f"/v1/segments/{segment['id']}"
    assert ok(api.app("GET", path + "/customer_count")) == {
        "segment_id": segment["id"],
        "count": 10,
    }
    identifiers, count = pages(api, path + "/membership", "identifiers", limit="4")
    assert count == 3
    assert [i["id"] for i in identifiers] == [f"u{i}" for i in range(9)] + [None]
    assert identifiers[0]["email"] == "User0@example.com"
    assert identifiers[-1]["email"] == "solo@example.com"
    everyone = ok(api.app("GET", path + "/membership"))
    assert set(everyone) == {"segment_id", "identifiers", "ids", "next"}
    assert everyone["ids"] == [f"u{i}" for i in range(9)] + [""]
    assert everyone["next"] == ""
    assert_error(api.app("GET", path + "/membership?start=bogus"), 400)


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/customers/u1/segments"),
        ("GET", "/v1/customers/u1/activities"),
        ("GET", "/v1/customers/u1/relationships"),
        ("POST", "/v1/customers/attributes"),
        ("GET", "/v1/segments"),
        ("POST", "/v1/segments"),
        ("GET", "/v1/segments/1"),
        ("DELETE", "/v1/segments/1"),
        ("GET", "/v1/segments/1/customer_count"),
        ("GET", "/v1/segments/1/membership"),
    ],
)
def test_a_bad_key_is_401(api, method, path):
    response = api.http.request(
        method, path, headers={"Authorization": "Bearer wrong"}, json={"ids": ["u1"]}
    )
    assert_error(response, 401)
    assert_error(api.http.request(method, path), 401)
