"""Objects, workspace activities, workspaces, sending IPs and archived messages
through the official Node client (`customerio-node@5.2.0`), unchanged, against
the real TLS server. The Python `customerio.APIClient` has none of these methods."""

from __future__ import annotations

from typing import Any

from tests.api.node_runner import requires
from tests.api.test_send import inline
from tests.support import eventually

pytestmark = requires("customerio-node")

NODE_SCRIPT = "calls.mjs"  # the `node` fixture (tests/api/conftest.py) runs it


def call(name: str, method: str, *args: Any) -> dict[str, Any]:
    return {"name": name, "method": method, "args": list(args)}


def run(node, server, api, *calls: dict[str, Any]) -> dict[str, Any]:
    auth = {"appKey": api.creds.app_api_key, "url": server.url + "/v1"}
    [seen] = node.run([{"auth": auth, "calls": list(calls)}])
    return seen


def ok(seen: dict[str, Any], name: str) -> Any:
    assert seen[name]["ok"], seen[name]
    return seen[name]["result"]


def objects(api) -> None:
    for object_id, plan in (("acme", "pro"), ("globex", "free"), ("initech", "pro")):
        body = {
            "type": "object",
            "action": "identify",
            "identifiers": {"object_type_id": "1", "object_id": object_id},
            "attributes": {"plan": plan, "name": object_id.title()},
            "cio_relationships": [
                {"identifiers": {"id": "ann"}, "relationship_attributes": {"role": "admin"}}
            ],
        }
        assert api.track("POST", "/api/v2/entity", json=body).status_code == 200


PRO = {"object_attribute": {"field": "plan", "operator": "eq", "value": "pro", "type_id": 1}}


def test_the_node_client_finds_and_reads_objects(node, server, api, other_api):
    objects(api)
    seen = run(
        node,
        server,
        api,
        call("types", "listObjectTypes"),
        call("pro", "findObjects", 1, PRO),
        call("notPro", "findObjects", "1", {"not": PRO}, {"limit": 1}),
        call("attributes", "getObjectAttributes", 1, "acme"),
        call("people", "getObjectRelationships", 1, "acme", {"limit": 10}),
        call("missing", "getObjectAttributes", 1, "nobody"),
        call("badFilter", "findObjects", 1, {"segment": {"id": 1}}),
    )
    assert [t["id"] for t in ok(seen, "types")["types"]] == ["1"]
    assert ok(seen, "pro")["ids"] == ["acme", "initech"]
    assert ok(seen, "pro")["next"] == ""
    assert ok(seen, "notPro")["ids"] == ["globex"]
    found = ok(seen, "attributes")["object"]
    assert found["attributes"] == {"plan": "pro", "name": "Acme"}
    assert found["object_type_id"] == "1"
    cio_object_id = found["identifiers"]["cio_object_id"]
    [related] = ok(seen, "people")["cio_relationships"]
    assert related["identifiers"]["id"] == "ann"
    assert related["relationship_attributes"] == {"role": "admin"}
    assert seen["missing"]["statusCode"] == 404
    assert seen["badFilter"]["statusCode"] == 400
    by_cio = run(
        node, server, api, call("byCio", "getObjectAttributes", 1, cio_object_id, "cio_object_id")
    )
    assert ok(by_cio, "byCio")["object"]["identifiers"]["object_id"] == "acme"
    theirs = run(node, server, other_api, call("theirs", "getObjectAttributes", 1, "acme"))
    assert theirs["theirs"]["statusCode"] == 404


def test_the_node_client_lists_the_workspaces_activities(node, server, api):
    api.track("PUT", "/api/v1/customers/bob", json={"email": "bob@example.com"})
    for name in ("viewed", "bought"):
        assert (
            api.track("POST", "/api/v1/customers/bob/events", json={"name": name}).status_code
            == 200
        )
    seen = run(
        node,
        server,
        api,
        call("all", "listActivities", {"type": "event", "limit": 1}),
        call("bought", "listActivities", {"name": "bought"}),
        call("bobs", "listActivities", {"customerId": "bob@example.com", "idType": "email"}),
        call("nobody", "listActivities", {"customerId": "nobody"}),
    )
    first = ok(seen, "all")
    assert len(first["activities"]) == 1 and first["next"]
    assert first["activities"][0]["customer_identifiers"]["id"] == "bob"
    assert [a["name"] for a in ok(seen, "bought")["activities"]] == ["bought"]
    assert {a["name"] for a in ok(seen, "bobs")["activities"]} >= {"viewed", "bought"}
    assert seen["nobody"]["statusCode"] == 404
    more = run(
        node, server, api, call("next", "listActivities", {"type": "event", "start": first["next"]})
    )
    assert first["activities"][0]["id"] not in [a["id"] for a in ok(more, "next")["activities"]]


def test_the_node_client_lists_workspaces_and_ip_addresses(node, server, api):
    objects(api)
    seen = run(node, server, api, call("ws", "listWorkspaces"), call("ips", "getIpAddresses"))
    [workspace] = ok(seen, "ws")["workspaces"]
    assert workspace["name"] == api.creds.name
    assert workspace["objects"] == 3 and workspace["object_types"] == 1
    assert workspace["people"] >= 1
    assert ok(seen, "ips") == {"ip_addresses": []}  # the test server declares none


def test_the_node_client_reads_an_archived_message(node, server, api, other_api):
    delivery_id = api.app("POST", "/v1/send/email", json=inline()).json()["delivery_id"]
    path = f"/v1/messages/{delivery_id}/archived_message"
    eventually(lambda: api.app("GET", path).status_code == 200, timeout=15)
    forgotten = inline(disable_message_retention=True)
    unkept = api.app("POST", "/v1/send/email", json=forgotten).json()["delivery_id"]
    seen = run(
        node,
        server,
        api,
        call("archived", "getArchivedMessage", delivery_id),
        call("missing", "getArchivedMessage", "nope"),
    )
    archived = ok(seen, "archived")["archived_message"]
    assert archived["id"] == delivery_id
    assert archived["subject"] == "Hi Ann"
    assert archived["from"] == "shop@example.net"
    assert archived["recipient"] == "u1@example.com"
    assert "<p>Hello</p>" in archived["body"]
    assert seen["missing"]["statusCode"] == 404
    assert api.app("GET", path).json() == {"archived_message": archived}
    assert other_api.app("GET", path).status_code == 404
    sent = f"/v1/messages/{unkept}"
    eventually(lambda: api.app("GET", sent).json()["message"]["metrics"].get("sent"), timeout=15)
    gone = api.app("GET", f"/v1/messages/{unkept}/archived_message")
    assert gone.status_code == 404
    assert gone.json() == {"meta": {"error": "message not found"}}
