"""Exports over HTTP (BEHAVIOUR.md 5.8): create, poll until done, download the CSV, errors.

The test server's job worker builds the exports; tests poll with `eventually`.
"""

from __future__ import annotations

import csv
import io
import ssl
import time
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk
from tests.factories import add_delivery
from tests.support import eventually
from tidings.people import store
from tidings.people.identifiers import Identifier
from tidings.reporting.metrics import record_metric

PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def error(response, status):
    assert response.status_code == status, response.text
    return response.json()["meta"]["error"]


def identify(api, raw, body):
    ok(api.track("PUT", f"/api/v1/customers/{quote(raw, safe='')}", json=body))


def wait_done(api, export_id):
    def done():
        export = ok(api.app("GET", f"/v1/exports/{export_id}"))["export"]
        assert export["status"] == "done", export
        return export

    return eventually(done, timeout=20)


def fetch_csv(api, url) -> list[list[str]]:
    """GET the download URL with no credentials at all; the parsed CSV."""
    response = httpx.get(url, verify=ssl.create_default_context(cafile=api.server.ca_path))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode(), newline="")))


def test_the_whole_workflow(api):
    identify(api, "u1", {"email": "Ann@X.test", "plan": "pro", "note": '=1+1, "q"'})
    identify(api, "u2", {"plan": "free"})
    identify(api, "u3", {"plan": "pro", "city": "Zürich\nHQ"})
    body = {"filters": PRO, "attributes": ["note", "city"]}

    created = ok(api.app("POST", "/v1/exports/customers", json=body))["export"]
    assert created["status"] == "pending" and created["failed"] is False
    assert created["type"] == "customers" and created["total"] == 0
    assert created["deduplicate_id"] == f"{created['id']}:{created['created_at']}"
    assert set(created) >= {"user_id", "user_email", "description", "downloads", "updated_at"}

    done = wait_done(api, created["id"])
    assert (done["total"], done["downloads"]) == (2, 0)
    url = ok(api.app("GET", f"/v1/exports/{created['id']}/download"))["url"]
    assert url.startswith(api.server.url + "/downloads/")
    cio = ok(api.attributes("u1"))["customer"]["identifiers"]["cio_id"]
    rows = fetch_csv(api, url)
    assert rows[0] == ["cio_id", "id", "email", "note", "city"]
    assert rows[1] == [cio, "u1", "Ann@X.test", '\'=1+1, "q"', ""]
    assert rows[2][1:] == ["u3", "", "", "Zürich\nHQ"]
    assert ok(api.app("GET", f"/v1/exports/{created['id']}"))["export"]["downloads"] == 1


def test_list_is_empty_then_holds_the_exports(api):
    assert ok(api.app("GET", "/v1/exports")) == {"exports": []}
    first = ok(api.app("POST", "/v1/exports/customers", json={"filter": PRO}))["export"]
    second = ok(api.app("POST", "/v1/exports/customers", json={}))["export"]
    listed = ok(api.app("GET", "/v1/exports"))["exports"]
    assert [e["id"] for e in listed] == [first["id"], second["id"]]


def test_a_bad_filter_is_a_400_naming_its_path(api):
    body = {"filters": {"or": [PRO, {"segment": {"id": "x"}}]}}
    message = error(api.app("POST", "/v1/exports/customers", json=body), 400)
    assert message.startswith("filters.or[1].segment.id:")
    message = error(api.app("POST", "/v1/exports/customers", json={"attributes": "plan"}), 400)
    assert message.startswith("attributes:")
    assert ok(api.app("GET", "/v1/exports")) == {"exports": []}  # nothing was created


def test_another_workspaces_export_is_a_404(api, other_api):
    created = ok(api.app("POST", "/v1/exports/customers", json={}))["export"]
    wait_done(api, created["id"])
    for path in (f"/v1/exports/{created['id']}", f"/v1/exports/{created['id']}/download"):
        assert error(other_api.app("GET", path), 404) == "export not found"
    assert ok(other_api.app("GET", "/v1/exports")) == {"exports": []}
    for path in ("/v1/exports/999999999", "/v1/exports/abc/download"):
        assert error(api.app("GET", path), 404) == "export not found"


