"""The official Node client (`customerio-node@5.2.0`) against the real TLS server.

`TrackClient` is pointed at `{url}/api/v1` and `APIClient` at `{url}/v1`
(BEHAVIOUR.md 8.5). One Node process per module runs the calls (see
`node/run.mjs`); Node trusts the test CA through NODE_EXTRA_CA_CERTS.
"""

import pytest
from sqlalchemy import select

from tests.api.node_runner import NodeRunner, requires
from tests.api.test_track_v1_operations import activities, customer
from tests.factories import add_delivery
from tidings.db.schema import delivery_metrics, events, forms
from tidings.people import store
from tidings.people.identifiers import Identifier

pytestmark = requires("customerio-node")


class Sdk:
    """Builds calls for one workspace's Track and App clients and runs them in one go."""

    def __init__(self, node: NodeRunner, server, creds) -> None:
        self.node = node
        self.track_auth = {
            "siteId": creds.site_id,
            "apiKey": creds.track_api_key,
            "url": server.url + "/api/v1",
        }
        self.app_auth = {"appKey": creds.app_api_key, "url": server.url + "/v1"}

    def track(self, method: str, *args) -> dict:
        return {"client": "track", "auth": self.track_auth, "method": method, "args": list(args)}

    def app(self, method: str, *args) -> dict:
        return {"client": "app", "auth": self.app_auth, "method": method, "args": list(args)}

    def run(self, *calls: dict) -> list[dict]:
        return self.node.run(list(calls))

    def ok(self, *calls: dict) -> list:
        """Run calls that must all succeed; returns their results."""
        return self.node.ok(list(calls))


@pytest.fixture
def sdk(node, server, api):
    return Sdk(node, server, api.creds)


def test_identify_and_read_back_with_the_api_client(sdk, api):
    results = sdk.ok(
        sdk.track("identify", "u 1/é", {"email": "A+b@Example.com", "plan": "pro", "n": 3}),
        sdk.track("identify", "u 1/é", {"n": None}),
        sdk.app("getAttributes", "u 1/é"),
        sdk.app("getAttributes", "a+b@example.com", "email"),
        sdk.app("getCustomersByEmail", "a+b@example.com"),
    )
    assert results[:2] == [{}, {}]
    shown, by_email, lookup = results[2]["customer"], results[3]["customer"], results[4]
    assert shown["attributes"]["plan"] == "pro"
    assert "n" not in shown["attributes"]
    assert shown["identifiers"]["email"] == "A+b@Example.com"
    assert by_email["id"] == "u 1/é"
    assert lookup == {
        "results": [
            {"email": "A+b@Example.com", "id": "u 1/é", "cio_id": shown["identifiers"]["cio_id"]}
        ]
    }


def test_destroy(sdk, api):
    sdk.ok(sdk.track("identify", "u1", {"plan": "pro"}), sdk.track("destroy", "u1"))
    assert api.attributes("u1").status_code == 404


def test_suppress_and_unsuppress(sdk, api):
    sdk.ok(
        sdk.track("identify", "u1", {"email": "a@example.com", "plan": "pro"}),
        sdk.track("suppress", "u1"),
        sdk.track("identify", "a@example.com", {"plan": "blocked"}),
    )
    assert api.attributes("u1").status_code == 404
    assert api.attributes("a@example.com", "email").status_code == 404
    sdk.ok(sdk.track("unsuppress", "a@example.com"), sdk.track("identify", "u1", {"fresh": 1}))
    assert customer(api, "u1")["attributes"]["fresh"] == "1"
    assert "plan" not in customer(api, "u1")["attributes"]


