"""Broadcast triggers over HTTP: the routes, their shapes and errors, and the Node client.

The test server's worker process runs the fan-out job, the journeys and the
deliveries on the real clock; the tests poll the outbox and the trigger's
status with deadlines. Each test has a workspace and broadcasts of its own,
so the rate limits of one test never meet another's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.node_runner import requires
from tests.api.test_node_sdk import sdk  # noqa: F401  (fixture)
from tests.support import eventually
from tidings.campaigns import definitions, store
from tidings.people import service as people_service
from tidings.people.identifiers import Identifier

EMAIL = {
    "email": {
        "from": "news@example.com",
        "subject": "{{ trigger.headline }} {{ trigger.tier | default: 'all' }}",
        "body": "<p>{{ customer.first_name }}</p>",
    }
}


def broadcast(db, ws: int, state: str = "running") -> int:
    document = {
        "name": "News",
        "state": state,
        "audience": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        "workflow": [EMAIL],
    }
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document, kind="broadcast"), 0)


def people(db, ws: int, *ids: str, plan: str = "pro") -> None:
    with db.writer.begin() as conn:
        for customer_id in ids:
            body = {"email": f"{customer_id}@example.com", "plan": plan, "first_name": customer_id}
            request = people_service.parse_identify(body, 0)
            people_service.identify(conn, ws, Identifier("id", customer_id), request, 0)


def outbox(api) -> dict[str, str]:
    messages = api.app("GET", "/v1/outbox", params={"limit": 100}).json()["messages"]
    return {m["recipient"]: m["subject"] for m in messages}


def delivered(api, count: int) -> dict[str, str]:
    return eventually(lambda: len(found := outbox(api)) >= count and found, timeout=60)


def processed(api, broadcast_id: int, trigger_id: int) -> dict[str, Any]:
    path = f"/v1/campaigns/{broadcast_id}/triggers/{trigger_id}"
    return eventually(lambda: (s := api.app("GET", path).json())["processed_at"] and s, timeout=60)


@pytest.fixture
def ws(api) -> int:
    return api.creds.workspace_id


def test_trigger_with_ids_then_status_and_the_message(api, db, ws):
    people(db, ws, "a1", "a2", "a3")
    broadcast_id = broadcast(db, ws)
    body = {"data": {"headline": "Sale"}, "ids": ["a1", "a3"]}
    response = api.app("POST", f"/v1/campaigns/{broadcast_id}/triggers", json=body)
    assert response.status_code == 200, response.text
    trigger_id = response.json()["id"]
    assert response.json() == {"id": trigger_id} and isinstance(trigger_id, int)
    assert delivered(api, 2) == {"a1@example.com": "Sale all", "a3@example.com": "Sale all"}
    shown = processed(api, broadcast_id, trigger_id)
    assert shown["recipients_count"] == 2 and shown["broadcast_id"] == broadcast_id
    assert {"id", "created_at", "workflow_action_ids", "data_file_position"} <= set(shown)
    listed = api.app("GET", f"/v1/broadcasts/{broadcast_id}/triggers").json()
    assert listed == {
        "triggers": [
            {
                "id": trigger_id,
                "broadcast_id": broadcast_id,
                "created_at": shown["created_at"],
                "processed_at": shown["processed_at"],
            }
        ]
    }


def test_a_second_trigger_within_ten_seconds_is_429_with_retry_after(api, db, ws):
    broadcast_id = broadcast(db, ws)
    first = api.app("POST", f"/v1/api/campaigns/{broadcast_id}/triggers", json={})  # legacy path
    assert first.status_code == 200, first.text
    again = api.app("POST", f"/v1/campaigns/{broadcast_id}/triggers", json={})
    assert again.status_code == 429
    assert len(again.headers.get_list("retry-after")) == 1
    assert 1 <= int(again.headers["retry-after"]) <= 10
    assert "less than 10 seconds ago" in again.json()["meta"]["error"]


def test_send_broadcast_takes_the_id_in_the_body(api, db, ws):
    people(db, ws, "s1", "s2", plan="free")
    first, second = broadcast(db, ws), broadcast(db, ws)
    body = {"id": first, "data": {"headline": "One"}, "per_user_data": [{"id": "s1"}]}
    answer = api.app("POST", "/v1/send/broadcast", json=body)
    assert answer.status_code == 200, answer.text
    body = {"broadcast_id": str(second), "data": {"headline": "Two"}, "emails": ["S2@example.com"]}
    assert api.app("POST", "/v1/send/broadcast", json=body).status_code == 200
    assert delivered(api, 2) == {"s1@example.com": "One all", "s2@example.com": "Two all"}
    missing = api.app("POST", "/v1/send/broadcast", json={"data": {}})
    assert missing.status_code == 422
    assert missing.json() == {"meta": {"error": "id (the broadcast's id) is required"}}


def test_errors_are_paged(api, db, ws):
    people(db, ws, "e1")
    broadcast_id = broadcast(db, ws)
    body = {"ids": ["e1", "x1", "x2", "x3"]}
    trigger_id = api.app("POST", f"/v1/campaigns/{broadcast_id}/triggers", json=body).json()["id"]
    shown = processed(api, broadcast_id, trigger_id)
    assert shown["state"] == "failed" and shown["recipients_count"] == 0
    path = f"/v1/campaigns/{broadcast_id}/triggers/{trigger_id}/errors"
    page = api.app("GET", path, params={"limit": 2}).json()
    assert page["errors"] == [
        'ids[1]: no person has the id "x1"',
        'ids[2]: no person has the id "x2"',
    ]
    rest = api.app("GET", path, params={"limit": 2, "start": page["next"]}).json()
    assert rest == {"errors": ['ids[3]: no person has the id "x3"'], "next": ""}
    assert api.app("GET", path, params={"offset": 1}).status_code == 400
    assert outbox(api) == {}


def test_refusals(api, other_api, db, ws):
    broadcast_id = broadcast(db, ws)
    draft = broadcast(db, ws, state="draft")
    path = f"/v1/campaigns/{broadcast_id}/triggers"
    cases = [
        (path, b"{nope", 400, "malformed JSON"),
        (path, b"[1]", 400, "request body must be a JSON object"),
        (path, b'{"idz": ["1"]}', 422, "unknown field 'idz'"),
        (path, b'{"ids": ["1"], "emails": ["a@x.io"]}', 422, "at most one audience"),
        (path, json.dumps({"ids": list(range(1, 10_002))}).encode(), 422, "at most 10000"),
        (path, json.dumps({"data": {"k": "x" * 50_000}}).encode(), 422, "at most 50000 bytes"),
        (f"/v1/campaigns/{draft}/triggers", b"{}", 422, "is draft"),
        ("/v1/campaigns/999999/triggers", b"{}", 404, "broadcast not found"),
        ("/v1/campaigns/x/triggers", b"{}", 404, "broadcast not found"),
    ]
    for target, content, status, words in cases:
        response = api.app("POST", target, content=content)
        assert response.status_code == status, (target, content, response.text)
        assert words in response.json()["meta"]["error"]
    theirs = other_api.app("POST", path, json={})
    assert theirs.status_code == 404
    assert api.app("GET", f"{path}/123456").status_code == 404
    assert other_api.app("GET", f"/v1/broadcasts/{broadcast_id}/triggers").status_code == 404


# --- the official Node client, unchanged ------------------------------------------------------


@requires("customerio-node")
def test_the_node_client_triggers_and_reads_back(sdk, api, db, ws):  # noqa: F811
    people(db, ws, "n1", "n2", "n3")
    people(db, ws, "n4", plan="free")
    by_ids, by_filter, by_data = broadcast(db, ws), broadcast(db, ws), broadcast(db, ws)
    free = {"attribute": {"field": "plan", "operator": "eq", "value": "free"}}
    results = sdk.ok(
        sdk.app("triggerBroadcast", by_ids, {"headline": "Ids"}, {"ids": ["n1", "nobody"]}),
        sdk.app("triggerBroadcast", by_filter, {"headline": "Filter"}, free),
        sdk.app(
            "triggerBroadcast",
            by_data,
            {"headline": "Own"},
            {"per_user_data": [{"id": "n2", "data": {"tier": "gold"}}], "id_ignore_missing": True},
        ),
    )
    failed, filtered, personal = (r["id"] for r in results)
    assert delivered(api, 2) == {"n4@example.com": "Filter all", "n2@example.com": "Own gold"}
    processed(api, by_ids, failed)
    status, errors, listed = sdk.ok(
        sdk.app("getBroadcastTriggerStatus", by_ids, failed),
        sdk.app("getBroadcastTriggerErrors", by_ids, failed, {"limit": 10}),
        sdk.app("getBroadcastTriggers", by_ids),
    )
    assert status["id"] == failed and status["recipients_count"] == 0
    assert errors == {"errors": ['ids[1]: no person has the id "nobody"'], "next": ""}
    assert [t["id"] for t in listed["triggers"]] == [failed]
    assert processed(api, by_filter, filtered)["recipients_filter"] == free
    assert processed(api, by_data, personal)["recipients_count"] == 1
    [missing] = sdk.run(sdk.app("getBroadcastTriggerStatus", by_ids, 987654))
    assert missing["ok"] is False and missing["error"]["statusCode"] == 404
