"""Idempotency-Key storage: replay, mismatch, expiry, and nothing kept for a refused request."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tidings.api.idempotency import run_once
from tidings.db.schema import idempotency_keys
from tidings.errors import ApiError, bad_request


def counter():
    calls = []

    def use_case(conn, value):
        calls.append(value)
        return {"n": len(calls), "value": value}

    return use_case, calls


def test_the_first_answer_is_replayed_and_another_request_is_refused(tx, workspace):
    ws = workspace.workspace_id
    fn, calls = counter()
    first = tx(run_once, ws, ("k", "POST /x", "h1"), 100, fn, ("a",))
    again = tx(run_once, ws, ("k", "POST /x", "h1"), 200, fn, ("a",))
    assert first == (200, b'{"n":1,"value":"a"}', False)
    assert again == (200, b'{"n":1,"value":"a"}', True)
    assert calls == ["a"]
    with pytest.raises(ApiError) as refused:
        tx(run_once, ws, ("k", "POST /x", "h2"), 200, fn, ("b",))
    assert refused.value.status == 422
    assert refused.value.message == "Idempotency-Key reused with a different request"


def test_a_key_is_kept_24_hours_then_expires(tx, workspace):
    ws = workspace.workspace_id
    fn, calls = counter()
    day = 24 * 3600  # the documented 24 hours, not the code's own constant
    tx(run_once, ws, ("old", "POST /x", "h1"), 100, fn, ("a",))
    kept = tx(run_once, ws, ("old", "POST /x", "h1"), 100 + day, fn, ("a",))
    assert kept == (200, b'{"n":1,"value":"a"}', True)
    answer = tx(run_once, ws, ("old", "POST /x", "h2"), 101 + day, fn, ("b",))
    assert answer == (200, b'{"n":2,"value":"b"}', False)


def test_a_refused_request_stores_no_key(tx, query, workspace):
    ws = workspace.workspace_id

    def refuse(conn):
        raise bad_request("no")

    with pytest.raises(ApiError):
        tx(run_once, ws, ("r", "POST /x", "h"), 100, refuse, ())
    rows = query(
        lambda conn: conn.execute(
            select(idempotency_keys.c.key).where(idempotency_keys.c.workspace_id == ws)
        ).all()
    )
    assert rows == []
