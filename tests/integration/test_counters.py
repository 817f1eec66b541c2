"""`db.counters`: counts deferred to the end of a block, undone with a savepoint, on both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tidings.db import counters
from tidings.db.schema import message_totals
from tidings.reporting import totals


# A scope's ids are unique across workspaces (they are the primary keys of actions, ...):
# each test's made-up action ids are offset by its workspace's, so that no other test's
# real action shares one.
def _totals(conn, workspace_id):
    query = select(message_totals.c.scope_id, message_totals.c.count).where(
        message_totals.c.workspace_id == workspace_id, message_totals.c.name == "reached"
    )
    return sorted((pk - _base(workspace_id), count) for pk, count in conn.execute(query))


def _reach(conn, workspace_id, action_id):
    totals.add(conn, workspace_id, "reached", [("action", _base(workspace_id) + action_id)])


def _base(workspace_id):
    return 1_000_000 + workspace_id * 100


def test_counts_are_summed_and_made_when_the_block_ends(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        _reach(conn, ws, 7)
        with counters.deferred(conn):
            for action_id in (9, 8, 9):
                _reach(conn, ws, action_id)
            with counters.deferred(conn):  # inside another: the outer block makes them
                _reach(conn, ws, 8)
            assert _totals(conn, ws) == [(7, 1)]
        assert _totals(conn, ws) == [(7, 1), (8, 2), (9, 2)]
        _reach(conn, ws, 7)  # after the block: at once again
        assert _totals(conn, ws) == [(7, 2), (8, 2), (9, 2)]


def test_a_savepoint_undone_forgets_its_counts(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn, counters.deferred(conn):
        _reach(conn, ws, 1)
        with pytest.raises(ValueError), counters.savepoint(conn):
            _reach(conn, ws, 1)
            _reach(conn, ws, 2)
            raise ValueError("this journey failed")
        with counters.savepoint(conn):
            _reach(conn, ws, 3)
    with db.reader.connect() as conn:
        assert _totals(conn, ws) == [(1, 1), (3, 1)]


def test_a_block_that_raises_makes_no_counts(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        with pytest.raises(ValueError), counters.deferred(conn):
            _reach(conn, ws, 5)
            raise ValueError("the batch failed")
        assert _totals(conn, ws) == []
        with counters.deferred(conn):  # the connection keeps no pending counts
            pass
        _reach(conn, ws, 6)
        assert _totals(conn, ws) == [(6, 1)]
