"""The official Node Pipelines clients against the real TLS server.

customerio-node 5.2.0's `PipelinesClient` (one request per call, pointed at
`{url}/v1`, optionally strict) and `@customerio/cdp-analytics-node` (queued
calls sent in batches to `{host}/v1/batch`). One Node process per module runs
the calls (`node/cdp.mjs`); Node trusts the test CA through NODE_EXTRA_CA_CERTS.
"""

import json

import pytest

from tests.api.node_runner import NodeRunner, requires
from tests.api.test_pipelines import rejections
from tests.api.test_track_v1_operations import activities, customer

pytestmark = requires("customerio-node", "@customerio/cdp-analytics-node")


NODE_SCRIPT = "cdp.mjs"  # the `node` fixture (tests/api/conftest.py) runs it


class Clients:
    """Builds calls for one workspace's Pipelines clients and runs them in one go."""

    def __init__(self, node: NodeRunner, server, creds) -> None:
        self.node = node
        self.url = server.url
        self.key = creds.cdp_write_key

    def pipelines(self, method: str, *args, strict: bool = False, key: str | None = None) -> dict:
        auth = {"writeKey": key or self.key, "url": self.url + "/v1", "strictMode": strict}
        return {"client": "pipelines", "auth": auth, "method": method, "args": list(args)}

    def analytics(self, method: str, payload: dict | None = None, key: str | None = None) -> dict:
        auth = {"writeKey": key or self.key, "host": self.url}
        return {"client": "analytics", "auth": auth, "method": method, "args": [payload or {}]}

    def run(self, *calls: dict) -> list[dict]:
        return self.node.run(list(calls))

    def ok(self, *calls: dict) -> list:
        return self.node.ok(list(calls))


@pytest.fixture
def cdp(node, server, api):
    return Clients(node, server, api.creds)


def test_pipelines_client_every_call(cdp, api):
    results = cdp.ok(
        cdp.pipelines("identify", {"userId": "n1", "traits": {"email": "n@x.test", "plan": "pro"}}),
        cdp.pipelines("track", {"userId": "n1", "event": "Paid", "properties": {"amount": 5}}),
        cdp.pipelines("page", {"userId": "n1", "name": "Pricing"}),
        cdp.pipelines("screen", {"userId": "n1", "name": "Cart"}),
        cdp.pipelines("group", {"userId": "n1", "groupId": "org-1", "traits": {"name": "Org"}}),
        cdp.pipelines("alias", {"userId": "n1", "previousId": "anon-n"}),
        cdp.pipelines("batch", [{"type": "track", "userId": "n1", "event": "Batched"}]),
    )
    assert results == [{}] * 7
    shown = customer(api, "n1")
    assert shown["attributes"]["plan"] == "pro"
    assert shown["attributes"]["anonymous_id"] == "anon-n"
    events = activities(api, "n1")
    assert [e["name"] for e in events] == ["Paid", "Batched"]
    assert events[0]["data"]["_cdp"]["context"]["library"]["name"] == "customerio-node"
    assert [p["name"] for p in activities(api, "n1", type_="page")] == ["Pricing"]
    assert [p["name"] for p in activities(api, "n1", type_="screen")] == ["Cart"]
    related = api.app("GET", "/v1/customers/n1/relationships").json()["cio_relationships"]
    assert [r["identifiers"]["object_id"] for r in related] == ["org-1"]


def test_pipelines_client_semantic_events(cdp, api):
    device = {"device": {"token": "tok-n", "type": "ios"}}
    cdp.ok(
        cdp.pipelines(
            "track", {"userId": "n2", "event": "Device Created or Updated", "context": device}
        ),
    )
    assert [d["id"] for d in customer(api, "n2")["devices"]] == ["tok-n"]
    cdp.ok(cdp.pipelines("track", {"userId": "n2", "event": "User Suppressed"}))
    assert api.attributes("n2").status_code == 404
    cdp.ok(cdp.pipelines("identify", {"userId": "n2", "traits": {"back": True}}))
    assert api.attributes("n2").status_code == 404
    cdp.ok(cdp.pipelines("track", {"userId": "n2", "event": "User Unsuppressed"}))
    cdp.ok(cdp.pipelines("identify", {"userId": "n2", "traits": {"back": True}}))
    assert customer(api, "n2")["attributes"]["back"] == "true"


def test_pipelines_client_strict_mode(cdp, api):
    bad = {"userId": "n3", "event": "e", "timestamp": "yesterday"}
    refused, dropped, wrong_key = cdp.run(
        cdp.pipelines("track", bad, strict=True),
        cdp.pipelines("track", bad),
        cdp.pipelines("track", {"userId": "n3", "event": "e"}, strict=True, key="nope"),
    )
    assert not refused["ok"] and refused["error"]["statusCode"] == 400
    assert json.loads(refused["error"]["body"])["code"] == "invalid_request"
    assert dropped["ok"]  # without strict mode: 200, and recorded as rejected
    assert not wrong_key["ok"] and wrong_key["error"]["statusCode"] == 401
    assert api.attributes("n3").status_code == 404
    [rejection] = rejections(api)
    assert "timestamp" in rejection["message"]


def test_cdp_analytics_node_batches(cdp, api):
    calls = [
        cdp.analytics("identify", {"userId": "a1", "traits": {"plan": "team"}}),
        cdp.analytics("track", {"anonymousId": "anon-a", "event": "Browsed"}),
        cdp.analytics("identify", {"userId": "a1", "anonymousId": "anon-a"}),
        *(
            cdp.analytics("track", {"userId": "a1", "event": "Clicked", "properties": {"n": n}})
            for n in range(20)
        ),
        cdp.analytics("page", {"userId": "a1", "name": "Home"}),
        cdp.analytics("screen", {"userId": "a1", "name": "Main"}),
        cdp.analytics("group", {"userId": "a1", "groupId": "g1", "traits": {"tier": "gold"}}),
        cdp.analytics("alias", {"userId": "a1", "previousId": "anon-z"}),
        cdp.analytics("flush"),
    ]
    results = cdp.ok(*calls)
    assert results[-1] == []  # no call failed
    assert customer(api, "a1")["attributes"]["plan"] == "team"
    names = [e["name"] for e in activities(api, "a1")]
    assert names.count("Clicked") == 20 and "Browsed" in names
    clicked = next(e for e in activities(api, "a1") if e["name"] == "Clicked")
    library = clicked["data"]["_cdp"]["context"]["library"]["name"]
    assert library == "@customerio/cdp-analytics-node"
    assert [p["name"] for p in activities(api, "a1", type_="page")] == ["Home"]
    related = api.app("GET", "/v1/customers/a1/relationships").json()["cio_relationships"]
    assert [r["identifiers"]["object_id"] for r in related] == ["g1"]


def test_cdp_analytics_node_with_a_bad_key(cdp, api):
    results = cdp.ok(
        cdp.analytics("track", {"userId": "x", "event": "e"}, key="nope"),
        cdp.analytics("flush", key="nope"),
    )
    [failure] = results[-1]
    assert "401" in failure["message"]
