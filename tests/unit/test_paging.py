"""Cursor paging: opaque cursors round-trip, bad input is a 400, pages split right."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from tidings import paging
from tidings.errors import ApiError


@pytest.mark.parametrize("key", [(0,), (1,), (2**40,), (1_700_000_000, 17), (-5, 3)])
def test_cursor_round_trips(key):
    cursor = paging.encode_cursor(key)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert paging.decode_cursor(cursor, len(key)) == key


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "a",
        _b64("12"),  # no version prefix
        _b64("v1:"),
        _b64("v1:abc"),
        _b64("v1:1.2"),  # wrong arity for a one-part key
        _b64("v1:²"),
        _b64("v1:" + "9" * 30),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_foreign_cursors_are_refused(cursor):
    with pytest.raises(ApiError) as caught:
        paging.decode_cursor(cursor, 1)
    assert caught.value.status == 400
    assert caught.value.field == "start"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", 10), ("1", 1), ("7", 7), ("100", 100), ("101", 100), ("99999999999999999999", 100)],
)
def test_limit_defaults_and_clamps(raw, expected):
    assert paging.parse_limit(raw, 10, 100) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "x", "1.5", " 3", "²"])
def test_bad_limits_are_refused(raw):
    with pytest.raises(ApiError) as caught:
        paging.parse_limit(raw, 10, 100)
    assert caught.value.status == 400


def test_parse_page_reads_start_and_limit():
    cursor = paging.encode_cursor((5, 9))
    page = paging.parse_page({"start": cursor, "limit": "3"}, default=10, maximum=100, arity=2)
    assert page == paging.PageRequest(3, (5, 9))
    assert paging.parse_page({}, default=10, maximum=100) == paging.PageRequest(10, None)
    assert paging.parse_page({"start": ""}, default=4, maximum=100).after is None


def test_cut_gives_next_only_when_more_rows_exist():
    rows = [1, 2, 3, 4]
    page, cursor = paging.cut(rows, 3, lambda row: (row,))
    assert page == [1, 2, 3]
    assert paging.decode_cursor(cursor, 1) == (3,)
    assert paging.cut(rows, 4, lambda row: (row,)) == (rows, "")
    assert paging.cut([], 4, lambda row: (row,)) == ([], "")


def test_numbered_pages_count_all_rows_and_read_one_page():
    table = sa.Table("rows", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(sa.insert(table), [{"id": n} for n in range(1, 6)])
        ordered = sa.select(table).order_by(table.c.id.desc())
        rows, total = paging.numbered(conn, ordered, 2, 2)
        assert [row.id for row in rows] == [3, 2] and total == 5
        assert paging.numbered(conn, ordered, 4, 2) == ([], 5)
        rows, total = paging.numbered(conn, ordered.where(table.c.id > 3), 1, 10)
        assert [row.id for row in rows] == [5, 4] and total == 2
