"""`/v1/imports`: uploads imported by the job worker, polled until done; errors and limits."""

from __future__ import annotations

import pytest

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk
from tests.httpserver import Reply, serve
from tests.support import eventually


def upload(api, data: bytes, content_type="text/csv", **params):
    params = {"type": "people", "identifier": "id", "name": "people.csv", **params}
    return api.app(
        "POST",
        "/v1/imports/upload",
        params=params,
        content=data,
        headers={"Content-Type": content_type},
    )


def finished(api, import_id: int) -> dict:
    def done():
        shown = api.app("GET", f"/v1/imports/{import_id}").json()["import"]
        assert shown["state"] in ("imported", "failed"), shown
        return shown

    return eventually(done, timeout=30)


def test_a_people_upload_is_imported_with_its_bad_rows_reported(api):
    data = b'id,email,plan\nu1,u1@example.com,pro\n,x@example.com,free\nu3,u3@example.com,"a\nb"\n'
    answer = upload(api, data, name="crm.csv", description="from the CRM")
    assert answer.status_code == 200, answer.text
    created = answer.json()["import"]
    assert created["state"] == "preprocessing" and created["type"] == "people"
    assert (created["name"], created["description"]) == ("crm.csv", "from the CRM")

    shown = finished(api, created["id"])
    assert shown["state"] == "imported"
    assert (shown["rows_to_import"], shown["rows_imported"], shown["rows_failed"]) == (3, 2, 1)
    assert shown["errors"] == [{"line": 3, "error": "id is required to name the person"}]
    attributes = api.attributes("u3").json()["customer"]["attributes"]
    assert attributes["plan"] == "a\nb" and attributes["email"] == "u3@example.com"


def test_an_events_jsonl_upload(api):
    data = b'{"email": "e@example.com", "name": "signup", "data": {"plan": "pro"}}\n{"name": 1}\n'
    answer = upload(
        api, data, "application/x-ndjson", type="event", identifier="email", name="ev.jsonl"
    )
    shown = finished(api, answer.json()["import"]["id"])
    assert (shown["type"], shown["format"], shown["rows_imported"]) == ("event", "jsonl", 1)
    assert shown["errors"] == [{"line": 2, "error": "email is required to name the person"}]
    found = api.app("GET", "/v1/customers", params={"email": "e@example.com"}).json()
    assert len(found["results"]) == 1


def test_a_file_that_cannot_be_imported_fails_the_import(api):
    answer = upload(api, b"email,plan\na@example.com,pro\n")
    shown = finished(api, answer.json()["import"]["id"])
    assert shown["state"] == "failed" and "no 'id' column" in shown["error"]


def test_uploads_above_the_default_body_limit_are_accepted(api):
    rows = b"".join(b"big,viewed,%s\n" % (b"x" * 990) for _ in range(5_000))
    data = b"id,name,filler\n" + rows
    assert len(data) > 4 * 1024 * 1024
    answer = upload(api, data, type="event")
    assert answer.status_code == 200, answer.text
    shown = finished(api, answer.json()["import"]["id"])
    assert (shown["rows_imported"], shown["rows_failed"]) == (5_000, 0)
    assert api.attributes("big").status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "object"}, "object imports are not supported yet"),
        ({"type": "things"}, "type must be people or event"),
        ({"identifier": "cio_id"}, "identifier must be one of id, email"),
        ({"type": "event", "data_to_process": "only_new"}, "only all and only_existing"),
    ],
)
def test_bad_upload_parameters_are_400(api, params, message):
    answer = upload(api, b"id\n1\n", **params)
    assert answer.status_code == 400
    assert message in answer.json()["meta"]["error"]


def test_an_empty_upload_is_400(api):
    assert upload(api, b"").status_code == 400


def test_imports_are_visible_to_their_workspace_only(api, other_api):
    created = upload(api, b"id\nmine\n").json()["import"]
    assert other_api.app("GET", f"/v1/imports/{created['id']}").status_code == 404
    assert api.app("GET", "/v1/imports/999999999").status_code == 404
    assert api.app("GET", "/v1/imports/nope").status_code == 404
    listed = api.app("GET", "/v1/imports").json()["imports"]
    assert [i["id"] for i in listed] == [created["id"]]
    assert other_api.app("GET", "/v1/imports").json()["imports"] == []
    finished(api, created["id"])
    assert other_api.attributes("mine").status_code == 404


