"""The Pipelines API over HTTP: auth, gzip, errors, strict mode, limits, rejections.

Success is `200 {}`; errors are `{"code", "message"}` (what cdp-analytics-python
reads). Effects are checked through the App API.
"""

import gzip
import json
import re

import pytest

from tests.api.test_track_v1_operations import JSON, activities, customer
from tests.support import eventually

STRICT = {"X-Strict-Mode": "1"}


def cdp(api, path, body=None, *, key=None, headers=None, content=None, auth="basic"):
    """POST to the Pipelines API with the workspace's write key (Basic, Bearer or none)."""
    key = api.creds.cdp_write_key if key is None else key
    sent = dict(headers or {})
    if auth == "bearer":
        sent["Authorization"] = f"Bearer {key}"
    kwargs = {"auth": (key, "")} if auth == "basic" else {}
    if content is None:
        content = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    return api.http.post(path, content=content, headers=sent, **kwargs)


def assert_ok(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert response.json() == {}


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]


def rejections(api):
    response = api.app("GET", "/v1/pipelines/rejections")
    assert response.status_code == 200, response.text
    return response.json()["rejections"]


def test_every_endpoint_with_basic_auth(api):
    calls = [
        ("identify", {"userId": "u1", "traits": {"plan": "pro"}}),
        ("track", {"userId": "u1", "event": "Signed Up", "properties": {"n": 1}}),
        ("page", {"userId": "u1", "name": "Home"}),
        ("screen", {"userId": "u1", "name": "Settings"}),
        ("group", {"userId": "u1", "groupId": "acme", "traits": {"name": "Acme"}}),
        ("alias", {"userId": "u1", "previousId": "anon-1"}),
        ("batch", {"batch": [{"type": "track", "userId": "u1", "event": "In Batch"}]}),
    ]
    for path, body in calls:
        assert_ok(cdp(api, f"/v1/{path}", body))
    shown = customer(api, "u1")
    assert shown["attributes"]["plan"] == "pro"
    assert shown["attributes"]["anonymous_id"] == "anon-1"
    assert [a["name"] for a in activities(api, "u1")] == ["Signed Up", "In Batch"]
    assert [a["name"] for a in activities(api, "u1", type_="page")] == ["Home"]
    assert [a["name"] for a in activities(api, "u1", type_="screen")] == ["Settings"]
    related = api.app("GET", "/v1/customers/u1/relationships").json()["cio_relationships"]
    assert [r["identifiers"]["object_id"] for r in related] == ["acme"]


def test_bearer_auth_and_a_write_key_in_the_body(api):
    assert_ok(cdp(api, "/v1/identify", {"userId": "b1"}, auth="bearer"))
    body = {"userId": "w1", "writeKey": api.creds.cdp_write_key}
    assert_ok(cdp(api, "/v1/identify", body, auth="none"))
    batch = {"batch": [{"type": "identify", "userId": "w2"}], "writeKey": api.creds.cdp_write_key}
    assert_ok(cdp(api, "/v1/batch", batch, auth="none"))
    for ident in ("b1", "w1", "w2"):
        assert customer(api, ident)["id"] == ident
    logged = activities(api, "w1", type_="identify")[0]["data"]["_cdp"]
    assert "writeKey" not in logged


@pytest.mark.parametrize("headers", [{}, STRICT])
@pytest.mark.parametrize(
    "auth, key",
    [("basic", "wrong"), ("bearer", "wrong"), ("none", ""), ("basic", "")],
)
def test_a_bad_write_key_is_always_401(api, headers, auth, key):
    response = cdp(
        api, "/v1/track", {"userId": "u1", "event": "e"}, key=key, auth=auth, headers=headers
    )  # noqa: E501
    assert_error(response, 401, "unauthorized")
    response = cdp(
        api, "/v1/batch", {"batch": [], "writeKey": "nope"}, auth="none", headers=headers
    )
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Basic realm="Pipelines API"'
    assert response.json()["message"].startswith(
        "unauthorized: the Pipelines API expects the workspace's write key as the HTTP Basic user"
    )


def test_other_surfaces_keys_are_refused(api):
    assert_error(
        cdp(api, "/v1/identify", {"userId": "u"}, key=api.creds.app_api_key, auth="bearer"),
        401,
        "unauthorized",
    )  # noqa: E501
    assert_error(
        cdp(api, "/v1/identify", {"userId": "u"}, key=api.creds.site_id), 401, "unauthorized"
    )  # noqa: E501


