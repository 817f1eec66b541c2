"""Cursor paging for App API listings: `?start=<cursor>&limit=<n>` in, `"next"` out.

A cursor is opaque to clients: URL-safe base64 (no padding) of `v1:` and the
sort key of the last row shown, e.g. a row id or a `(timestamp, id)` pair.
Listings are keyset-paged on that key, so rows added while a client pages do
not shift later pages (no duplicates, no gaps among rows that existed when
paging began). `next` is `""` on the last page, as Customer.io sends it.

A cursor that does not decode is a 400; an empty `start` means "first page".
Limits above the endpoint's maximum are clamped to it; a limit that is not a
positive integer is a 400.

Some listings are paged by number instead, as Customer.io's Design Studio and
asset APIs are (`?page=<n>&limit=<n>`, a `total` in `meta`): `numbered`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select

from tidings.errors import bad_request

T = TypeVar("T")
_PREFIX = "v1:"
_MAX_KEY = 2**63 - 1


@dataclass(frozen=True)
class PageRequest:
    """Where a page starts (`after`, None for the first page) and how long it is."""

    limit: int
    after: tuple[int, ...] | None = None


def encode_cursor(key: Sequence[int]) -> str:
    text = _PREFIX + ".".join(str(int(part)) for part in key)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[int, ...]:
    """The sort key inside a cursor made by `encode_cursor`; anything else is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor() from None
    if not raw.startswith(_PREFIX):
        raise _bad_cursor()
    parts = raw[len(_PREFIX) :].split(".")
    if len(parts) != arity or not all(_is_int(part) for part in parts):
        raise _bad_cursor()
    key = tuple(int(part) for part in parts)
    if any(abs(part) > _MAX_KEY for part in key):
        raise _bad_cursor()
    return key


QUERY = ("start", "limit")  # what `parse_page` reads


def parse_page(query: dict[str, str], *, default: int, maximum: int, arity: int = 1) -> PageRequest:
    """Read `start` and `limit` from a query string."""
    start = query.get("start", "")
    after = decode_cursor(start, arity) if start else None
    return PageRequest(parse_limit(query.get("limit", ""), default, maximum), after)


def parse_limit(raw: str, default: int, maximum: int) -> int:
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise bad_request("limit must be a positive integer", "limit")
    return min(int(raw), maximum)


def cut(rows: Sequence[T], limit: int, key: Any) -> tuple[list[T], str]:
    """Split `limit + 1` fetched rows into the page and the `next` cursor.

    `key(row)` gives the sort key of a row. Fetching one row more than shown
    tells whether another page exists without a count query.
    """
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, ""
    return page, encode_cursor(key(page[-1]))


def _is_int(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit() and len(digits) <= 19


def _bad_cursor() -> Exception:
    return bad_request("start is not a cursor this server issued", "start")


def newest_first(
    query: Select[Any], at: ColumnElement[int], key: ColumnElement[int], page: PageRequest
) -> Select[Any]:
    """`query` newest first by (`at`, `key`), from after the page's cursor (an `(at, key)`
    pair), with one row more than the page for `cut` to tell whether another follows."""
    if page.after is not None:
        last_at, last_key = page.after
        query = query.where(or_(at < last_at, and_(at == last_at, key < last_key)))
    return query.order_by(at.desc(), key.desc()).limit(page.limit + 1)


def numbered(conn: Connection, query: Select[Any], page: int, limit: int) -> tuple[list[Any], int]:
    """Page `page` (from 1) of `limit` rows of the ordered `query`, and how many rows it
    has in all; the database counts and pages, so only the page's rows are read."""
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    total = int(conn.execute(counted).scalar_one())
    rows = list(conn.execute(query.offset((page - 1) * limit).limit(limit)))
    return rows, total
