"""`db.raw.savepoint`: one item of a request undone alone, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from tidings.db import raw
from tidings.db.schema import forms
from tidings.errors import ApiError


def _add(conn, workspace_id, form_id):
    conn.execute(
        insert(forms).values(
            workspace_id=workspace_id, form_id=form_id, created_at=0, submissions=0
        )
    )


def _forms(conn, workspace_id):
    query = select(forms.c.form_id).where(forms.c.workspace_id == workspace_id)
    return sorted(conn.execute(query).scalars())


def test_a_failing_block_is_undone_and_the_transaction_goes_on(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        _add(conn, ws, "sp-kept")
        with pytest.raises(ApiError), raw.savepoint(conn):
            _add(conn, ws, "sp-undone")
            raise ApiError(400, "refused")
        with raw.savepoint(conn):
            _add(conn, ws, "sp-after")
        assert _forms(conn, ws) == ["sp-after", "sp-kept"]
    with db.reader.connect() as conn:
        assert _forms(conn, ws) == ["sp-after", "sp-kept"]


def test_a_database_error_inside_leaves_the_transaction_usable(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        _add(conn, ws, "sp-unique")
        with pytest.raises(Exception, match="(?i)unique|duplicate"), raw.savepoint(conn):
            _add(conn, ws, "sp-unique")  # PostgreSQL aborts the transaction until rolled back
        _add(conn, ws, "sp-next")
    with db.reader.connect() as conn:
        assert {"sp-unique", "sp-next"} <= set(_forms(conn, ws))


def test_sqlalchemy_savepoints_nest_inside(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        with raw.savepoint(conn):
            nested = conn.begin_nested()
            _add(conn, ws, "sp-inner")
            nested.rollback()
            _add(conn, ws, "sp-outer")
        assert "sp-inner" not in _forms(conn, ws)
        assert "sp-outer" in _forms(conn, ws)


def test_the_error_raised_is_the_one_that_ended_the_transaction(db, workspace):
    """SQLite rolls a transaction back itself on a full disk or an I/O error; the
    savepoint is then gone, and the caller must see that error, not "no such savepoint"."""
    ws = workspace.workspace_id
    refused = pytest.raises(ApiError, match="the disk is full")
    with refused, db.writer.begin() as conn, raw.savepoint(conn):
        _add(conn, ws, "sp-lost")
        raw.execute(conn, "ROLLBACK")  # as SQLite does on SQLITE_FULL
        raise ApiError(507, "the disk is full")
    with db.reader.connect() as conn:
        assert "sp-lost" not in _forms(conn, ws)
