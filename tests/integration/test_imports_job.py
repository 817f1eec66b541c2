"""The `import` job on both stores: runs an import to the end, resumes, fails for good."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tidings import files
from tidings.clock import FixedClock
from tidings.db.schema import imports
from tidings.imports import run, service
from tidings.imports.job import ImportJob
from tidings.imports.rows import Spec
from tidings.jobs.runner import JobWorker
from tidings.people import store
from tidings.people.identifiers import classify

NOW = 1_700_000_000


@pytest.fixture(scope="module")
def db(isolated_db):
    """A database of this module's own: the API test server's job worker would take its jobs."""
    return isolated_db


def stored_import(tx, ws, data: bytes) -> int:
    spec = Spec("events", "id")
    file_id = tx(files.create, ws, "import", "t.csv", "text/csv", NOW)
    tx(files.append_part, file_id, 0, data)
    req = service.Request(spec, "t.csv", "")
    return tx(service.create_from_upload, ws, req, file_id, len(data), NOW)["id"]


def work(db) -> None:
    """Run import jobs until none is due (other kinds are not this test's)."""
    worker = JobWorker(db, FixedClock(NOW), {"import": ImportJob()})
    while worker.run_once():
        pass


def test_the_job_imports_the_file_and_deletes_it(db, tx, query, workspace):
    ws = workspace.workspace_id
    import_id = stored_import(tx, ws, b"id,name\nj1,a\n,b\n")
    file_id = query(
        lambda c: c.execute(select(imports.c.file_id).where(imports.c.id == import_id)).scalar()
    )
    work(db)
    shown = query(service.get, ws, import_id)
    assert (shown["state"], shown["rows_imported"], shown["rows_failed"]) == ("imported", 1, 1)
    assert query(files.describe, ws, file_id) is None
    assert query(store.find, ws, classify("j1")) is not None


def test_a_retried_job_resumes_after_the_committed_rows(db, tx, query, workspace):
    ws = workspace.workspace_id
    import_id = stored_import(tx, ws, b"id,name\nk1,a\nk2,a\n")
    done_before = run.Progress(rows=1, imported=1)
    tx(service.save_progress, import_id, done_before, NOW)  # as if k1's batch committed
    work(db)
    shown = query(service.get, ws, import_id)
    assert (shown["rows_to_import"], shown["rows_imported"]) == (2, 2)
    assert query(store.find, ws, classify("k1")) is None  # not applied a second time
    assert query(store.find, ws, classify("k2")) is not None


def test_a_file_that_cannot_be_imported_fails_for_good(db, tx, query, workspace):
    ws = workspace.workspace_id
    import_id = stored_import(tx, ws, b"email,name\na@b.c,x\n")
    work(db)
    shown = query(service.get, ws, import_id)
    assert shown["state"] == "failed" and "no 'id' column" in shown["error"]
