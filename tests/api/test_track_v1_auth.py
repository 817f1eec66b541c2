"""Track credentials: HTTP Basic `site_id:track_api_key`, either base64 alphabet; 401 otherwise."""

import base64
import secrets
import time

import pytest

from tests.api.conftest import Api
from tidings.workspaces.service import create_workspace

UNAUTHORIZED = {
    "meta": {
        "error": "unauthorized: the Track API expects HTTP Basic auth with site_id:track_api_key"
    }
}

ROUTES = [
    ("PUT", "/api/v1/customers/u1"),
    ("DELETE", "/api/v1/customers/u1"),
    ("POST", "/api/v1/customers/u1/events"),
    ("PUT", "/api/v1/customers/u1/devices"),
    ("DELETE", "/api/v1/customers/u1/devices/tok"),
    ("POST", "/api/v1/customers/u1/suppress"),
    ("POST", "/api/v1/customers/u1/unsuppress"),
    ("POST", "/api/v1/events"),
    ("POST", "/api/v1/merge_customers"),
    ("POST", "/api/v1/segments/1/add_customers"),
    ("POST", "/api/v1/segments/1/remove_customers"),
    ("POST", "/api/v1/metrics"),
    ("POST", "/api/v1/push/events"),
    ("POST", "/push/events"),
    ("POST", "/api/v1/forms/f1/submit"),
    ("GET", "/api/v1/accounts/region"),
]


def basic(text, encode=base64.b64encode):
    return {"Authorization": "Basic " + encode(text.encode()).decode()}


def bad_headers(api):
    creds = api.creds
    return {
        "none": {},
        "wrong key": basic(f"{creds.site_id}:not-the-key"),
        "wrong site": basic(f"nobody:{creds.track_api_key}"),
        "no colon": basic(f"{creds.site_id}{creds.track_api_key}"),
        "empty": basic(":"),
        "garbage": {"Authorization": "Basic !!!not-base64!!!"},
        "bearer app key": {"Authorization": f"Bearer {creds.app_api_key}"},
        "app key as password": basic(f"{creds.site_id}:{creds.app_api_key}"),
        "other scheme": {"Authorization": "Digest " + creds.track_api_key},
    }


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_track_route_needs_credentials(api, query, method, path):
    for name, headers in bad_headers(api).items():
        response = api.http.request(method, path, headers=headers, json={})
        assert response.status_code == 401, name
        assert response.json() == UNAUTHORIZED, name
        assert response.headers["www-authenticate"] == 'Basic realm="Track API"', name


def test_nothing_is_written_without_credentials(api):
    api.http.put("/api/v1/customers/u1", json={"a": 1}, headers=bad_headers(api)["wrong key"])
    assert api.attributes("u1").status_code == 404


def test_the_track_key_does_not_open_the_app_api(api):
    auth = (api.creds.site_id, api.creds.track_api_key)
    response = api.http.get("/v1/customers/u1/attributes", auth=auth)
    assert response.status_code == 401
    response = api.http.get(
        "/v1/customers/u1/attributes",
        headers={"Authorization": f"Bearer {api.creds.track_api_key}"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "x"}])
def test_app_api_401s_say_it_wants_a_bearer_app_key(api, headers):
    response = api.http.get("/v1/customers/u1/attributes", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="App API"'
    assert response.json() == {
        "meta": {
            "error": "unauthorized: the App API expects the header"
            " Authorization: Bearer <App API key>"
        }
    }


def awkward_credentials():
    """A site id and key whose `site:key` encodes differently in the two base64 alphabets."""
    while True:
        site, key = secrets.token_hex(8), "k?>" + secrets.token_hex(4) + "~?>>"
        text = f"{site}:{key}".encode()
        if base64.b64encode(text) != base64.urlsafe_b64encode(text):
            return site, key


def create_awkward(conn):
    site, key = awkward_credentials()
    return create_workspace(conn, "awkward", time.time(), site_id=site, track_api_key=key)


@pytest.fixture
def awkward_workspace(tx):
    return tx(create_awkward)


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,  # Go's base64.URLEncoding
        lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"="),
        lambda raw: base64.b64encode(raw).rstrip(b"="),
    ],
    ids=["standard", "url-safe", "url-safe unpadded", "standard unpadded"],
)
def test_either_base64_alphabet_is_accepted(server, awkward_workspace, encode):
    api = Api(server, awkward_workspace)
    try:
        text = f"{awkward_workspace.site_id}:{awkward_workspace.track_api_key}"
        headers = basic(text, encode)
        response = api.http.put("/api/v1/customers/u1", json={"ok": 1}, headers=headers)
        assert response.status_code == 200, response.text
        assert api.attributes("u1").status_code == 200
    finally:
        api.close()


def test_unsubscribe_needs_no_credentials_but_still_answers_in_json(api):
    response = api.http.post("/unsubscribe/unknown-delivery", json={"unsubscribe": True})
    assert response.status_code == 400
    assert isinstance(response.json()["meta"]["error"], str)