def test_track_with_id_and_timestamp_page_views_and_anonymous_events(sdk, api, query):
    event = {"name": "purchase", "data": {"price": 9.5}, "id": "evt-node", "timestamp": 1700000000}
    sdk.ok(
        sdk.track("track", "u1", event),
        sdk.track("track", "u1", event),  # a retry
        sdk.track("trackPageView", "u1", "/pricing"),
        sdk.track("trackAnonymous", "anon-node", {"name": "viewed", "data": {"sku": "x"}}),
        sdk.track("identify", "u1", {"anonymous_id": "anon-node"}),
        sdk.track("trackAnonymous", "", {"name": "invite", "data": {"recipient": "f@x.io"}}),
    )
    shown = [(a["name"], a["timestamp"]) for a in activities(api, "u1")]
    assert shown[0] == ("purchase", 1700000000)
    assert [name for name, _ in shown] == ["purchase", "viewed"]
    assert [a["name"] for a in activities(api, "u1", type_="page")] == ["/pricing"]
    invites = query(
        lambda conn: conn.execute(
            select(events.c.anonymous_id, events.c.data).where(
                events.c.workspace_id == api.creds.workspace_id, events.c.name == "invite"
            )
        ).all()
    )
    assert [tuple(row) for row in invites] == [(None, '{"recipient":"f@x.io"}')]


def test_add_and_delete_devices(sdk, api):
    sdk.ok(
        sdk.track("addDevice", "u1", "tok/1", "ios", {"last_used": 1700000000, "app_version": "2"}),
        sdk.track("addDevice", "u1", "tok2", "android"),
    )
    shown = {d["id"]: d for d in customer(api, "u1")["devices"]}
    assert shown["tok/1"] == {
        "id": "tok/1",
        "platform": "ios",
        "last_used": 1700000000,
        "attributes": {"app_version": "2"},
    }
    assert shown["tok2"]["platform"] == "android"
    sdk.ok(sdk.track("deleteDevice", "u1", "tok/1"))
    assert [d["id"] for d in customer(api, "u1")["devices"]] == ["tok2"]


def test_merge_customers(sdk, api):
    sdk.ok(
        sdk.track("identify", "keep", {"plan": "gold"}),
        sdk.track("identify", "gone@example.com", {"plan": "free", "city": "Oslo"}),
        sdk.track("track", "gone@example.com", {"name": "visited"}),
        sdk.track("mergeCustomers", "id", "keep", "email", "gone@example.com"),
    )
    shown = customer(api, "keep")
    assert (shown["attributes"]["plan"], shown["attributes"]["city"]) == ("gold", "Oslo")
    assert [a["name"] for a in activities(api, "keep")] == ["visited"]
    assert customer(api, "gone@example.com", "email")["id"] == "keep"


def segment_ids(api, ident):
    return [s["id"] for s in api.app("GET", f"/v1/customers/{ident}/segments").json()["segments"]]


def test_manual_segment_membership(sdk, api):
    created = api.app("POST", "/v1/segments", json={"segment": {"name": "node"}})
    assert created.status_code == 200, created.text
    segment_id = created.json()["segment"]["id"]
    sdk.ok(
        sdk.track("identify", "u1", {"email": "one@example.com"}),
        sdk.track("identify", "42", {}),
        sdk.track("addCustomersToSegment", segment_id, ["u1", 42, "nobody"]),
        sdk.track("addCustomersToSegment", str(segment_id), ["ONE@example.com"], "email"),
    )
    assert segment_ids(api, "u1") == [segment_id]
    assert segment_ids(api, "42") == [segment_id]
    cio_id = customer(api, "42")["identifiers"]["cio_id"]
    sdk.ok(
        sdk.track("removeCustomersFromSegment", segment_id, ["one@example.com"], "email"),
        sdk.track("removeCustomersFromSegment", segment_id, [cio_id], "cio_id"),
    )
    assert segment_ids(api, "u1") == []
    assert segment_ids(api, "42") == []


def test_submit_form(sdk, api, query):
    [result] = sdk.ok(sdk.track("submitForm", "contact", {"email": "a@example.com", "name": "Ann"}))
    assert result == {}  # a 204 resolves to {}
    assert customer(api, "a@example.com", "email")["attributes"]["name"] == "Ann"
    submissions = query(
        lambda conn: conn.execute(
            select(forms.c.submissions).where(forms.c.workspace_id == api.creds.workspace_id)
        ).scalar()
    )
    assert submissions == 1


