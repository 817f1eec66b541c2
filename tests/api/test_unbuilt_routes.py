"""Routes Tidings does not serve: 501 naming a Customer.io feature not built yet,
else a 404 in the surface's JSON error format (Track included)."""

import pytest

from tests.api.test_node_sdk import sdk  # noqa: F401  (fixture)


@pytest.mark.parametrize(
    ("method", "path", "error"),
    [
        ("GET", "/v1/subscription_topics", "subscription preferences are not implemented"),
        ("GET", "/v1/subscription_channels", "subscription preferences are not implemented"),
    ],
)
def test_unbuilt_customerio_routes_are_501_naming_the_feature(api, method, path, error):
    response = api.app(method, path, json={})
    assert response.status_code == 501, response.text
    assert response.json()["meta"]["error"].startswith(error)


def test_a_served_path_with_another_method_is_still_405(api):
    assert api.app("PATCH", "/v1/segments").status_code == 405


def test_an_unknown_app_path_is_a_json_404_naming_it(api):
    response = api.app("GET", "/v1/custmers")
    assert response.status_code == 404
    assert response.json()["meta"]["error"].startswith(
        "not found: no route matches GET /v1/custmers"
    )


@pytest.mark.parametrize("path", ["/api/v1/customrs/u1", "/api/v1/", "/api/v1/customers/u1/nope"])
def test_an_unknown_track_path_is_a_json_404(api, path):
    response = api.track("PUT", path, json={})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["meta"]["error"].startswith(f"not found: no route matches PUT {path}")
    v2 = api.track("POST", "/api/v2/entities", json={})
    assert (v2.status_code, v2.json()["errors"][0]["reason"]) == (404, "no_route")


def test_the_node_client_reports_the_missing_feature(sdk):  # noqa: F811
    [outcome] = sdk.run(sdk.app("listSubscriptionTopics"))
    assert outcome["error"]["statusCode"] == 501
    assert (
        outcome["error"]["message"] == "subscription preferences are not implemented in Tidings yet"
    )
