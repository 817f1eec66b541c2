"""Collection rows: what is accepted, the limits, and reading fetched CSV and JSON files."""

from __future__ import annotations

import json

import pytest

from tidings.collections.rows import (
    MAX_BYTES,
    MAX_ROW_BYTES,
    InvalidRows,
    content_of,
    parse_file,
)


def test_content_is_compact_json_with_sorted_schema() -> None:
    rows = [{"eventName": "launch", "eventDate": "2025-01-01"}, {"presents": ["x"], "é": 1}]
    content = content_of(rows)
    assert json.loads(content.data) == rows
    assert content.data == json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    assert content.schema == ("eventDate", "eventName", "presents", "é")
    assert content.rows == 2
    assert content.bytes == len(content.data.encode())


def test_empty_array_is_an_empty_collection() -> None:
    content = content_of([])
    assert (content.data, content.schema, content.rows, content.bytes) == ("[]", (), 0, 2)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"a": 1}, "data must be an array of objects, not an object"),
        ("rows", "data must be an array of objects, not a string"),
        (None, "data must be an array of objects, not null"),
        ([{"a": 1}, 5], r"data\[1\] must be an object, not a number"),
        ([[1]], r"data\[0\] must be an object, not an array"),
        ([{"a": 1}, None], r"data\[1\] must be an object, not null"),
    ],
)
def test_rows_must_be_objects(rows: object, message: str) -> None:
    with pytest.raises(InvalidRows, match=message):
        content_of(rows)


def test_a_row_may_have_10_kb() -> None:
    pad = MAX_ROW_BYTES - len('{"v":""}')
    assert content_of([{"v": "x" * pad}]).rows == 1
    with pytest.raises(InvalidRows, match=r"content\[1\] is 10241 bytes as JSON; a row may have"):
        content_of([{}, {"v": "x" * (pad + 1)}], "content")


def test_the_whole_may_have_10_mb() -> None:
    row = {"v": "x" * (MAX_ROW_BYTES - 100)}
    size = len(json.dumps(row, separators=(",", ":")))
    fits = (MAX_BYTES - 2) // (size + 1)
    assert content_of([row] * fits).bytes <= MAX_BYTES
    with pytest.raises(InvalidRows, match="larger than 10485760 bytes"):
        content_of([row] * (fits + 1))


def test_csv_file_becomes_objects_of_strings() -> None:
    body = '\ufeffname,price,"note, quoted"\r\nTea,3,"hot, ""green"""\nCake,5\n\n'.encode()
    content = parse_file(body, "text/csv; charset=utf-8", "https://x/a.csv")
    assert json.loads(content.data) == [
        {"name": "Tea", "price": "3", "note, quoted": 'hot, "green"'},
        {"name": "Cake", "price": "5", "note, quoted": ""},
    ]
    assert content.schema == ("name", "note, quoted", "price")


def test_json_file_is_an_array_of_objects() -> None:
    content = parse_file(b'[{"a": 1, "b": {"c": true}}]', "application/json", "u")
    assert json.loads(content.data) == [{"a": 1, "b": {"c": True}}]


@pytest.mark.parametrize(
    ("body", "content_type", "rows"),
    [
        (b'  [{"a": 1}]', "application/octet-stream", [{"a": 1}]),
        (b'\xef\xbb\xbf[{"a": 1}]', "", [{"a": 1}]),
        (b"a,b\n1,2\n", "text/plain", [{"a": "1", "b": "2"}]),
        (b'[{"a": 1}]', "application/vnd.api+json", [{"a": 1}]),
        (b"", "text/csv", []),
    ],
)
def test_format_by_content_type_or_sniffing(body: bytes, content_type: str, rows: list) -> None:
    assert json.loads(parse_file(body, content_type, "u").data) == rows


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"a": 1}', "application/json", "u must be an array of objects, not an object"),
        (b"[1,", "application/json", "u is not valid JSON"),
        (b"a,a\n1,2\n", "text/csv", "names column 'a' twice"),
        (b"a,,c\n1,2,3\n", "text/csv", "column 2 of the CSV header has no name"),
        (b"a,b\n1,2,3\n", "text/csv", "line 2 of the CSV has 3 fields, the header 2"),
        (b"a\n\xff\n", "text/csv", "u is not UTF-8 text"),
        (b'a\n"unclosed\n', "text/csv", "not valid CSV"),
    ],
)
def test_bad_files(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(InvalidRows, match=message):
        parse_file(body, content_type, "u")
