"""A collection's rows: validation, limits, and reading them from a fetched CSV or JSON file.

Pure functions. Rows are JSON objects; a collection stores them as one compact
JSON array (`Content.data`), and its `schema` is the sorted set of top-level
keys seen in any row (Customer.io shows it, it does not enforce it). Limits
are Customer.io's: each row at most 10 KB and the whole at most 10 MB, both
measured as compact JSON (UTF-8).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import msgspec

MAX_ROW_BYTES = 10 * 1024
MAX_BYTES = 10 * 1024 * 1024

_encode = msgspec.json.Encoder().encode


class InvalidRows(ValueError):
    """Rows that cannot make a collection; the message says which and why."""


@dataclass(frozen=True)
class Content:
    data: str  # the rows, a compact JSON array
    schema: tuple[str, ...]
    rows: int
    bytes: int


EMPTY = Content("[]", (), 0, 2)


def content_of(rows: Any, field: str = "data") -> Content:
    """Validate `rows` (decoded JSON) and encode them; InvalidRows names the problem.

    `field` is how the error messages name the array (`data`, `content`, the URL).
    """
    if not isinstance(rows, list):
        raise InvalidRows(f"{field} must be an array of objects, not {_kind(rows)}")
    encoded: list[bytes] = []
    keys: set[str] = set()
    total = 2  # the brackets
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidRows(f"{field}[{index}] must be an object, not {_kind(row)}")
        one = _encode(row)
        if len(one) > MAX_ROW_BYTES:
            raise InvalidRows(
                f"{field}[{index}] is {len(one)} bytes as JSON; a row may have at most "
                f"{MAX_ROW_BYTES} bytes"
            )
        total += len(one) + (1 if encoded else 0)
        if total > MAX_BYTES:
            raise InvalidRows(f"{field} is larger than {MAX_BYTES} bytes as JSON (the limit)")
        encoded.append(one)
        keys.update(row)
    data = b"[" + b",".join(encoded) + b"]"
    return Content(data.decode(), tuple(sorted(keys)), len(encoded), len(data))


def parse_file(body: bytes, content_type: str, url: str) -> Content:
    """The rows of a fetched file: a JSON array of objects, or a CSV with a header row.

    The content type decides (`json` or `csv` in it); otherwise the first
    non-blank character does (`[` means JSON). CSV rows become objects of
    strings keyed by the header.
    """
    body = body.removeprefix(b"\xef\xbb\xbf")
    if _is_json(body, content_type):
        try:
            rows = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise InvalidRows(f"{url} is not valid JSON: {exc}") from exc
        return content_of(rows, url)
    return content_of(csv_rows(_text(body, url), url), url)


def csv_rows(text: str, source: str) -> list[dict[str, str]]:
    """The records of a CSV text as objects keyed by its header row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        _check_header(header, source)
        return [_record(header, fields, reader.line_num, source) for fields in reader if fields]
    except csv.Error as exc:
        raise InvalidRows(f"{source} is not valid CSV (line {reader.line_num}): {exc}") from exc


def _check_header(header: list[str], source: str) -> None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise InvalidRows(f"{source}: column {position} of the CSV header has no name")
        if name in seen:
            raise InvalidRows(f"{source}: the CSV header names column {name!r} twice")
        seen.add(name)


def _record(header: list[str], fields: list[str], line: int, source: str) -> dict[str, str]:
    if len(fields) > len(header):
        raise InvalidRows(
            f"{source}: line {line} of the CSV has {len(fields)} fields, the header {len(header)}"
        )
    return {name: fields[i] if i < len(fields) else "" for i, name in enumerate(header)}


def _is_json(body: bytes, content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if "json" in media:
        return True
    if "csv" in media:
        return False
    return body.lstrip(b" \t\r\n")[:1] == b"["


def _text(body: bytes, source: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRows(f"{source} is not UTF-8 text (byte {exc.start})") from exc


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
