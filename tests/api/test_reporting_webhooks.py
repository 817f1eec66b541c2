"""Reporting webhooks over HTTP: the App API resource, posts a receiver can verify,
isolation between workspaces, and customerio-node's APIClient."""

import pytest

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk
from tests.factories import add_delivery
from tests.support import eventually
from tests.webhook_receiver import receive, verify


def create(api, **fields):
    body = {"endpoint": "https://hooks.example.com/cio", "events": ["email_opened"], **fields}
    response = api.app("POST", "/v1/reporting_webhooks", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_read_change_list_and_delete(api):
    made = create(api, name="ops", with_content=True)
    assert made["name"] == "ops" and made["events"] == ["email_opened"]
    assert made["full_resolution"] is True and made["with_content"] is True
    assert made["disabled"] is False and len(made["signing_key"]) == 64
    path = f"/v1/reporting_webhooks/{made['id']}"
    never_attempted = {"last_attempt_at": None, "last_error": None, "recent_attempts": []}
    assert api.app("GET", path).json() == {**made, **never_attempted}
    changed = api.app("PUT", path, json={"disabled": True, "events": ["sms_sent"]}).json()
    assert changed["disabled"] is True and changed["events"] == ["sms_sent"]
    assert changed["signing_key"] == made["signing_key"] and changed["name"] == "ops"
    listed = api.app("GET", "/v1/reporting_webhooks").json()["reporting_webhooks"]
    assert [w["id"] for w in listed] == [made["id"]]
    deleted = api.app("DELETE", path)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api.app("GET", path).status_code == 404
    assert api.app("GET", "/v1/reporting_webhooks").json() == {"reporting_webhooks": []}


@pytest.mark.parametrize(
    "body",
    [
        {"events": ["email_sent"]},
        {"endpoint": "not a url", "events": ["email_sent"]},
        {"endpoint": "https://x.example.com", "events": ["email_read"]},
        {"endpoint": "https://x.example.com", "events": ["email_sent"], "full_resolution": 1},
    ],
)
def test_bad_webhooks_are_400s(api, body):
    response = api.app("POST", "/v1/reporting_webhooks", json=body)
    assert response.status_code == 400
    assert response.json()["meta"]["error"]


def test_another_workspace_cannot_see_or_touch_a_webhook(api, other_api):
    made = create(api)
    path = f"/v1/reporting_webhooks/{made['id']}"
    assert other_api.app("GET", path).status_code == 404
    assert other_api.app("PUT", path, json={"disabled": True}).status_code == 404
    assert other_api.app("DELETE", path).status_code == 404
    assert other_api.app("GET", "/v1/reporting_webhooks").json() == {"reporting_webhooks": []}
    assert made.items() <= api.app("GET", path).json().items()


def test_a_reported_metric_reaches_the_endpoint_signed(api, other_api, tx):
    ws = api.creds.workspace_id
    delivery_id = f"hook-{ws}"
    with receive() as hook:
        made = create(api, endpoint=hook.url, events=["email_opened", "email_clicked"])
        create(other_api, endpoint=hook.url, events=["email_opened"])
        tx(add_delivery, ws, delivery_id, None)
        for metric in ("opened", "clicked", "delivered"):
            body = {"delivery_id": delivery_id, "metric": metric, "href": "https://x.example.com"}
            assert api.track("POST", "/api/v1/metrics", json=body).status_code == 200
        eventually(lambda: len(hook.posts) == 2)
        opened, clicked = hook.posts
        assert all(verify(post, made["signing_key"]) for post in hook.posts)
        assert opened.headers["content-type"] == "application/json"
        assert (opened.json()["metric"], clicked.json()["metric"]) == ("opened", "clicked")
        assert clicked.json()["data"]["href"] == "https://x.example.com"
        assert opened.json()["data"]["delivery_id"] == delivery_id


@pytest.mark.parametrize(
    "endpoint", ["http://10.0.0.1/hook", "http://169.254.169.254/latest", "http://[::1]:9/"]
)
def test_an_endpoint_the_fetch_guard_refuses_is_a_400_naming_the_setting(api, endpoint):
    body = {"endpoint": endpoint, "events": ["email_opened"]}
    refused = api.app("POST", "/v1/reporting_webhooks", json=body)
    assert refused.status_code == 400
    message = refused.json()["meta"]["error"]
    assert "not allowed" in message
    assert "--fetch-allow" in message and "TIDINGS_FETCH_ALLOW" in message
    assert api.app("GET", "/v1/reporting_webhooks").json() == {"reporting_webhooks": []}

    made = create(api)
    path = f"/v1/reporting_webhooks/{made['id']}"
    changed = api.app("PUT", path, json={"endpoint": endpoint})
    assert changed.status_code == 400 and "--fetch-allow" in changed.json()["meta"]["error"]
    assert api.app("GET", path).json()["endpoint"] == made["endpoint"]


def test_a_failing_endpoint_shows_its_attempts_and_last_error(api, tx):
    ws = api.creds.workspace_id
    delivery_id = f"failing-hook-{ws}"
    with receive() as hook:
        hook.statuses = [503]
        failing = create(api, endpoint=hook.url + "/failing", events=["email_opened"])
        tx(add_delivery, ws, delivery_id, None)
        body = {"delivery_id": delivery_id, "metric": "opened"}
        assert api.track("POST", "/api/v1/metrics", json=body).status_code == 200

        def attempted() -> dict:
            shown = api.app("GET", f"/v1/reporting_webhooks/{failing['id']}").json()
            assert shown["last_error"]
            return shown

        shown = eventually(attempted, timeout=15)
    assert "503" in shown["last_error"] and hook.url in shown["last_error"]
    [attempt] = shown["recent_attempts"]
    assert attempt["state"] == "queued"  # to be retried
    assert attempt["attempts"] == 1 and attempt["error"] == shown["last_error"]
    assert attempt["attempted_at"] == shown["last_attempt_at"] > 0


needs_node = requires("customerio-node")


@needs_node
def test_the_node_api_client_manages_reporting_webhooks(node, server, api):
    sdk = Sdk(node, server, api.creds)
    spec = {"endpoint": "https://hooks.example.com/n", "events": ["email_sent"], "name": "n"}
    (made,) = sdk.ok(sdk.app("createReportingWebhook", spec))
    listed, got, changed = sdk.ok(
        sdk.app("listReportingWebhooks"),
        sdk.app("getReportingWebhook", made["id"]),
        sdk.app("updateReportingWebhook", made["id"], {"full_resolution": False}),
    )
    assert listed == {"reporting_webhooks": [made]}
    assert made.items() <= got.items() and changed["full_resolution"] is False
    deleted, missing = sdk.run(
        sdk.app("deleteReportingWebhook", made["id"]), sdk.app("getReportingWebhook", made["id"])
    )
    assert deleted["ok"], deleted
    assert (missing["ok"], missing["error"]["statusCode"]) == (False, 404)


def test_unsubscribing_through_track_reaches_the_endpoint_as_customer_events(api):
    events = ["customer_unsubscribed", "customer_subscribed"]
    with receive() as hook:
        made = create(api, endpoint=hook.url, events=events)
        for value in (True, True, False):  # the second changes nothing
            body = {"email": "unsub@example.com", "unsubscribed": value}
            assert api.track("PUT", "/api/v1/customers/unsub-1", json=body).status_code == 200
        eventually(lambda: len(hook.posts) == 2)
        unsubscribed, subscribed = (post.json() for post in hook.posts)
        assert all(verify(post, made["signing_key"]) for post in hook.posts)
    assert [unsubscribed["metric"], subscribed["metric"]] == ["unsubscribed", "subscribed"]
    assert unsubscribed["object_type"] == "customer"
    data = unsubscribed["data"]
    assert (data["customer_id"], data["email_address"]) == ("unsub-1", "unsub@example.com")
    assert data["identifiers"]["id"] == "unsub-1"
    assert data["identifiers"]["email"] == "unsub@example.com"
