"""`/v1/imports`: uploads imported by the job worker, polled until done; errors and limits."""

from __future__ import annotations

import pytest

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
