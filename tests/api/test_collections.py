"""Collections over HTTP (BEHAVIOUR.md 5.9): shapes, errors, limits, url fetches, customerio-node.

The test server's job worker fetches url collections; its allowlist admits
127.0.0.1, where `tests.httpserver` serves the files. Tests poll with
`eventually`. The refusal of loopback without an allowlist is tested with a
worker of its own in tests/integration/test_collections.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk
from tests.httpserver import Reply, Site, serve
from tests.support import eventually

ROWS = [
    {"eventName": "Launch", "eventDate": "2025-03-01", "presents": ["a"]},
    {"eventName": "Fair"},
]
KEYS = {"id", "name", "schema", "rows", "bytes", "created_at", "updated_at"}


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def error(response, status=400):
    assert response.status_code == status, response.text
    return response.json()["meta"]["error"]


def create(api, **body):
    return ok(api.app("POST", "/v1/collections", json=body))["collection"]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    routes = {
        "/events.csv": Reply(
            body=b"eventName,eventDate\nLaunch,2025-03-01\n", content_type="text/csv"
        ),
        "/events.json": Reply(body=json.dumps(ROWS).encode(), content_type="application/json"),
        "/missing.csv": Reply(status=404),
        "/hop": Reply(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
    }
    with serve(routes) as s:
        yield s


def wait_fetched(api, collection_id, status="done"):
    def fetched():
        shown = ok(api.app("GET", f"/v1/collections/{collection_id}"))["collection"]
        assert shown["fetch_status"] == status, shown
        return shown

    return eventually(fetched, timeout=20)


def test_create_get_list_content_update_delete(api):
    made = create(api, name="upcoming events", data=ROWS)
    assert set(made) == KEYS
    assert made["schema"] == ["eventDate", "eventName", "presents"]
    assert (made["name"], made["rows"]) == ("upcoming events", 2)
    assert made["bytes"] == len(json.dumps(ROWS, separators=(",", ":")))
    one = f"/v1/collections/{made['id']}"

    assert ok(api.app("GET", one)) == {"collection": made}
    assert made in ok(api.app("GET", "/v1/collections"))["collections"]
    assert ok(api.app("GET", one + "/content")) == ROWS

    renamed = ok(api.app("PUT", one, json={"name": "events"}))["collection"]
    assert (renamed["name"], renamed["rows"]) == ("events", 2)
    replaced = ok(api.app("PUT", one, json={"data": [{"x": 1}]}))["collection"]
    assert (replaced["rows"], replaced["schema"]) == (1, ["x"])
    content = ok(api.app("PUT", one + "/content", json=[{"y": 1}, {"y": 2}]))["collection"]
    assert content["rows"] == 2
    assert ok(api.app("GET", one + "/content")) == [{"y": 1}, {"y": 2}]

    response = api.app("DELETE", one)
    assert (response.status_code, response.content) == (204, b"")
    assert error(api.app("GET", one), 404) == "collection not found"
    assert error(api.app("DELETE", one), 404) == "collection not found"


def test_another_workspace_gets_404(api, other_api):
    made = create(api, name="mine", data=ROWS)
    one = f"/v1/collections/{made['id']}"
    for method, path, body in [
        ("GET", one, None),
        ("PUT", one, {"name": "theirs"}),
        ("DELETE", one, None),
        ("GET", one + "/content", None),
        ("PUT", one + "/content", []),
    ]:
        assert error(other_api.app(method, path, json=body), 404) == "collection not found"
    assert all(
        c["id"] != made["id"] for c in ok(other_api.app("GET", "/v1/collections"))["collections"]
    )
    assert ok(api.app("GET", one + "/content")) == ROWS


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, "name is required"),
        ({"name": "", "data": []}, "name must be a non-empty string"),
        ({"name": "x"}, "a collection needs data (an array of objects) or a url"),
        (
            {"name": "x", "data": [], "url": "https://e.test/a.csv"},
            "data and url are mutually exclusive",
        ),
        ({"name": "x", "data": {"a": 1}}, "data must be an array of objects, not an object"),
        ({"name": "x", "data": [{"a": 1}, "b"]}, "data[1] must be an object, not a string"),
        ({"name": "x", "url": "ftp://e.test/a.csv"}, "only http and https URLs"),
        ({"name": "x", "url": 5}, "url must be an http(s) URL"),
    ],
)
def test_invalid_bodies(api, body, message):
    assert message in error(api.app("POST", "/v1/collections", json=body))


def test_bad_ids_and_bodies(api):
    assert error(api.app("GET", "/v1/collections/abc"), 404) == "collection not found"
    assert error(api.app("GET", "/v1/collections/99999999999"), 404) == "collection not found"
    made = create(api, name="target", data=[])
    one = f"/v1/collections/{made['id']}"
    assert "content must be an array" in error(api.app("PUT", one + "/content", json={"a": 1}))
    assert "malformed JSON" in error(api.app("PUT", one, content=b"{"))


def test_duplicate_names_are_refused(api):
    create(api, name="menu", data=[])
    assert error(api.app("POST", "/v1/collections", json={"name": "menu", "data": []})) == (
        "a collection named 'menu' already exists"
    )
    other = create(api, name="drinks", data=[])
    put = api.app("PUT", f"/v1/collections/{other['id']}", json={"name": "menu"})
    assert "already exists" in error(put)


def test_limits(api):
    row = {"v": "x" * (10 * 1024 - len('{"v":""}'))}
    assert create(api, name="full row", data=[row])["rows"] == 1
    big_row = {"v": row["v"] + "x"}
    message = error(
        api.app("POST", "/v1/collections", json={"name": "big", "data": [row, big_row]})
    )
    assert message == "data[1] is 10241 bytes as JSON; a row may have at most 10240 bytes"

    many = [row] * 1030  # about 10.3 MB
    body = json.dumps({"name": "huge", "data": many}).encode()
    message = error(api.app("POST", "/v1/collections", content=body))
    assert message == "data is larger than 10485760 bytes as JSON (the limit)"
    too_big = b'{"name": "x", "data": [' + b" " * (20 * 1024 * 1024) + b"]}"
    assert (
        error(api.app("POST", "/v1/collections", content=too_big), 413) == "request body too large"
    )


def test_url_collection_is_fetched(api, site):
    made = create(api, name="from csv", url=site.url("/events.csv"))
    assert made["fetch_status"] == "pending" and made["url"] == site.url("/events.csv")
    assert (made["rows"], made["fetch_error"]) == (0, None)
    done = wait_fetched(api, made["id"])
    assert (done["rows"], done["schema"]) == (1, ["eventDate", "eventName"])
    one = f"/v1/collections/{made['id']}"
    assert ok(api.app("GET", one + "/content")) == [
        {"eventName": "Launch", "eventDate": "2025-03-01"}
    ]

    moved = ok(api.app("PUT", one, json={"url": site.url("/events.json")}))["collection"]
    assert (moved["fetch_status"], moved["rows"]) == ("pending", 1)
    wait_fetched(api, made["id"])
    assert ok(api.app("GET", one + "/content")) == ROWS


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing.csv", "the server responded 404"),
        ("/hop", "169.254.169.254, a cloud metadata address"),  # a redirect, re-checked
    ],
)
def test_url_fetch_failures_are_shown(api, site, path, reason):
    made = create(api, name=f"failing {path}", url=site.url(path))
    failed = wait_fetched(api, made["id"], "failed")
    assert reason in failed["fetch_error"]
    assert failed["rows"] == 0


def test_private_addresses_are_refused_by_the_server(api, site):
    # The test server allows 127.0.0.1 only; "localhost" may also resolve to ::1,
    # so use a private address that nothing listens on.
    made = create(api, name="private", url="http://10.255.255.1/x.csv")
    failed = wait_fetched(api, made["id"], "failed")
    assert "10.255.255.1, a private address" in failed["fetch_error"]


needs_node = requires("customerio-node")


@needs_node
def test_the_node_api_client_manages_collections(node, server, api, site):
    sdk = Sdk(node, server, api.creds)
    (created,) = sdk.ok(sdk.app("createCollection", {"name": "node rows", "data": ROWS}))
    cid = created["collection"]["id"]
    listed, got, content = sdk.ok(
        sdk.app("listCollections"),
        sdk.app("getCollection", cid),
        sdk.app("getCollectionContent", cid),
    )
    assert created["collection"] in listed["collections"]
    assert got == created
    assert content == ROWS
    updated, replaced, after = sdk.ok(
        sdk.app("updateCollection", cid, {"name": "node rows 2"}),
        sdk.app("updateCollectionContent", cid, [{"k": "v"}]),
        sdk.app("getCollectionContent", cid),
    )
    assert updated["collection"]["name"] == "node rows 2"
    assert replaced["collection"]["rows"] == 1 and after == [{"k": "v"}]

    (from_url,) = sdk.ok(
        sdk.app("createCollection", {"name": "node url", "url": site.url("/events.json")})
    )
    wait_fetched(api, from_url["collection"]["id"])
    (fetched,) = sdk.ok(sdk.app("getCollectionContent", from_url["collection"]["id"]))
    assert fetched == ROWS

    deleted, missing = sdk.run(sdk.app("deleteCollection", cid), sdk.app("getCollection", cid))
    assert deleted["ok"], deleted
    assert (missing["ok"], missing["error"]["statusCode"]) == (False, 404)
    assert "collection not found" in missing["error"]["message"]
