"""Numbers beyond a double, and numbers written as text, on every surface that takes them.

Integers of 309 digits and more are valid JSON but no double holds them: they
are refused where they come in (400 naming the field), and one already stored
(from before that check) must not break a search, a segment or an export.
Numeric text, as a CSV import stores every cell, compares as a number.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import update

from tests.support import eventually
from tidings.db.schema import attributes

HUGE = 10**400  # valid JSON; beyond any double


def _ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _refused(response, *fragments):
    assert response.status_code == 400, response.text
    text = response.text
    for fragment in fragments:
        assert fragment in text, text


def _gt(field, value):
    return {"attribute": {"field": field, "operator": "gt", "value": value}}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/customers", {"filter": _gt("score", HUGE)}),
        (
            "/v1/customers",
            {"filter": {"attribute": {"field": "s", "operator": "eq", "value": HUGE}}},
        ),
        ("/v1/segments", {"segment": {"name": "big", "conditions": _gt("score", HUGE)}}),
        ("/v1/exports/customers", {"filters": _gt("score", -HUGE)}),
    ],
)
def test_an_out_of_range_condition_value_is_a_400_naming_it(api, path, body):
    _refused(api.app("POST", path, json=body), "attribute.value", "out of range")


def test_track_v1_refuses_an_out_of_range_attribute(api):
    _refused(api.track("PUT", "/api/v1/customers/big", json={"score": HUGE}), "score")
    assert api.attributes("big").status_code == 404
    _ok(api.track("PUT", "/api/v1/customers/big", json={"score": 10**308}))


def test_track_v2_refuses_an_out_of_range_attribute(api):
    op = {
        "type": "person",
        "action": "identify",
        "identifiers": {"id": "big"},
        "attributes": {"score": -HUGE},
    }
    _refused(api.track("POST", "/api/v2/entity", json=op), "score")
    response = api.track("POST", "/api/v2/batch", json={"batch": [op]})
    assert response.status_code == 207, response.text
    (refused,) = response.json()["errors"]
    assert refused["batch_index"] == 0 and "score" in str(refused), refused
    assert api.attributes("big").status_code == 404


def test_pipelines_refuse_an_out_of_range_trait(api):
    """400 in strict mode; otherwise 200 with the message listed as rejected, as any refusal."""
    key = base64.b64encode(f"{api.creds.cdp_write_key}:".encode()).decode()
    auth = {"Authorization": f"Basic {key}"}
    message = {"userId": "big", "traits": {"score": HUGE}, "messageId": "m-big"}
    strict = api.http.post("/v1/identify", json=message, headers={**auth, "X-Strict-Mode": "1"})
    _refused(strict, "score")
    _ok(api.http.post("/v1/identify", json=message, headers=auth))
    rejected = _ok(api.app("GET", "/v1/pipelines/rejections"))
    assert "score" in str(rejected), rejected
    assert api.attributes("big").status_code == 404


def _search_ids(api, condition):
    return sorted(_ok(api.app("POST", "/v1/customers", json={"filter": condition}))["ids"])


def _segment_members(api, condition):
    body = {"segment": {"name": "n", "conditions": condition}}
    segment_id = _ok(api.app("POST", "/v1/segments", json=body))["segment"]["id"]

    def built():
        segment = _ok(api.app("GET", f"/v1/segments/{segment_id}"))["segment"]
        assert segment["state"] == "finished", segment
        return sorted(_ok(api.app("GET", f"/v1/segments/{segment_id}/membership"))["ids"])

    return eventually(built, timeout=20)


def _exported_total(api, condition):
    export_id = _ok(api.app("POST", "/v1/exports/customers", json={"filters": condition}))
    export_id = export_id["export"]["id"]

    def done():
        export = _ok(api.app("GET", f"/v1/exports/{export_id}"))["export"]
        assert export["status"] == "done", export
        return export["total"]

    return eventually(done, timeout=20)


def test_a_huge_number_already_stored_breaks_nothing(api, tx):
    for raw, score in (("big", 1), ("small", 5)):
        _ok(api.track("PUT", f"/api/v1/customers/{raw}", json={"score": score}))
    # What a store may hold from before input was checked: 400 nines, kind number.
    tx(
        lambda conn: conn.execute(
            update(attributes)
            .where(attributes.c.workspace_id == api.creds.workspace_id)
            .where(attributes.c.name == "score", attributes.c.value == "1")
            .values(value="9" * 400)
        )
    )
    condition = _gt("score", 2)
    assert _search_ids(api, condition) == ["small"]
    assert _search_ids(api, {"attribute": {"field": "score", "operator": "lt", "value": 9}}) == [
        "small"
    ]
    assert _segment_members(api, condition) == ["small"]
    assert _exported_total(api, condition) == 1


def test_imported_numeric_text_compares_as_a_number(api):
    """A CSV import stores `created_at` as text; `created_at > X` must still find it."""
    people = {"csv": "1700000000", "json": 1700000001, "padded": " 1700000002", "zero": "0017"}
    for raw, created_at in people.items():
        _ok(api.track("PUT", f"/api/v1/customers/{raw}", json={"created_at": created_at}))
    condition = _gt("created_at", 1_600_000_000)
    assert _search_ids(api, condition) == ["csv", "json"]
    assert _segment_members(api, condition) == ["csv", "json"]
    assert _exported_total(api, condition) == 2
    after = {"attribute": {"field": "created_at", "operator": "after", "value": "2023-01-01"}}
    assert _search_ids(api, after) == ["csv", "json"]
