"""The official Python Pipelines client (`customerio-cdp-analytics==1.1.0`) over TLS.

`Client(write_key, host=...)` posts every call to `/v1/batch` (sync mode: one
request per call; async mode: batches from a consumer thread). Effects are
checked through the App API. The package shares the `customerio` namespace
with the Track client (BEHAVIOUR.md 8.6): both must import.
"""

import gc
import secrets
import time
from datetime import UTC, datetime

import pytest
from customerio import CustomerIO
from customerio.analytics import Client, request
from customerio.analytics.request import APIError

from tests.api.test_track_v1_operations import activities, customer
from tests.support import eventually
from tidings.workspaces.service import create_workspace


@pytest.fixture(autouse=True)
def close_pooled_connections():
    """The client posts through one module-level requests session: close its
    keep-alive connections before the test server stops."""
    yield
    gc.collect()  # a caught APIError's traceback may still hold a response
    request._session.close()


@pytest.fixture
def trust(server, monkeypatch):
    # requests prefers REQUESTS_CA_BUNDLE from the environment over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)


def client(server, key, **options):
    return Client(key, host=server.url, max_retries=0, **options)


@pytest.fixture
def cdp(api, server, trust):
    # Sync mode: each call is one request, sent before the call returns (no
    # consumer thread, so nothing to shut down).
    return client(server, api.creds.cdp_write_key, sync_mode=True)


def test_both_customerio_packages_import():
    assert CustomerIO.__name__ == "CustomerIO" and Client.__name__ == "Client"


def test_every_call_in_sync_mode(cdp, api):
    when = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    cdp.identify("u1", {"email": "p@example.com", "plan": "pro"}, anonymous_id="anon-py")
    cdp.track("u1", "Signed Up", {"price": 9.5}, timestamp=when, message_id="m-py-1")
    cdp.track("u1", "Signed Up", {"price": 9.5}, timestamp=when, message_id="m-py-1")  # a retry
    cdp.page("u1", "Docs", "Install", {"url": "https://x.test/install"})
    cdp.screen("u1", None, "Home")
    cdp.group("u1", "acme", {"name": "Acme", "relationshipAttributes": {"role": "owner"}})
    cdp.alias("anon-old", "u1")
    shown = customer(api, "u1")
    assert shown["attributes"]["plan"] == "pro"
    assert shown["identifiers"]["email"] == "p@example.com"
    assert shown["attributes"]["anonymous_id"] == "anon-old"
    [event] = activities(api, "u1")
    assert (event["name"], event["timestamp"], event["data"]["price"]) == (
        "Signed Up",
        1_700_000_000,
        9.5,
    )  # noqa: E501
    cdp_envelope = event["data"]["_cdp"]
    assert cdp_envelope["context"]["library"]["name"] == "analytics-python"
    assert cdp_envelope["sentAt"]  # batch-level sentAt, applied to the item
    [page] = activities(api, "u1", type_="page")
    assert (page["name"], page["data"]["_cdp"]["category"]) == ("Install", "Docs")
    assert [a["name"] for a in activities(api, "u1", type_="screen")] == ["Home"]
    related = api.app("GET", "/v1/customers/u1/relationships").json()["cio_relationships"]
    assert [(r["identifiers"]["object_id"], r["relationship_attributes"]) for r in related] == [
        ("acme", {"role": "owner"})
    ]


def test_anonymous_activity_merges_on_identify(cdp, api):
    cdp.track(event="Viewed", anonymous_id="anon-7", properties={"sku": "x"})
    cdp.identify(anonymous_id="anon-7", traits={"ref": "ad"})
    cdp.identify("u7", {"plan": "free"}, anonymous_id="anon-7")
    assert customer(api, "u7")["attributes"]["ref"] == "ad"
    assert [a["name"] for a in activities(api, "u7")] == ["Viewed"]


def test_semantic_events(cdp, api):
    cdp.track(
        "u2",
        "Device Created or Updated",
        {"app": "1.0"},
        context={"device": {"token": "tk", "type": "android"}},
    )  # noqa: E501
    assert [(d["id"], d["platform"]) for d in customer(api, "u2")["devices"]] == [("tk", "android")]
    cdp.track("u2", "Device Deleted", context={"device": {"token": "tk"}})
    assert customer(api, "u2")["devices"] == []
    cdp.track("u2", "User Deleted")
    assert api.attributes("u2").status_code == 404


def test_async_mode_with_gzip(api, server, trust):
    analytics = client(server, api.creds.cdp_write_key, gzip=True, upload_interval=0.05)
    for n in range(25):
        analytics.track(f"a{n % 3}", "Tick", {"n": n})
    analytics.flush()
    analytics.shutdown()
    total = sum(len(activities(api, f"a{k}")) for k in range(3))
    assert total == 25


def test_a_region_style_key_is_sent_as_bearer(db, server, trust):
    key = "pk_us_" + secrets.token_hex(8)
    with db.writer.begin() as conn:
        creds = create_workspace(conn, "bearer", time.time(), cdp_write_key=key)
    analytics = client(server, key, sync_mode=True)
    analytics.identify("b1", {"plan": "x"})
    from tests.api.conftest import Api

    api = Api(server, creds)
    try:
        eventually(lambda: customer(api, "b1")["attributes"]["plan"] == "x")
    finally:
        api.close()


def test_a_bad_write_key_raises_with_code_and_message(server, trust):
    analytics = client(server, "not-a-key", sync_mode=True)
    with pytest.raises(APIError) as caught:
        analytics.track("u", "e")
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
