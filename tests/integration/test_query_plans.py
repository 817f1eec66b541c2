"""SQLite picks the person index for one person's events, statistics or not.

A store that was never ANALYZEd plans from guesses. An index on
`(workspace_id, timestamp)` (migration 0007's first version) looked as good
as the person index to those guesses, and every per-person event lookup
(real-time segment refreshes, activity feeds) scanned the workspace's whole
log instead: a server fell behind at 1,000 events/s. These plans are checked
on a fresh store.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.db.schema import people
from tidings.segments import compile
from tidings.segments.conditions import parse

PERSON_INDEX = "ix_events_person_id_name_timestamp"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.sqlite3'}")
    upgrade(db)
    yield db
    db.dispose()


def plan(db, sql: str) -> str:
    with db.reader.connect() as conn:
        return " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


@pytest.mark.parametrize(
    "condition",
    [
        {"event": {"name": "purchase"}},
        {"event": {"name": "purchase", "count": {"gte": 2}, "within_last": {"days": 30}}},
        {"event": {"name": "purchase", "between": [1, 2]}},
    ],
)
def test_a_persons_events_are_read_through_the_person_index(fresh, condition):
    clause = compile.where_clause(parse(condition), 1, 1_800_000_000)
    query = select(people.c.id).where(people.c.id.in_([1, 2, 3]), clause)
    sql = str(query.compile(compile_kwargs={"literal_binds": True}))
    assert f"SEARCH events USING INDEX {PERSON_INDEX}" in plan(fresh, sql)


def test_an_activity_feed_is_read_through_the_person_index(fresh):
    sql = (
        "SELECT id FROM events WHERE workspace_id = 1 AND person_id = 5"
        " ORDER BY timestamp DESC, id DESC LIMIT 51"
    )
    assert f"SEARCH events USING INDEX {PERSON_INDEX}" in plan(fresh, sql)


def _attribute_plan(fresh, operator, value, sets):
    condition = {"attribute": {"field": "created_at", "operator": operator, "value": value}}
    query = compile.select_people(parse(condition), 1, 1_800_000_000, sets=sets)
    return plan(fresh, str(query.compile(compile_kwargs={"literal_binds": True})))


@pytest.mark.parametrize("operator", ["gt", "lte", "after", "eq"])
def test_a_numeric_attribute_test_reads_only_that_attributes_rows(fresh, operator):
    """Reading numbers out of text (numeric strings included) keeps the index on the name."""
    assert (
        "SEARCH attributes USING INDEX sqlite_autoindex_attributes_1 (person_id=? AND name=?)"
        in (_attribute_plan(fresh, operator, 1_700_000_000, sets=False))
    )
    assert (
        "SEARCH attributes USING INDEX ix_attributes_workspace_id_name_value"
        " (workspace_id=? AND name=?)" in _attribute_plan(fresh, operator, 1_700_000_000, sets=True)
    )


def test_a_text_equality_still_seeks_the_value(fresh):
    assert "(workspace_id=? AND name=? AND value=?)" in _attribute_plan(fresh, "eq", "x", True)


def _walk_sql(query) -> str:
    return str(query.compile(compile_kwargs={"literal_binds": True}))


def test_a_walk_over_a_workspaces_people_reads_a_range_in_key_order(fresh):
    """A fan-out's page: a range of the (workspace_id, id) index, no scan and no sort
    (before 0016 it scanned and sorted the whole workspace on every page)."""
    from tidings.campaigns import audiences

    condition = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    query = audiences.people_query(1, condition, 5_000, 1_800_000_000)
    found = plan(fresh, _walk_sql(query))
    assert "ix_people_workspace_id_id (workspace_id=? AND id>?)" in found
    assert "TEMP B-TREE" not in found
