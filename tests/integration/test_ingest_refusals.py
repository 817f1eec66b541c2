"""What the ingest log's applier refused, read back: `ingest_log.refusals.recent` and
`tidings refusals`, on each store (rows stored as `ingest_log.apply` stores them; the
real apply path is in test_ingest_log.py, PostgreSQL only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, fresh_database, new_workspace
from tests.factories import add_ingest_refusal
from tests.support import run_cli
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.ingest_log import refusals
from tidings.paging import PageRequest, decode_cursor

NOW = 1_800_000_000


def test_a_workspace_s_refusals_newest_first_paged_by_cursor(tx, query, workspace, other_workspace):
    ws, other = workspace.workspace_id, other_workspace.workspace_id
    for n, at in enumerate((NOW - 60, NOW, NOW, NOW - 30)):
        tx(add_ingest_refusal, ws, f"p{n}", at, n + 1)
    tx(add_ingest_refusal, other, "theirs", NOW + 5)

    first = query(refusals.recent, ws, PageRequest(3))
    assert [r["message"] for r in first["refusals"]] == [
        "p2 conflicts with another person",  # same second: the later row first
        "p1 conflicts with another person",
        "p3 conflicts with another person",
    ]
    assert first["next"]
    after = PageRequest(3, decode_cursor(first["next"], 2))
    rest = query(refusals.recent, ws, after)
    assert [r["message"] for r in rest["refusals"]] == ["p0 conflicts with another person"]
    assert rest["next"] == ""

    shown = first["refusals"][0]
    assert shown["workspace_id"] == ws and shown["received_at"] == NOW
    assert (shown["status"], shown["code"], shown["kind"]) == (409, "conflict", "v1.identify")
    assert shown["route"] == "PUT /api/v1/customers/{identifier}"
    assert json.loads(shown["record"])[0][:2] == ["v1.identify", ws]  # as published
    assert [r["message"] for r in query(refusals.recent, other, PageRequest(10))["refusals"]] == [
        "theirs conflicts with another person"
    ]


def test_every_kind_names_its_endpoints():
    assert refusals.route("v1.track") == "POST /api/v1/customers/{identifier}/events"
    assert (
        refusals.route("v2.op")
        == refusals.route("v2.event")
        == ("POST /api/v2/entity, /api/v2/batch")
    )
    assert "/v1/batch" not in refusals.route("cdp.message")  # named "batch" among the others
    assert "Pipelines" in refusals.route("cdp.message")
    assert refusals.route("") == refusals.UNKNOWN_ROUTE


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    with fresh_database(request.param, tmp_path) as url:
        db = open_database(url)
        upgrade(db)
        yield url, db
        db.dispose()


def test_tidings_refusals_lists_them_as_lines_or_json(store) -> None:
    url, db = store
    one, two = new_workspace(db, "one").workspace_id, new_workspace(db, "two").workspace_id
    with db.writer.begin() as conn:
        add_ingest_refusal(conn, one, "older", NOW - 10, 1)
        add_ingest_refusal(conn, two, "newer", NOW, 2, message="said\nover two lines")
        add_ingest_refusal(  # a message no workspace could be read from, as apply stores it
            conn, 0, "-", NOW - 20, 3, kind="", status=400, code="unreadable", record="garbage"
        )

    shown = [
        json.loads(line)
        for line in run_cli("refusals", "--database-url", url, "--json").splitlines()
    ]
    assert [(r["workspace_id"], r["kind"], r["code"]) for r in shown] == [
        (two, "v1.identify", "conflict"),
        (one, "v1.identify", "conflict"),
        (0, "", "unreadable"),
    ]
    assert shown[2]["record"] == "garbage" and shown[2]["route"] == refusals.UNKNOWN_ROUTE
    assert json.loads(shown[0]["record"])[0][3] == "id:newer"

    store_args = ("--database-url", url, "--workspace-id")
    [line] = run_cli("refusals", *store_args, str(two)).splitlines()
    assert line == (
        f"2027-01-15 08:00:00  ws {two}  409 conflict  v1.identify"
        "  PUT /api/v1/customers/{identifier}  said over two lines"
    )
    assert len(run_cli("refusals", "--database-url", url, "--limit", "2").splitlines()) == 2
    assert run_cli("refusals", *store_args, "999999") == ""