def test_a_deliveries_export(api, tx):
    ws, now = api.creds.workspace_id, int(time.time())
    identify(api, "dx1", {"email": "dx@x.test", "plan": "pro"})
    pk = tx(lambda conn: store.find(conn, ws, Identifier("id", "dx1")).pk)
    for name, channel, age in (("a", "email", 50), ("b", "sms", 40), ("old", "email", 400 * 86400)):
        columns = {"channel": channel, "created_at": now - age, "subject": f"S {name}"}
        tx(lambda conn, n=name, c=columns: add_delivery(conn, ws, f"dx{ws}-{n}", pk, **c))
    tx(lambda conn: record_metric(conn, ws, f"dx{ws}-a", "opened", now - 5, {}, now=now))
    body = {"metric": "opened", "attributes": ["plan"]}
    created = ok(api.app("POST", "/v1/exports/deliveries", json=body))["export"]
    assert created["type"] == "deliveries" and created["status"] == "pending"
    assert wait_done(api, created["id"])["total"] == 1
    rows = fetch_csv(api, ok(api.app("GET", f"/v1/exports/{created['id']}/download"))["url"])
    record = dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2 and rows[0][0] == "delivery_id" and rows[0][-1] == "plan"
    assert (record["delivery_id"], record["id"], record["plan"]) == (f"dx{ws}-a", "dx1", "pro")
    assert (record["opened"], record["sent"], record["subject"]) == (str(now - 5), "", "S a")

    everything = ok(api.app("POST", "/v1/exports/deliveries", json={}))["export"]
    assert wait_done(api, everything["id"])["total"] == 2  # the last 6 months by default
    columns = {"created_at": now - 30, "newsletter_id": 77, "source": "campaign"}
    tx(lambda conn: add_delivery(conn, ws, f"dx{ws}-n", pk, **columns))
    for newsletter_id, total in ((77, 1), (1, 0)):
        body = {"newsletter_id": newsletter_id}
        made = ok(api.app("POST", "/v1/exports/deliveries", json=body))["export"]
        assert wait_done(api, made["id"])["total"] == total
    response = api.app("POST", "/v1/exports/deliveries", json={"metric": "read"})
    assert "metric must be one of" in error(response, 400)


def test_a_download_link_works_without_credentials_and_is_per_request(api):
    identify(api, "u1", {"plan": "pro"})
    created = ok(api.app("POST", "/v1/exports/customers", json={"filters": PRO}))["export"]
    wait_done(api, created["id"])
    urls = [ok(api.app("GET", f"/v1/exports/{created['id']}/download"))["url"] for _ in range(2)]
    assert urls[0] != urls[1]
    assert fetch_csv(api, urls[0]) == fetch_csv(api, urls[1])
    assert urlsplit(urls[0]).path.startswith("/downloads/")
    assert ok(api.app("GET", f"/v1/exports/{created['id']}"))["export"]["downloads"] == 2


needs_node = requires("customerio-node")


@needs_node
def test_the_node_api_client_drives_an_export(node, server, api):
    sdk = Sdk(node, server, api.creds)
    identify(api, "n1", {"plan": "pro", "email": "n1@x.test"})
    identify(api, "n2", {"plan": "free"})
    (created,) = sdk.ok(sdk.app("createCustomersExport", PRO))
    export_id = created["export"]["id"]
    assert created["export"]["status"] == "pending"

    def done():
        (got,) = sdk.ok(sdk.app("getExport", export_id))
        assert got["export"]["status"] == "done", got
        return got["export"]

    def done_export(some_id):
        (got,) = sdk.ok(sdk.app("getExport", some_id))
        assert got["export"]["status"] == "done", got
        return got["export"]

    assert eventually(done, timeout=20)["total"] == 1
    listed, link = sdk.ok(sdk.app("listExports"), sdk.app("downloadExport", export_id))
    assert [e["id"] for e in listed["exports"]] == [export_id]
    rows = fetch_csv(api, link["url"])
    assert [row[1:] for row in rows] == [["id", "email"], ["n1", "n1@x.test"]]

    options = {"start": 0, "end": 1, "metric": "sent", "drafts": False}
    (deliveries,) = sdk.ok(sdk.app("createDeliveriesExport", 7, options))
    assert deliveries["export"]["type"] == "deliveries"
    assert eventually(lambda: done_export(deliveries["export"]["id"]), timeout=20)["total"] == 0


@pytest.mark.parametrize("content", [b"", b"  "])
def test_a_customers_export_without_a_body_is_a_400(api, content):
    """The seed's schema requires the body; a lost filter must not export everyone."""
    response = api.app(
        "POST",
        "/v1/exports/customers",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert error(response, 400) == "request body must be JSON"
    assert ok(api.app("GET", "/v1/exports")) == {"exports": []}
