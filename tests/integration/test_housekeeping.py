"""Housekeeping prunes what outlived its window, and nothing younger."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from tests.factories import add_ingest_refusal
from tidings import files
from tidings.db.schema import download_links, event_dedup, exports, idempotency_keys, jobs
from tidings.ingest_log import refusals
from tidings.paging import PageRequest
from tidings.runtime import housekeeping

NOW = 1_800_000_000
HOUR = 3600


@pytest.fixture(scope="module")
def db(isolated_db):
    """Pruning is global: run it where no other test's rows are."""
    return isolated_db


def count(query, table, *where):
    return query(
        lambda conn: conn.execute(select(func.count()).select_from(table).where(*where)).scalar()
    )


def test_dedup_keys_are_kept_48_hours(tx, query, workspace, monkeypatch):
    ws = workspace.workspace_id
    ages = {"old": 49 * HOUR, "edge": 48 * HOUR, "young": HOUR}
    for key, age in ages.items():
        tx(
            lambda c, k=key, a=age: c.execute(
                insert(event_dedup).values(workspace_id=ws, key=k, seen_at=NOW - a)
            )
        )
    removed = tx(housekeeping.prune, NOW)
    assert removed["event_dedup"] == 1
    keys = query(
        lambda c: sorted(
            c.execute(select(event_dedup.c.key).where(event_dedup.c.workspace_id == ws)).scalars()
        )
    )
    assert keys == ["edge", "young"]


def test_pruning_goes_in_chunks(tx, query, workspace, monkeypatch):
    ws = workspace.workspace_id
    monkeypatch.setattr(housekeeping, "CHUNK", 3)
    tx(
        lambda c: c.execute(
            insert(event_dedup),
            [{"workspace_id": ws, "key": f"k{n}", "seen_at": NOW - 100 * HOUR} for n in range(7)],
        )
    )
    assert [tx(housekeeping.prune, NOW)["event_dedup"] for _ in range(4)] == [3, 3, 1, 0]


def test_idempotency_keys_links_and_finished_jobs(tx, query, workspace):
    ws = workspace.workspace_id

    def seed(conn):
        for key, created in (("old", NOW - 25 * HOUR), ("new", NOW - HOUR)):
            conn.execute(
                insert(idempotency_keys).values(
                    workspace_id=ws,
                    key=key,
                    route="/v1/send/email",
                    request_hash="x" * 64,
                    status=200,
                    response="{}",
                    created_at=created,
                )
            )
        for state, updated in (
            ("done", NOW - 8 * 24 * HOUR),
            ("failed", NOW - 8 * 24 * HOUR),
            ("queued", NOW - 8 * 24 * HOUR),
            ("done", NOW - HOUR),
        ):
            conn.execute(
                insert(jobs).values(
                    workspace_id=ws,
                    kind="test",
                    payload="{}",
                    state=state,
                    attempts=1,
                    max_attempts=5,
                    run_at=updated,
                    created_at=updated,
                    updated_at=updated,
                )
            )

    tx(seed)
    file_id = tx(files.create, ws, "export", "a.csv", "text/csv", NOW)
    files.FileSink(tx, file_id).close()
    live, _ = tx(files.create_link, ws, file_id, NOW)
    stale, _ = tx(files.create_link, ws, file_id, NOW - 16 * 60)
    removed = tx(housekeeping.prune, NOW)
    assert (removed["idempotency_keys"], removed["jobs"], removed["download_links"]) == (1, 2, 1)
    assert count(query, idempotency_keys, idempotency_keys.c.workspace_id == ws) == 1
    assert count(query, jobs, jobs.c.workspace_id == ws) == 2
    assert query(files.resolve_link, live, NOW) is not None
    assert count(query, download_links, download_links.c.workspace_id == ws) == 1


def test_export_files_go_after_7_days_and_the_export_stays(tx, query, workspace):
    ws = workspace.workspace_id

    def export(conn, created, file_id):
        return conn.execute(
            insert(exports).values(
                workspace_id=ws,
                type="customers",
                status="done",
                description="",
                spec="{}",
                total=1,
                downloads=0,
                file_id=file_id,
                created_at=created,
                updated_at=created,
            )
        ).inserted_primary_key[0]

    old_file = tx(files.create, ws, "export", "old.csv", "text/csv", NOW)
    files.FileSink(tx, old_file).close()
    new_file = tx(files.create, ws, "export", "new.csv", "text/csv", NOW)
    files.FileSink(tx, new_file).close()
    old = tx(export, NOW - 8 * 24 * HOUR, old_file)
    new = tx(export, NOW - HOUR, new_file)
    assert tx(housekeeping.prune, NOW)["export_files"] == 1
    shown = query(
        lambda c: dict(
            c.execute(
                select(exports.c.id, exports.c.file_id).where(exports.c.workspace_id == ws)
            ).all()
        )
    )
    assert shown == {old: None, new: new_file}
    assert query(files.describe, ws, old_file) is None


def test_ingest_refusals_are_kept_30_days(tx, query, workspace):
    ws = workspace.workspace_id
    for n, age in enumerate((31 * 24 * HOUR, 30 * 24 * HOUR, HOUR)):
        tx(add_ingest_refusal, ws, f"p{n}", NOW - age, n + 1)
    assert housekeeping.refusals.RETENTION == 30 * 24 * HOUR
    assert tx(housekeeping.prune, NOW)["ingest_refusals"] == 1
    kept = query(lambda c: refusals.recent(c, ws, PageRequest(10))["refusals"])
    assert [r["received_at"] for r in kept] == [NOW - HOUR, NOW - 30 * 24 * HOUR]
