"""The campaign pages' journey counts are ranges of `(campaign_id, state, action_id)`
(migration 0020), and the journey worker's own reads keep their indexes beside it
(SQLite's plans on a fresh store: no statistics, the planner's guesses).

Before 0020 both counts took `(state, due_at)`: every active journey of every
campaign, each row read to check its campaign and step. The worker's reads are
checked too because the new index ties with theirs on a guess: the date
scheduler's read of one person's entries took it, a read of every active journey
of the campaign for each person scheduled, until it read the person's entries
by the unique key alone. A person's last entry (an "every time" campaign's gap)
walked the campaign's `(campaign_id, started_at)`, before 0020 too: it reads the
same entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from tidings.campaigns import journey_view, journeys
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade

NOW = 1_800_000_000
BY_STEP = "ix_journeys_campaign_id_state_action_id"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.sqlite3'}")
    upgrade(db)
    yield db
    db.dispose()


def journey_plans(db: Database, read: Callable[..., Any], *args: Any) -> list[str]:
    """The query plan of every statement on `journeys` that `read(conn, *args)` runs."""
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM journeys" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    with db.reader.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        read(conn, *args)
        event.remove(conn, "before_cursor_execute", capture)
        return [
            " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in seen
        ]


def test_the_journeys_waiting_at_each_step_are_one_range_each(fresh):
    found = journey_plans(fresh, journey_view.step_counts, 7, [11, 12])
    assert len(found) == 2, found  # one count per step
    for plan in found:
        assert f"USING COVERING INDEX {BY_STEP} (campaign_id=? AND state=? AND action_id=?)" in (
            plan
        ), plan


def test_the_journeys_in_progress_of_each_campaign_are_one_range_each(fresh):
    found = journey_plans(fresh, journey_view.list_counts, "campaign", [7, 8])
    assert len(found) == 2, found
    for plan in found:
        assert f"USING COVERING INDEX {BY_STEP} (campaign_id=? AND state=?)" in plan, plan


def test_the_worker_still_takes_due_journeys_in_due_order(fresh):
    [plan] = journey_plans(fresh, journeys.advance_due, NOW, journeys.BATCH)
    assert "USING INDEX ix_journeys_state_due_at (state=? AND due_at<?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_waking_a_persons_journeys_reads_the_person_index(fresh):
    [plan] = journey_plans(fresh, journeys.wake, 1, [5, 6], [], NOW)
    assert "USING INDEX ix_journeys_person_id_state (person_id=? AND state=?)" in plan, plan


def test_scheduling_a_persons_date_entry_reads_only_their_journeys(fresh):
    trigger = {"date": {"attribute": "birthday"}}  # the person has none: nothing scheduled
    [plan] = journey_plans(fresh, journeys.reschedule_date, 1, 7, 5, trigger, NOW)
    assert "USING INDEX sqlite_autoindex_journeys_1 (campaign_id=? AND person_id=?)" in plan, plan


def test_a_persons_last_entry_reads_only_their_journeys(fresh):
    [plan] = journey_plans(fresh, journeys.last_start, 7, 5)
    assert "USING INDEX sqlite_autoindex_journeys_1 (campaign_id=? AND person_id=?)" in plan, plan
