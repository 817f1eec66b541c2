"""ESP suppression and the data index over HTTP, against the real TLS server: the
official Node client's every method of them (`node/esp.mjs` asserts shapes as it
calls), and sends through the Python client that the list blocks, then allows.

Sends are delivered by the test server's own delivery worker (capture adapter),
polled until each reaches its end."""

from __future__ import annotations

from typing import Any

import pytest
from customerio import APIClient, SendEmailRequest

from tests.api.node_runner import requires
from tests.support import eventually

NODE_SCRIPT = "esp.mjs"  # the `node` fixture (tests/api/conftest.py) runs it
SENDER = "shop@esp.example.net"


def ok(response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def py_api(api, server, monkeypatch):
    # requests prefers REQUESTS_CA_BUNDLE from the environment over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    client = APIClient(api.creds.app_api_key, url=server.url)
    yield client
    client.http.close()


def send(py_api, to: str, customer: str) -> str:
    request = SendEmailRequest(
        to=to, identifiers={"id": customer}, _from=SENDER, subject="Hi", body="<p>Hi</p>"
    )
    return py_api.send_email(request)["delivery_id"]


def outcome(api, delivery_id: str) -> dict[str, Any]:
    """The message once the worker has sent or suppressed it."""

    def ended() -> dict[str, Any] | None:
        # The row and its metrics are two statements of the read: on PostgreSQL (READ
        # COMMITTED) a metric can be seen before the row's failure_message; wait for both.
        message = ok(api.app("GET", f"/v1/messages/{delivery_id}"))["message"]
        metrics = set(message["metrics"])
        if "sent" in metrics or ({"suppressed", "failed"} & metrics and message["failure_message"]):
            return message
        return None

    return eventually(ended, timeout=20)


def test_an_esp_suppression_blocks_a_send_until_it_is_removed(api, py_api):
    path = "/v1/esp/suppression/blocks/esp-block%40example.com"
    assert ok(api.app("POST", path)) == {}
    blocked = outcome(api, send(py_api, "Ann <esp-block@example.com>", "esp-1"))
    assert "sent" not in blocked["metrics"]
    assert blocked["failure_message"] == "the address esp-block@example.com is blocked (blocked)"

    assert api.app("DELETE", path).status_code == 204
    assert "sent" in outcome(api, send(py_api, "esp-block@example.com", "esp-1"))["metrics"]


def test_a_bounce_reported_through_track_joins_the_list_for_its_sending_domain(api, py_api):
    delivery_id = send(py_api, "Bo <esp-bounce@example.com>", "esp-2")
    outcome(api, delivery_id)
    bounce = {"delivery_id": delivery_id, "metric": "bounced"}
    assert api.track("POST", "/api/v1/metrics", json=bounce).status_code == 200
    found = ok(api.app("GET", "/v1/esp/search_suppression/esp-bounce%40example.com"))
    assert found["category"] == "bounces"
    [entry] = found["suppressions"]
    assert entry["reason"] == f"hard bounce reported for delivery {delivery_id}"
    page = ok(api.app("GET", "/v1/esp/domains/esp.example.net/suppression/bounces"))
    assert "esp-bounce@example.com" in [e["email"] for e in page["suppressions"]]
    assert page["next"] == ""
    again = outcome(api, send(py_api, "esp-bounce@example.com", "esp-2"))
    assert "sent" not in again["metrics"]


def test_suppressions_belong_to_one_workspace(api, other_api):
    assert ok(api.app("POST", "/v1/esp/suppression/spam_reports/esp-own%40example.com")) == {}
    theirs = ok(other_api.app("GET", "/v1/esp/search_suppression/esp-own%40example.com"))
    assert theirs == {"category": "", "suppressions": []}
    gone = other_api.app("DELETE", "/v1/esp/suppression/spam_reports/esp-own%40example.com")
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/esp/suppression/bounces?offset=x", None),
        ("GET", "/v1/esp/suppression/bounces?start=abc", None),
        ("GET", "/v1/esp/domains/esp.example.net/suppression/bounces?start=%21", None),
        ("POST", "/v1/esp/suppression/unsubscribes/a%40example.com", None),
        ("POST", "/v1/data_index/attributes", {"attributes": []}),
        ("POST", "/v1/data_index/events", {"events": [{"name": ""}]}),
    ],
)
def test_bad_requests_are_400s_in_customerios_body(api, method, path, body):
    response = api.app(method, path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["meta"]["error"]


def test_the_data_index_answers_204(api):
    body = {"attributes": [{"name": "plan", "description": "What they pay for"}]}
    response = api.app("POST", "/v1/data_index/attributes", json=body)
    assert (response.status_code, response.content) == (204, b"")


@requires("customerio-node")
def test_the_node_client_calls_every_esp_and_data_index_method(node, server, api, py_api):
    bounced = "esp-node-bounce@example.com"
    delivery_id = send(py_api, bounced, "esp-3")
    outcome(api, delivery_id)
    bounce = {"delivery_id": delivery_id, "metric": "bounced"}
    assert api.track("POST", "/api/v1/metrics", json=bounce).status_code == 200
    scenario = {
        "auth": {"appKey": api.creds.app_api_key, "url": server.url + "/v1"},
        "email": "esp-node@example.com",
        "bounced": bounced,
        "domain": "esp.example.net",
    }
    [result] = node.run([scenario])
    assert result["ok"], result["error"]
    seen = result["result"]
    assert seen["createSuppression"] == {}
    assert [e["email"] for e in seen["getSuppressionsFiltered"]["suppressions"]] == [
        "esp-node@example.com"
    ]
    assert bounced in [e["email"] for e in seen["getBounces"]["suppressions"]]
    assert len(seen["getDomainSuppressions"]["suppressions"]) == 1
    by_email = seen["getDomainSuppressionsByEmail"]
    assert ([e["email"] for e in by_email["suppressions"]], by_email["next"]) == ([bounced], "")
    assert seen["deleteSuppression"] == {}
    assert seen["searchAfterDelete"] == {"category": "", "suppressions": []}
    assert seen["deleteSuppressionAgain"]["statusCode"] == 404
    assert seen["getSuppressionsOfAnUnknownType"]["message"].startswith("suppression type")
    assert seen["batchUpdateAttributes"] == {} and seen["batchUpdateEvents"] == {}
    assert seen["batchUpdateEventsWithoutAName"]["statusCode"] == 400
