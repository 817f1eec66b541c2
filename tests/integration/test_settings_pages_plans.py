"""The Suppressions and Jobs pages' reads are index ranges, not scans (SQLite's plans,
on a fresh store): each statement the read runs is captured and explained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.jobs import browse
from tidings.sending import suppressions_view as view


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.sqlite3'}")
    upgrade(db)
    yield db
    db.dispose()


def plans(db: Database, read: Callable[..., Any], *args: Any) -> list[str]:
    """The query plan of every statement `read(conn, *args)` runs."""
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with db.reader.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        read(conn, *args)
        event.remove(conn, "before_cursor_execute", capture)
        return [
            " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in seen
        ]


def test_suppressed_identifiers_are_read_as_ranges_of_the_primary_key(fresh):
    found = plans(fresh, view.suppressed, 1, "ann", ("email", "ann@x.test"))
    assert len(found) == 2  # one read per kind
    for plan in found:
        assert "USING INDEX sqlite_autoindex_suppressions_1" in plan, plan
        assert "workspace_id=? AND kind=? AND value>? AND value<?" in plan, plan


def test_blocked_addresses_are_read_as_a_range_of_the_primary_key(fresh):
    [plan] = plans(fresh, view.blocked, 1, "ann", "ann@")
    assert "USING INDEX sqlite_autoindex_blocked_addresses_1" in plan, plan
    assert "workspace_id=? AND address>? AND address<?" in plan, plan


@pytest.mark.parametrize(
    ("before", "state", "kind"),
    [(None, "", ""), (1000, "", ""), (1000, "failed", ""), (None, "queued", "segment_build")],
)
def test_a_page_of_jobs_walks_the_workspaces_jobs_down_from_the_cursor(fresh, before, state, kind):
    """On `(workspace_id, id)` (migration 0020), never other workspaces' jobs: before it
    the page walked the primary key, and a state filter took `(state, run_at)` and sorted."""
    [plan] = plans(fresh, browse.recent, 1, before, state, kind)
    cursor = " AND id<?" if before is not None else ""
    assert f"USING INDEX ix_jobs_workspace_id_id (workspace_id=?{cursor})" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # no sort
