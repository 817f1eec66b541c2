"""Query parameters: each route reads a declared set, refuses any other, and checks values.

A misspelt filter used to be ignored, so `GET /v1/outbox?recipeint=x` listed
everything; now it is a 400 naming the parameter and what the route accepts.
"""

import pytest

from tests.api.test_send import captured, inline
from tests.support import eventually


def test_the_outbox_filters_by_recipient(api):
    to_ann = api.app("POST", "/v1/send/email", json=inline(to="ann@example.com")).json()
    to_bob = api.app("POST", "/v1/send/email", json=inline(to="bob@example.com")).json()
    captured(api, to_ann["delivery_id"])
    captured(api, to_bob["delivery_id"])
    response = api.app("GET", "/v1/outbox", params={"recipient": "bob@example.com"})
    assert response.status_code == 200, response.text
    assert [m["delivery_id"] for m in response.json()["messages"]] == [to_bob["delivery_id"]]
    nobody = api.app("GET", "/v1/outbox", params={"recipient": "nobody@example.com"})
    assert nobody.json() == {"messages": [], "next": ""}


@pytest.mark.parametrize(
    ("path", "params", "named", "accepted"),
    [
        ("/v1/outbox", {"recipeint": "x"}, "recipeint", "delivery_id, limit, recipient, start"),
        ("/v1/messages", {"metrc": "sent", "limit": "2"}, "metrc", "metric"),
        ("/v1/segments", {"limit": "2"}, "limit", "accepts: none"),
        ("/v1/customers/u1/attributes", {"idtype": "email"}, "idtype", "id_type"),
    ],
)
def test_an_unknown_app_api_parameter_is_a_400_naming_it(api, path, params, named, accepted):
    response = api.app("GET", path, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["meta"]["error"]
    assert error.startswith(f"unsupported query parameter: {named} (GET /v1/")
    assert accepted in error


def test_every_unknown_parameter_is_named_at_once(api):
    response = api.app("GET", "/v1/outbox", params={"b": "1", "a": "2", "limit": "1"})
    assert response.status_code == 400
    assert response.json()["meta"]["error"].startswith("unsupported query parameters: a, b (")


def test_track_and_pipelines_answer_in_their_own_formats(api):
    response = api.track("PUT", "/api/v1/customers/q1", params={"dry_run": "1"}, json={"a": 1})
    assert response.status_code == 400
    assert response.json()["meta"]["error"].startswith("unsupported query parameter: dry_run")
    assert api.attributes("q1").status_code == 404
    response = api.track("POST", "/api/v2/entity", params={"x": "1"}, json={})
    assert response.json()["errors"][0]["field"] == "x"
    key = api.creds.cdp_write_key
    response = api.http.post("/v1/track", params={"x": "1"}, auth=(key, ""), json={})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"metric": "bogus"}, "metric must be one of: attempted, bounced"),
        ({"type": "letter"}, "type must be one of: email, push"),
        ({"drafts": "yes"}, "drafts must be one of: true, false"),
    ],
)
def test_invalid_message_filters_are_400s(api, params, named):
    response = api.app("GET", "/v1/messages", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["meta"]["error"].startswith(named)


def test_valid_message_filters_still_answer(api):
    sent = api.app("POST", "/v1/send/email", json=inline()).json()["delivery_id"]
    captured(api, sent)

    def listed(**params):
        response = api.app("GET", "/v1/messages", params=params)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["messages"]]

    assert sent in listed(type="email", drafts="false", metric="")
    assert eventually(lambda: sent in listed(metric="sent"), timeout=15)
    assert listed(type="slack") == []


def test_tracked_links_accept_what_mail_clients_append(api):
    response = api.http.get("/t/o/not-a-token", params={"utm_source": "newsletter"})
    assert response.status_code == 404  # the token, not the parameter, decides


def test_openapi_lists_each_routes_query_parameters(api):
    paths = api.http.get("/openapi.json").json()["paths"]

    def query(path, method="get"):
        parameters = paths[path][method].get("parameters", [])
        return [p["name"] for p in parameters if p["in"] == "query"]

    assert query("/v1/outbox") == [
        "campaign",
        "channel",
        "delivery_id",
        "limit",
        "recipient",
        "start",
        "template",
    ]
    assert "metric" in query("/v1/messages")
    assert query("/v1/customers/{customer_id}/attributes") == ["id_type"]  # a seed operation
    assert query("/api/v1/customers/{identifier}", "put") == []