def metrics_of(conn, ws):
    query = select(delivery_metrics.c.delivery_id, delivery_metrics.c.metric).where(
        delivery_metrics.c.workspace_id == ws
    )
    return sorted(tuple(row) for row in conn.execute(query))


def test_report_metric_and_track_push(sdk, api, query):
    sdk.ok(
        sdk.track(
            "reportMetric", {"delivery_id": "dlv1", "metric": "clicked", "href": "https://x"}
        ),
        sdk.track(
            "trackPush",
            {"delivery_id": "dlv2", "event": "opened", "device_id": "tok", "timestamp": 1700000000},
        ),
    )
    assert query(metrics_of, api.creds.workspace_id) == [("dlv1", "clicked"), ("dlv2", "opened")]


def test_unsubscribe(sdk, api, tx):
    ws = api.creds.workspace_id
    sdk.ok(sdk.track("identify", "u1", {"email": "a@example.com"}))
    cio_id = customer(api, "u1")["identifiers"]["cio_id"]

    person = tx(store.find, ws, Identifier("cio_id", cio_id))
    tx(add_delivery, ws, f"node-dlv-{ws}", person.pk)
    sdk.ok(sdk.track("unsubscribe", f"node-dlv-{ws}"))
    shown = customer(api, "u1")
    assert shown["attributes"]["unsubscribed"] == "true"
    assert shown["unsubscribed"] is True
    sdk.ok(sdk.track("unsubscribe", f"node-dlv-{ws}", False))
    assert customer(api, "u1")["unsubscribed"] is False
    [outcome] = sdk.run(sdk.track("unsubscribe", "no-such-delivery"))
    assert outcome["error"]["statusCode"] == 400


def test_account_region(sdk, server, api):
    [region] = sdk.ok(sdk.track("getAccountRegion"))
    assert region == {"url": server.url, "region": "us", "environment_id": api.creds.workspace_id}


def test_request_errors_carry_the_servers_message(sdk, api):
    outcomes = sdk.run(
        sdk.track("track", "u1", {"name": "n" * 101}),
        sdk.track("addDevice", "u1", "tok", "windows"),
        sdk.track("identify", "u1", {"bio": "x" * 1001}),
        sdk.app("getAttributes", "nobody"),
    )
    errors = [o["error"] for o in outcomes]
    assert all(not o["ok"] for o in outcomes)
    assert [e["name"] for e in errors] == ["CustomerIORequestError"] * 4
    assert [e["statusCode"] for e in errors] == [400, 400, 400, 404]
    assert errors[0]["message"] == "event name cannot be longer than 100 bytes"
    assert errors[1]["message"] == "1 error:\n  - device.platform must be one of: ios, android"
    assert errors[2]["message"] == "attribute value cannot be longer than 1000 bytes: bio"
    assert errors[3]["message"] == "customer not found"
    assert api.attributes("u1").status_code == 404


def test_wrong_credentials_are_a_401(sdk, api):
    sdk.track_auth = {**sdk.track_auth, "apiKey": "wrong"}
    sdk.app_auth = {**sdk.app_auth, "appKey": "wrong"}
    outcomes = sdk.run(sdk.track("identify", "u1", {}), sdk.app("getAttributes", "u1"))
    track, app = (outcome["error"] for outcome in outcomes)
    assert (track["statusCode"], app["statusCode"]) == (401, 401)
    assert track["message"].startswith("unauthorized: the Track API expects HTTP Basic auth")
    assert app["message"].startswith("unauthorized: the App API expects")


def test_a_missing_segment_rejects_with_the_plain_text_404(sdk):
    # Track answers a missing segment with a text body, as Customer.io does
    # (BEHAVIOUR.md 2.5); the Node client cannot parse it and says so.
    [outcome] = sdk.run(sdk.track("addCustomersToSegment", 999999999, ["u1"]))
    assert not outcome["ok"]
    assert "Unable to parse JSON" in outcome["error"]["message"]
    assert "segment not found" in outcome["error"]["message"]