@pytest.mark.parametrize("headers", [{}, STRICT])
@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b"",
        b"[1,",
        b"\xff",
        # an SDK-shaped batch, but not UTF-8, or with a number no float holds
        b'{"batch":[{"type":"track","userId":"u\xff","event":"e"}]}',
        b'{"batch":[{"type":"track","userId":"u","event":"e","properties":{"a":1e400}}]}',
    ],
)
def test_malformed_json_is_always_400(api, headers, content):
    for path in ("/v1/track", "/v1/batch"):
        response = cdp(api, path, content=content, headers=headers)
        assert_error(response, 400, "malformed_json")


def test_gzip_bodies(api):
    batch = {"batch": [{"type": "track", "userId": "gz", "event": "zipped"}]}
    packed = gzip.compress(json.dumps(batch).encode())
    assert_ok(cdp(api, "/v1/batch", content=packed, headers={"Content-Encoding": "gzip"}))
    single = gzip.compress(json.dumps({"userId": "gz", "event": "single"}).encode())
    assert_ok(cdp(api, "/v1/track", content=single, headers={"Content-Encoding": "gzip"}))
    assert [a["name"] for a in activities(api, "gz")] == ["zipped", "single"]
    bad = cdp(api, "/v1/batch", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert_error(bad, 400, "malformed_json")


def test_a_gzip_body_without_its_trailer_is_refused(api):
    packed = gzip.compress(json.dumps({"userId": "gzt", "event": "cut"}).encode())
    for cut in (packed[:-8], packed[:-4], packed[: len(packed) // 2]):  # no CRC, no size, half
        response = cdp(api, "/v1/track", content=cut, headers={"Content-Encoding": "gzip"})
        assert_error(response, 400, "malformed_json")
        assert "truncated" in response.json()["message"]
    assert api.attributes("gzt").status_code == 404


def test_gzip_members_may_follow_one_another_but_nothing_else(api):
    batch = [{"type": "track", "userId": "gzm", "event": name} for name in ("one", "two")]
    text = json.dumps({"batch": batch}).encode()
    two_members = gzip.compress(text[:20]) + gzip.compress(text[20:])
    gz = {"Content-Encoding": "gzip"}
    assert_ok(cdp(api, "/v1/batch", content=two_members, headers=gz))
    assert [a["name"] for a in activities(api, "gzm")] == ["one", "two"]
    trailing = gzip.compress(text) + b"junk"
    assert_error(cdp(api, "/v1/batch", content=trailing, headers=gz), 400, "malformed_json")


def test_timestamps_with_any_offset(api):
    body = {"userId": "t1", "event": "e", "timestamp": "2023-11-15T00:13:20.5+02:00"}
    assert_ok(cdp(api, "/v1/track", body))
    [event] = activities(api, "t1")
    assert event["timestamp"] == 1_700_000_000
    assert event["data"]["_cdp"]["timestamp"] == body["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["data"]["_cdp"]["receivedAt"])


def test_batch_level_context_integrations_and_sent_at_apply_to_every_item(api):
    batch = {
        "batch": [
            {"type": "track", "userId": "c1", "event": "a", "context": {"ip": "1.2.3.4"}},
            {"type": "track", "userId": "c1", "event": "b", "sentAt": "2023-01-01T00:00:00Z"},
        ],
        "context": {"library": {"name": "x"}, "ip": "9.9.9.9"},
        "integrations": {"All": False},
        "sentAt": "2023-11-14T22:13:20Z",
    }
    assert_ok(cdp(api, "/v1/batch", batch))
    first, second = (a["data"]["_cdp"] for a in activities(api, "c1"))
    assert first["context"] == {"library": {"name": "x"}, "ip": "1.2.3.4"}
    assert second["context"] == {"library": {"name": "x"}, "ip": "9.9.9.9"}
    assert first["integrations"] == second["integrations"] == {"All": False}
    assert (first["sentAt"], second["sentAt"]) == ("2023-11-14T22:13:20Z", "2023-01-01T00:00:00Z")


def test_a_repeated_message_id_is_stored_once(api):
    body = {"userId": "d1", "event": "paid", "messageId": "mid-1"}
    for _ in range(3):
        assert_ok(cdp(api, "/v1/track", body))
    assert_ok(cdp(api, "/v1/batch", {"batch": [{**body, "type": "track"}]}))
    assert len(activities(api, "d1")) == 1


def test_invalid_messages_without_strict_mode_are_200_and_recorded(api):
    batch = {
        "batch": [
            {"type": "track", "userId": "v1", "event": "kept"},
            {"type": "track", "userId": "v1"},  # no event
            {"type": "launch", "userId": "v1"},
            {"type": "identify", "traits": {"a": 1}, "messageId": "no-ids"},
            "not an object",
        ]
    }
    assert_ok(cdp(api, "/v1/batch", batch))
    assert_ok(cdp(api, "/v1/track", {"event": "nobody"}))
    assert [a["name"] for a in activities(api, "v1")] == ["kept"]
    found = rejections(api)
    assert len(found) == 5
    assert {r["reason"] for r in found} == {"invalid_request"}
    by_id = {r["message_id"]: r for r in found}
    assert by_id["no-ids"]["type"] == "identify"
    assert "userId or anonymousId" in by_id["no-ids"]["message"]
    assert by_id["no-ids"]["snippet"].startswith("{")

    def counted():
        metrics = api.http.get("/metrics").text
        match = re.search(
            r'tidings_rejections_total\{surface="cdp",reason="dropped_invalid_request"\} (\d+)',
            metrics,
        )  # noqa: E501
        return match is not None and int(match.group(1)) >= 5

    eventually(counted)


def test_invalid_input_in_strict_mode_is_400_and_writes_nothing(api):
    batch = {
        "batch": [
            {"type": "track", "userId": "s1", "event": "would be kept"},
            {"type": "track", "userId": "s1"},
        ]
    }
    assert_error(cdp(api, "/v1/batch", batch, headers=STRICT), 400, "invalid_request")
    assert_error(cdp(api, "/v1/track", {"userId": "s1"}, headers=STRICT), 400, "invalid_request")
    assert_error(cdp(api, "/v1/batch", {"batch": 3}, headers=STRICT), 400, "invalid_request")
    assert_error(cdp(api, "/v1/alias", {"userId": "s1"}, headers=STRICT), 400, "invalid_request")
    assert api.attributes("s1").status_code == 404
    assert rejections(api) == []
    assert_ok(cdp(api, "/v1/batch", {"batch": batch["batch"][:1]}, headers=STRICT))
    assert [a["name"] for a in activities(api, "s1")] == ["would be kept"]


def _padded(size):
    return {"userId": "big", "event": "e", "properties": {"pad": "x" * size}}


@pytest.mark.parametrize("headers, status", [({}, 200), (STRICT, 413)])
def test_size_limits(api, headers, status):
    under = _padded(32 * 1024 - 200)
    over = _padded(32 * 1024)
    assert_ok(cdp(api, "/v1/track", under, headers=headers))
    response = cdp(api, "/v1/track", over, headers=headers)
    item = {**over, "type": "track"}
    in_batch = cdp(api, "/v1/batch", {"batch": [item, {**under, "type": "track"}]}, headers=headers)
    whole = cdp(api, "/v1/batch", {"batch": [{**under, "type": "track"}] * 16}, headers=headers)
    if status == 413:
        for refused in (response, in_batch, whole):
            assert_error(refused, 413, "too_large")
        assert len(activities(api, "big")) == 1
        return
    for accepted in (response, in_batch, whole):
        assert_ok(accepted)
    assert len(activities(api, "big")) == 2  # `under` alone, then `under` from the batch
    found = rejections(api)
    assert [r["reason"] for r in found] == ["too_large"] * 3
    assert max(r["size"] for r in found) > 500 * 1024


def test_errors_on_pipelines_paths_use_the_pipelines_body(api):
    assert_error(api.http.post("/v1/batch", content=b"{}"), 401, "unauthorized")
    for path in ("/v1/batch", "/v1/identify", "/v1/alias"):
        assert_error(api.http.get(path), 405, "method_not_allowed")


def test_rejections_need_the_app_key_and_are_per_workspace(api, other_api):
    assert_ok(cdp(api, "/v1/track", {"userId": "x"}))
    assert len(rejections(api)) == 1
    assert rejections(other_api) == []
    assert api.http.get("/v1/pipelines/rejections").status_code == 401


def test_workspaces_are_isolated(api, other_api):
    assert_ok(cdp(api, "/v1/identify", {"userId": "iso", "traits": {"a": 1}}))
    assert other_api.attributes("iso").status_code == 404
    assert_ok(cdp(other_api, "/v1/track", {"userId": "iso", "event": "theirs"}))
    assert activities(api, "iso") == []