PEOPLE_CSV = (
    b"id,email,plan\nurl1,url1@example.com,pro\nurl2,url2@example.com,\n,bad@example.com,x\n"
)
EVENTS_JSONL = b'{"id": "url1", "name": "renewed", "event_id": "r-1"}\n{"id": "url1"}\n'


@pytest.fixture(scope="module")
def site():
    with serve(
        {
            "/people.csv": Reply(body=PEOPLE_CSV, content_type="text/csv"),
            "/events.jsonl": Reply(body=EVENTS_JSONL, chunked=True),
        }
    ) as served:
        yield served


def create(api, **fields):
    return api.app("POST", "/v1/imports", json={"import": fields})


def test_a_data_file_url_import_is_downloaded_and_imported(api, site):
    answer = create(api, data_file_url=site.url("/people.csv"), type="people", identifier="id")
    assert answer.status_code == 200, answer.text
    created = answer.json()["import"]
    assert created["data_file_url"] == site.url("/people.csv")
    assert created["name"] == "people.csv" and created["state"] == "preprocessing"
    shown = finished(api, created["id"])
    assert (shown["state"], shown["rows_imported"], shown["rows_failed"]) == ("imported", 2, 1)
    assert shown["errors"] == [{"line": 4, "error": "id is required to name the person"}]
    assert api.attributes("url2").json()["customer"]["attributes"]["email"] == "url2@example.com"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/missing.csv", "404"),
        ("http://10.255.255.1/x.csv", "10.255.255.1, a private address"),
    ],
)
def test_url_imports_that_cannot_be_fetched_fail(api, site, url, reason):
    full = site.url(url) if url.startswith("/") else url
    created = create(api, data_file_url=full, type="people").json()["import"]
    shown = finished(api, created["id"])
    assert shown["state"] == "failed" and reason in shown["error"], shown


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "people"}, "data_file_url is required"),
        ({"type": "people", "data_file_url": "ftp://x/y.csv"}, "only http and https"),
        ({"type": "relationship", "data_file_url": "http://x/y.csv"}, "not supported yet"),
    ],
)
def test_bad_import_requests_are_400(api, fields, message):
    answer = create(api, **fields)
    assert answer.status_code == 400
    assert message in answer.json()["meta"]["error"]


needs_node = requires("customerio-node")


@needs_node
def test_the_node_client_creates_and_reads_imports(node, server, api, site):
    sdk = Sdk(node, server, api.creds)
    spec = {
        "data_file_url": site.url("/events.jsonl"),
        "type": "event",
        "identifier": "id",
        "name": "renewals",
        "description": "from node",
        "data_to_process": "all",
    }
    (created,) = sdk.ok(sdk.app("createImport", spec))
    import_id = created["import"]["id"]
    assert created["import"]["format"] == "jsonl" and created["import"]["type"] == "event"
    finished(api, import_id)
    (got,) = sdk.ok(sdk.app("getImport", import_id))
    shown = got["import"]
    assert (shown["name"], shown["description"], shown["state"]) == (
        "renewals",
        "from node",
        "imported",
    )
    assert (shown["rows_to_import"], shown["rows_imported"], shown["rows_failed"]) == (2, 1, 1)
    (missing,) = sdk.run(sdk.app("getImport", 999999999))
    assert (missing["ok"], missing["error"]["statusCode"]) == (False, 404)


def _segment(api, conditions):
    body = {"segment": {"name": "imported", "conditions": conditions}}
    segment_id = api.app("POST", "/v1/segments", json=body).json()["segment"]["id"]
    eventually(
        lambda: api.app("GET", f"/v1/segments/{segment_id}").json()["segment"]["state"]
        == "finished"
    )
    return segment_id


def _members(api, segment_id):
    return sorted(api.app("GET", f"/v1/segments/{segment_id}/membership").json()["ids"])


def test_imported_people_and_events_enter_segments_in_real_time(api):
    pros = _segment(api, {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})
    buyers = _segment(api, {"event": {"name": "purchase"}})
    upload(api, b"id,plan\nseg1,pro\nseg2,free\nseg3,pro\n")
    upload(api, b"id,name\nseg2,purchase\n", type="event")
    eventually(lambda: _members(api, pros) == ["seg1", "seg3"], timeout=30)
    eventually(lambda: _members(api, buyers) == ["seg2"], timeout=30)
