"""Customers exports end to end below HTTP: the job, the CSV it stores, failures.

The module has a database of its own (`isolated_db`): the API test server's
job worker would otherwise claim these exports' jobs while the test drives
its own worker.
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select, update

from tidings import files
from tidings.clock import FixedClock
from tidings.db.schema import exports, jobs
from tidings.db.schema import files as files_table
from tidings.db.schema import people as people_table
from tidings.exports import people_csv, service
from tidings.exports.job import ExportJob
from tidings.jobs.lease import RetryPolicy
from tidings.jobs.runner import JobWorker, Permanent
from tidings.people import service as people
from tidings.people.identifiers import classify
from tidings.runtime import housekeeping
from tidings.segments import service as segments

NOW = 1_700_000_000


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def clock():
    return FixedClock(NOW)


@pytest.fixture
def worker(db, clock):
    return JobWorker(db, clock, {service.JOB_KIND: ExportJob()}, retry=RetryPolicy(base=2, cap=60))


def identify(tx, ws, raw, attrs):
    tx(people.identify, ws, classify(raw), people.parse_identify(attrs, NOW), NOW)


def export(tx, ws, body, now=NOW):
    request = service.parse_customers_request(body)
    return tx(service.create_customers_export, ws, request, now)


def run_all(worker):
    while worker.run_once():
        pass


def csv_of(db, query, ws, export_id):
    row = query(service.row_of, ws, export_id)
    stored = query(files.describe, ws, row.file_id)
    text = b"".join(files.iter_content(db, stored)).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_filtered_export_with_extra_columns(db, tx, query, workspace, worker):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"email": "One@Example.com", "plan": "pro", "age": 41, "vip": True})
    identify(tx, ws, "u2", {"email": "two@example.com", "plan": "free", "age": 7})
    identify(tx, ws, "u3", {"plan": "pro", "tags": ["a", "b"]})
    body = {
        "filters": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        "attributes": ["age", "vip", "tags", "missing"],
    }
    created = export(tx, ws, body)
    assert (created["status"], created["total"], created["failed"]) == ("pending", 0, False)

    run_all(worker)

    done = query(service.get, ws, created["id"])
    assert (done["status"], done["total"], done["failed"]) == ("done", 2, False)
    cio = {r: query(people_cio, ws, r) for r in ("u1", "u3")}
    assert csv_of(db, query, ws, created["id"]) == [
        ["cio_id", "id", "email", "age", "vip", "tags", "missing"],
        [cio["u1"], "u1", "One@Example.com", "41", "true", "", ""],
        [cio["u3"], "u3", "", "", "", '["a","b"]', ""],
    ]


def workspace_files(conn, ws):
    return conn.execute(select(files_table.c.id).where(files_table.c.workspace_id == ws)).all()


def people_cio(conn, ws, raw):
    return conn.execute(
        select(people_table.c.cio_id).where(
            people_table.c.workspace_id == ws, people_table.c.customer_id == raw
        )
    ).scalar_one()


def test_the_seed_spelling_filter_and_a_segment_filter(db, tx, query, workspace, worker):
    ws = workspace.workspace_id
    for raw in ("a", "b", "c"):
        identify(tx, ws, raw, {"n": raw})
    segment_id = tx(segments.create_manual, ws, {"segment": {"name": "S"}}, NOW)["id"]
    tx(segments.change_members, ws, segment_id, "id", ["a", "c"], NOW, True)
    created = export(tx, ws, {"filter": {"segment": {"id": segment_id}}, "attributes": ["n"]})
    run_all(worker)
    rows = csv_of(db, query, ws, created["id"])
    assert [row[1:] for row in rows] == [["id", "email", "n"], ["a", "", "a"], ["c", "", "c"]]


def test_cells_are_quoted_and_formulas_neutralised(db, tx, query, workspace, worker):
    ws = workspace.workspace_id
    identify(
        tx,
        ws,
        '=HYPERLINK("http://evil")',
        {"note": 'a,b "c"\nd', "name": "Zoë 日本", "calc": "@SUM(A1)", "debt": -5, "x": "+1+1"},
    )
    created = export(tx, ws, {"attributes": ["note", "name", "calc", "debt", "x", "=bad"]})
    run_all(worker)
    header, row = csv_of(db, query, ws, created["id"])
    assert header[-1] == "'=bad"
    assert row[1:] == [
        '\'=HYPERLINK("http://evil")',
        "",
        'a,b "c"\nd',
        "Zoë 日本",
        "'@SUM(A1)",
        "-5",
        "'+1+1",
        "",
    ]


def test_no_match_is_a_header_only_file(db, tx, query, workspace, worker):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"plan": "free"})
    body = {"filters": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}}
    created = export(tx, ws, body)
    run_all(worker)
    assert query(service.get, ws, created["id"])["total"] == 0
    assert csv_of(db, query, ws, created["id"]) == [["cio_id", "id", "email"]]


def test_an_export_holds_only_its_workspaces_people(
    db, tx, query, workspace, other_workspace, worker
):
    ws, other = workspace.workspace_id, other_workspace.workspace_id
    # Interleave the two workspaces' people, so pages' key ranges span both.
    for n in range(30):
        identify(tx, ws if n % 2 else other, f"p{n}", {"secret": f"s{n}"})
    created = export(tx, ws, {"attributes": ["secret"]})
    run_all(worker)
    rows = csv_of(db, query, ws, created["id"])[1:]
    assert [row[1] for row in rows] == [f"p{n}" for n in range(1, 30, 2)]
    assert [row[3] for row in rows] == [f"s{n}" for n in range(1, 30, 2)]
    with pytest.raises(Exception, match="export not found"):
        query(service.get, other, created["id"])


def test_many_pages_and_many_file_parts(db, tx, query, workspace, worker, monkeypatch):
    monkeypatch.setattr(people_csv, "PAGE_SIZE", 7)
    monkeypatch.setattr(files, "PART_SIZE", 200)
    ws = workspace.workspace_id
    for n in range(50):
        identify(tx, ws, f"u{n:02}", {"n": n, "even": n % 2 == 0})
    created = export(
        tx,
        ws,
        {
            "filters": {"attribute": {"field": "even", "operator": "eq", "value": "true"}},
            "attributes": ["n"],
        },
    )
    run_all(worker)
    rows = csv_of(db, query, ws, created["id"])
    assert [row[1:] for row in rows[1:]] == [[f"u{n:02}", "", str(n)] for n in range(0, 50, 2)]
    assert query(service.get, ws, created["id"])["total"] == 25


def test_a_retry_starts_a_fresh_file(db, tx, query, workspace, worker, clock, monkeypatch):
    monkeypatch.setattr(people_csv, "PAGE_SIZE", 2)
    monkeypatch.setattr(files, "PART_SIZE", 10)
    ws = workspace.workspace_id
    for n in range(6):
        identify(tx, ws, f"u{n}", {})
    created = export(tx, ws, {})
    real_read_page = people_csv.read_page
    calls = []

    def flaky(conn, export, after, limit=2):
        calls.append(after)
        if len(calls) == 2:
            raise RuntimeError("disk hiccup")
        return real_read_page(conn, export, after, limit)

    monkeypatch.setattr(people_csv, "read_page", flaky)
    assert worker.run_once() is True  # fails after writing the header and a page
    assert query(service.get, ws, created["id"])["status"] == "pending"
    clock.advance(120)
    run_all(worker)

    rows = csv_of(db, query, ws, created["id"])
    assert [row[1] for row in rows] == ["id", "u0", "u1", "u2", "u3", "u4", "u5"]
    # The first attempt's partial file is gone: one file, parts only of it.
    assert query(workspace_files, ws) == [(query(service.row_of, ws, created["id"]).file_id,)]


def test_a_job_that_keeps_failing_fails_the_export(
    db, tx, query, workspace, worker, clock, monkeypatch
):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {})
    created = export(tx, ws, {})

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(people_csv, "read_page", broken)
    for _ in range(5):
        assert worker.run_once() is True
        clock.advance(120)
    failed = query(service.get, ws, created["id"])
    assert (failed["status"], failed["failed"], failed["total"]) == ("failed", True, 0)
    assert failed["error"] == "RuntimeError: database on fire"
    assert query(service.row_of, ws, created["id"]).file_id is None
    job_state = query(
        lambda c: c.execute(select(jobs.c.state).where(jobs.c.workspace_id == ws)).scalar_one()
    )
    assert job_state == "failed"


def test_a_permanent_failure_fails_the_export_at_once(
    db, tx, query, workspace, worker, monkeypatch
):
    ws = workspace.workspace_id
    created = export(tx, ws, {})

    def refuse(*args, **kwargs):
        raise Permanent("the filter's segment is gone")

    monkeypatch.setattr(people_csv, "read_page", refuse)
    assert worker.run_once() is True
    failed = query(service.get, ws, created["id"])
    assert (failed["status"], failed["error"]) == ("failed", "the filter's segment is gone")


def test_downloads_count_and_need_a_done_export(db, tx, query, workspace, worker):
    ws = workspace.workspace_id
    created = export(tx, ws, {})
    with pytest.raises(Exception, match="is pending"):
        tx(service.create_download, ws, created["id"], NOW)
    run_all(worker)
    token = tx(service.create_download, ws, created["id"], NOW)
    tx(service.create_download, ws, created["id"], NOW)
    assert query(files.resolve_link, token, NOW + 900) is not None
    assert query(files.resolve_link, token, NOW + 901) is None
    assert query(service.get, ws, created["id"])["downloads"] == 2


def test_files_are_kept_7_days_then_expire(db, tx, query, workspace, worker, clock):
    ws = workspace.workspace_id
    old = export(tx, ws, {})
    run_all(worker)
    clock.advance(7 * 86400)  # the documented 7 days, not the code's own constant
    tx(housekeeping.prune, int(clock.now()))
    assert query(service.row_of, ws, old["id"]).file_id is not None
    clock.advance(1)
    tx(housekeeping.prune, int(clock.now()))
    assert query(service.row_of, ws, old["id"]).file_id is None
    assert query(service.get, ws, old["id"])["status"] == "done"
    with pytest.raises(Exception, match="has expired"):
        tx(service.create_download, ws, old["id"], int(clock.now()))


def test_a_sparse_match_reads_attributes_by_key(db, tx, query, workspace, worker):
    ws = workspace.workspace_id
    for n in range(30):
        identify(tx, ws, f"u{n:02}", {"n": n, "pick": n in (0, 29)})
    pick = {"attribute": {"field": "pick", "operator": "eq", "value": "true"}}
    created = export(tx, ws, {"filters": pick, "attributes": ["n"]})
    run_all(worker)
    rows = csv_of(db, query, ws, created["id"])
    assert [row[1:] for row in rows[1:]] == [["u00", "", "0"], ["u29", "", "29"]]


def test_a_stored_filter_that_no_longer_parses_fails_at_once(db, tx, query, workspace, worker):
    ws = workspace.workspace_id
    created = export(tx, ws, {})
    spec = '{"filter": {"bogus": {}}, "attributes": []}'
    tx(lambda c: c.execute(update(exports).where(exports.c.id == created["id"]).values(spec=spec)))
    assert worker.run_once() is True
    failed = query(service.get, ws, created["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("the export's filter is not valid: filter.bogus:")
