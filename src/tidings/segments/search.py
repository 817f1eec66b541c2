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

from sqlalchemy import Connection, and_, select, true

from tidings import paging
from tidings.db.schema import attributes, people
from tidings.errors import bad_request
from tidings.segments.compile import where_clause
from tidings.segments.conditions import Attribute, Check, Condition, Or, Scalar, parse

# Customer.io's documented default and maximum page size for search.
SEARCH_LIMIT = 50
SEARCH_MAX = 1000


def parse_search(body: dict[str, Any]) -> Condition:
    """The `filter` of a search body; a 400 naming the offending path otherwise."""
    if "filter" not in body:
        raise bad_request('filter: body must be {"filter": <condition>}', "filter")
    return parse(body["filter"], "filter")


def text_filter(text: str) -> Condition | None:
    """The people a search box finds for `text`: those whose `id` or `email` starts
    with it (an email also as lower-cased, as addresses are usually compared), or
    everyone (None) for blank text. What the web UI's People page searches with."""
    text = text.strip()
    if not text:
        return None
    spellings = dict.fromkeys((text, text.lower()))
    return Or(
        tuple(
            Attribute(field, Check("starts_with", (Scalar(spelling),)))
            for field in ("id", "email")
            for spelling in spellings
        )
    )


def search(
    conn: Connection,
    workspace_id: int,
    condition: Condition | None,
    page: paging.PageRequest,
    now: int,
) -> dict[str, Any]:
    """One page of the workspace's people who match `condition` (None: everyone) at
    time `now`."""
    chosen = true() if condition is None else where_clause(condition, workspace_id, now)
    shown = attributes.alias("shown")
    query = (
        select(people.c.id, people.c.cio_id, people.c.customer_id, people.c.email, shown.c.value)
        .outerjoin(shown, and_(shown.c.person_id == people.c.id, shown.c.name == "email"))
        .where(people.c.workspace_id == workspace_id, chosen)
        .order_by(people.c.id)
        .limit(page.limit + 1)
    )
    if page.after is not None:
        query = query.where(people.c.id > page.after[0])
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
