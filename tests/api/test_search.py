"""`POST /v1/customers` search over HTTP (BEHAVIOUR.md 5.3, 5.4): filters, paging, errors."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def identify(api, raw, body):
    ok(api.track("PUT", f"/api/v1/customers/{quote(raw, safe='')}", json=body))


def search(api, body, **params):
    return api.app("POST", "/v1/customers", json=body, params=params)


PRO = {"filter": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}}


def test_search_returns_identifiers_and_ids(api):
    identify(api, "u1", {"email": "Ann@X.test", "plan": "pro"})
    identify(api, "u2", {"plan": "free"})
    body = ok(search(api, PRO))
    cio_id = ok(api.attributes("u1"))["customer"]["identifiers"]["cio_id"]
    assert body == {
        "identifiers": [{"email": "Ann@X.test", "id": "u1", "cio_id": cio_id}],
        "ids": ["u1"],
        "next": "",
    }


def test_people_without_an_id_show_an_empty_id(api):
    identify(api, "solo@x.test", {"plan": "pro"})
    body = ok(search(api, PRO))
    assert body["ids"] == [""]
    assert body["identifiers"][0]["id"] is None
    assert body["identifiers"][0]["email"] == "solo@x.test"


def test_extended_conditions_over_http(api):
    identify(api, "u1", {"plan": "pro", "age": 30})
    identify(api, "u2", {"plan": "pro", "age": 50})
    path = "/api/v1/customers/u2/events"
    ok(api.track("POST", path, json={"name": "buy", "data": {"total": 9}}))
    older = {"attribute": {"field": "age", "operator": "gte", "value": 40}}
    assert ok(search(api, {"filter": {"and": [PRO["filter"], older]}}))["ids"] == ["u2"]
    bought = {
        "event": {"name": "buy", "where": [{"field": "total", "operator": "lt", "value": 10}]}
    }
    assert ok(search(api, {"filter": {"not": bought}}))["ids"] == ["u1"]


def test_paging_follows_next_in_person_order(api):
    for i in range(7):
        identify(api, f"p{i}", {"plan": "pro"})
    seen, start, pages = [], "", 0
    while True:
        body = ok(search(api, PRO, limit=3, start=start))
        seen.extend(body["ids"])
        pages += 1
        start = body["next"]
        if not start:
            break
    assert seen == [f"p{i}" for i in range(7)]
    assert pages == 3


def test_limit_is_clamped_to_1000(api):
    identify(api, "u1", {"plan": "pro"})
    assert ok(search(api, PRO, limit=5000))["ids"] == ["u1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "filter"),
        (
            {"filter": {"attribute": {"field": "plan", "operator": "like", "value": "x"}}},
            "filter.attribute.operator",
        ),
        (
            {"filter": {"and": [PRO["filter"], {"segment": {"id": "x"}}]}},
            "filter.and[1].segment.id",
        ),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_path(api, body, field):
    response = search(api, body)
    assert response.status_code == 400
    error = response.json()["meta"]["error"]
    assert error.startswith(field + ": ")


def test_a_bad_cursor_or_limit_is_a_400(api):
    assert search(api, PRO, start="nope").status_code == 400
    assert search(api, PRO, limit=0).status_code == 400


def test_another_workspace_finds_nothing_of_the_first(api, other_api):
    identify(api, "u1", {"plan": "pro"})
    segment = ok(api.app("POST", "/v1/segments", json={"segment": {"name": "s"}}))["segment"]
    ok(api.track("POST", f"/api/v1/segments/{segment['id']}/add_customers", json={"ids": ["u1"]}))
    assert ok(search(other_api, PRO))["ids"] == []
    assert ok(search(other_api, {"filter": {"segment": {"id": segment["id"]}}}))["ids"] == []
    assert ok(search(api, {"filter": {"segment": {"id": segment["id"]}}}))["ids"] == ["u1"]


needs_node = requires("customerio-node")


@needs_node
def test_node_search_customers(node, server, api):
    sdk = Sdk(node, server, api.creds)
    identify(api, "u1", {"email": "a@x.test", "plan": "pro"})
    identify(api, "u2", {"plan": "pro"})
    (first, second) = sdk.ok(
        sdk.app("searchCustomers", PRO["filter"], {"limit": 1}),
        sdk.app("searchCustomers", PRO["filter"]),
    )
    assert first["ids"] == ["u1"] and first["next"]
    assert second["ids"] == ["u1", "u2"] and second["next"] == ""
    assert second["identifiers"][0]["email"] == "a@x.test"
