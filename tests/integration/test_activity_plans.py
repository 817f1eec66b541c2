"""The UI's activity and delivery reads use the indexes they were written for, on a fresh
SQLite store (no statistics: the planner's guesses, as on a store never ANALYZEd).

The workspace log walks `events` by the timestamp index (never a scan of the table,
never the person index without a person); the Deliveries page's status filter takes
`(workspace_id, state, created_at)` (migration 0018) and the unfiltered list keeps
`(workspace_id, created_at)`.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tidings.activity import browse
from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.reporting import delivery_view, messages

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.sqlite3'}")
    upgrade(db)
    yield db
    db.dispose()


def plans(db, fn, *args) -> list[str]:
    """The query plan of every statement `fn(conn, *args)` runs."""
    seen: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with db.reader.connect() as conn:
        event.listen(conn, "before_cursor_execute", keep)
        fn(conn, *args)
        event.remove(conn, "before_cursor_execute", keep)
        return [
            " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in seen
            if sql.lstrip().upper().startswith("SELECT")
        ]


@pytest.mark.parametrize(
    "query",
    [
        browse.LogQuery(),
        browse.LogQuery(name="purchase", type="event"),
        browse.LogQuery(name="purchase", since=NOW - 3600, until=NOW, after=(NOW, 99)),
    ],
)
def test_the_workspace_log_walks_the_timestamp_index(fresh, query):
    found = plans(fresh, browse.recent, 1, query)
    assert found and all("USING INDEX ix_events_timestamp" in p for p in found), found


def test_a_persons_log_reads_the_person_index(fresh):
    [found] = plans(fresh, browse.recent, 1, browse.LogQuery(person_pk=5, name="purchase"))
    assert "USING INDEX ix_events_person_id_name_timestamp" in found


def test_the_status_filter_takes_the_state_index(fresh):
    q = delivery_view.status_query(messages.MessageQuery(), "failed")
    found = plans(fresh, messages.list_messages, 1, q, NOW)
    assert "USING INDEX ix_deliveries_workspace_id_state_created_at" in found[0], found
    unfiltered = plans(fresh, messages.list_messages, 1, messages.MessageQuery(), NOW)
    assert "USING INDEX ix_deliveries_workspace_id_created_at" in unfiltered[0], unfiltered


def test_a_visitors_log_reads_the_anonymous_index(fresh):
    [found] = plans(fresh, browse.recent, 1, browse.LogQuery(anonymous_id="v-1", name="x"))
    assert "USING INDEX ix_events_workspace_id_anonymous_id_timestamp" in found
