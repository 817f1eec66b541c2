"""Customer search (`POST /v1/customers`): the people a condition chooses, a page at a time.

The filter is the condition language of `segments/conditions.py` (a superset
of Customer.io's audience filter). Pages are keyset-paged on the person's
internal key, oldest person first, so people added while a client pages
never shift later pages. The answer has Customer.io's shape: `identifiers`
(`{email, id, cio_id}`, unset ones null, email as last sent) and `ids`
(the `id` identifiers only, `""` for people without one).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from tidings import paging
from tidings.db.schema import attributes, people, segment_members
from tidings.errors import bad_request
from tidings.segments.compile import check_clause, where_clause
from tidings.segments.conditions import Attribute, Condition, parse

# Customer.io's documented default and maximum page size for search.
SEARCH_LIMIT = 50
SEARCH_MAX = 1000


def parse_search(body: dict[str, Any]) -> Condition:
    """The `filter` of a search body; a 400 naming the offending path otherwise."""
    if "filter" not in body:
        raise bad_request('filter: body must be {"filter": <condition>}', "filter")
    return parse(body["filter"], "filter")


def search(
    conn: Connection, workspace_id: int, condition: Condition, page: paging.PageRequest, now: int
) -> dict[str, Any]:
    """One page of the workspace's people who match `condition` at time `now`."""
    return _page(conn, workspace_id, where_clause(condition, workspace_id, now), page)


def search_text(
    conn: Connection, workspace_id: int, text: str, page: paging.PageRequest
) -> dict[str, Any]:
    """One page of the workspace's people found by a search box's `text`, in the same
    shape and order as `search`: those whose `id` starts with it, whose email starts
    with it in any case (emails are stored lower-cased), or whose `cio_id` it is;
    everyone for blank text (`search_people` adds a condition)."""
    return search_people(conn, workspace_id, text, None, page, 0)


def search_people(
    conn: Connection,
    workspace_id: int,
    text: str,
    condition: Condition | None,
    page: paging.PageRequest,
    now: int,
    segment_id: int | None = None,
) -> dict[str, Any]:
    """One page of the people found by `text` (as `search_text` finds them), chosen by
    `condition` (as `search` chooses them at time `now`) and, with `segment_id`,
    members of that segment; any may be blank (`""`, None). The People page's
    search box and filters, together.

    A segment is walked through its members (`segment_members`' key is
    `(segment_id, person_id)`, in the pages' order), not tested person by
    person as a `{"segment": ...}` condition is: a small segment of a big
    workspace then costs its size, not the workspace's.

    The text and an attribute condition are first looked up in their indexes,
    at most `FEW` people each (`_few_by_text`, `_few_by_attribute`): when one
    finds that few, the page is chosen among them. Walking the people in key
    order and testing each, as the condition alone would, stops early when
    many match but reads the whole workspace for a rare one (an email typed
    in full). When each lookup finds more, many match, and the walk is taken."""
    text = text.strip()
    clauses = [_text_clause(text)] if text else []
    if condition is not None:
        clauses.append(where_clause(condition, workspace_id, now))
    few = _few_by_text(conn, workspace_id, text) if text else None
    if few is None and isinstance(condition, Attribute):
        few = _few_by_attribute(conn, workspace_id, condition, now)
    if few is not None:
        clauses.append(people.c.id.in_(few))
    return _page(conn, workspace_id, and_(*clauses) if clauses else None, page, segment_id)


# How many people an index lookup of `search_people` may find and still choose the
# page: a page among that many is read in a few milliseconds.
FEW = 1_000


def _few_by_text(conn: Connection, workspace_id: int, text: str) -> list[int] | None:
    """The people `_text_clause` finds, from the unique indexes on the identifiers; None
    when one prefix begins more than `FEW` of them.

    A prefix is the range [prefix, the prefix with its last character's successor):
    the identifiers are ordered by code point on both stores (migration 0022)."""
    found: set[int] = set()
    for column, prefix in ((people.c.customer_id, text), (people.c.email, text.lower())):
        within = [column >= prefix, func.substr(column, 1, len(prefix)) == prefix]
        beyond = _successor(prefix)
        if beyond is not None:
            within.append(column < beyond)
        query = select(people.c.id).where(people.c.workspace_id == workspace_id, *within)
        ids = conn.execute(query.limit(FEW + 1)).scalars().all()
        if len(ids) > FEW:
            return None
        found.update(ids)
    exact = select(people.c.id).where(
        people.c.workspace_id == workspace_id, people.c.cio_id == text
    )
    found.update(conn.execute(exact).scalars())
    return sorted(found)


def _successor(prefix: str) -> str | None:
    """The least string above every string that begins with `prefix`, in code point
    order; None when there is none (its last character is the largest)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are not characters: skip them
        last = 0xE000
    if last > 0x10FFFF:
        return None
    return prefix[:-1] + chr(last)


def _few_by_attribute(
    conn: Connection, workspace_id: int, condition: Attribute, now: int
) -> list[int] | None:
    """The people whose attribute passes the test, from the index on (workspace_id,
    name, value); None when more than `FEW` do. An `eq` on text is a range of
    the index; other tests read the attribute's rows until `FEW + 1` pass."""
    test = check_clause(condition.test, attributes.c.value, attributes.c.kind, now)
    query = select(attributes.c.person_id).where(
        attributes.c.workspace_id == workspace_id, attributes.c.name == condition.field, test
    )
    ids = conn.execute(query.limit(FEW + 1)).scalars().all()
    return None if len(ids) > FEW else sorted(ids)


def _text_clause(text: str) -> ColumnElement[bool]:
    def starts(column: Any, prefix: str) -> ColumnElement[bool]:
        # substr, not LIKE: SQLite's LIKE ignores case and PostgreSQL's does not.
        return func.substr(column, 1, len(prefix)) == prefix

    return or_(
        starts(people.c.customer_id, text),
        starts(people.c.email, text.lower()),
        people.c.cio_id == text,
    )


def _page(
    conn: Connection,
    workspace_id: int,
    chosen: ColumnElement[bool] | None,
    page: paging.PageRequest,
    segment_id: int | None = None,
) -> dict[str, Any]:
    shown = attributes.alias("shown")
    key = people.c.id if segment_id is None else segment_members.c.person_id
    query = select(
        people.c.id, people.c.cio_id, people.c.customer_id, people.c.email, shown.c.value
    )
    if segment_id is not None:
        query = query.select_from(segment_members).join(
            people, people.c.id == segment_members.c.person_id
        )
        query = query.where(segment_members.c.segment_id == segment_id)
    query = (
        query.outerjoin(shown, and_(shown.c.person_id == people.c.id, shown.c.name == "email"))
        .where(people.c.workspace_id == workspace_id)
        .order_by(key)
        .limit(page.limit + 1)
    )
    if chosen is not None:
        query = query.where(chosen)
    if page.after is not None:
        query = query.where(key > page.after[0])
    rows, cursor = paging.cut(conn.execute(query).all(), page.limit, lambda row: (row.id,))
    identifiers = [
        {
            "email": row.value if row.value is not None else row.email,
            "id": row.customer_id,
            "cio_id": row.cio_id,
        }
        for row in rows
    ]
    return {
        "identifiers": identifiers,
        "ids": [row.customer_id or "" for row in rows],
        "next": cursor,
    }
