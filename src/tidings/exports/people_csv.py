"""The rows of a people export, read a page at a time.

Columns: `cio_id`, `id`, `email` (the identifiers Customer.io shows for a
person everywhere: search results, segment membership, object relationships),
then one column per requested attribute, in the order asked. A person without
an identifier or attribute gets an empty cell. `email` is the address as last
sent (the `email` attribute), like the App API shows it; attribute values are
the strings Customer.io shows (numbers and booleans as text, JSON values as
JSON text).

Pages are keyset-paged on the person's internal key, so each page is one short
read and memory holds one page whatever the export's size. People added while
an export runs appear if their key is still ahead of the cursor; no person
appears twice. Each page's attributes come from one query: a range scan of the
attributes' primary key (person_id, name) when the page's keys are dense, an
IN list when a filter left them sparse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from tidings.db import raw
from tidings.db.schema import people
from tidings.segments.compile import where_clause
from tidings.segments.conditions import Condition

IDENTIFIERS = ("cio_id", "id", "email")
PAGE_SIZE = 2000
# A page whose keys span more than this many times its length reads its
# attributes by key list rather than by range.
_DENSE = 4


@dataclass(frozen=True)
class PeopleExport:
    """Who is exported (`condition`, None for everyone, evaluated at `now`) and which columns."""

    workspace_id: int
    condition: Condition | None
    attributes: tuple[str, ...]
    now: int


@dataclass(frozen=True)
class Page:
    rows: list[list[str]]
    last_key: int  # the cursor for the next page


def header(export: PeopleExport) -> list[str]:
    return [*IDENTIFIERS, *export.attributes]


def read_page(
    conn: Connection, export: PeopleExport, after: int, limit: int = PAGE_SIZE
) -> Page | None:
    """CSV rows of the next `limit` matching people with keys above `after`; None at the end."""
    query = (
        select(people.c.id, people.c.cio_id, people.c.customer_id, people.c.email)
        .where(people.c.workspace_id == export.workspace_id, people.c.id > after)
        .order_by(people.c.id)
        .limit(limit)
    )
    if export.condition is not None:
        query = query.where(where_clause(export.condition, export.workspace_id, export.now))
    found = conn.execute(query).all()
    if not found:
        return None
    values = _attributes_of(conn, [row.id for row in found], ("email", *export.attributes))
    rows = []
    for row in found:
        shown = values.get(row.id, {})
        identifiers = [row.cio_id, row.customer_id or "", shown.get("email", row.email or "")]
        rows.append(identifiers + [shown.get(name, "") for name in export.attributes])
    return Page(rows, found[-1].id)


def _attributes_of(
    conn: Connection, keys: Sequence[int], names: Sequence[str]
) -> dict[int, dict[str, str]]:
    """{person key: {name: value}} for these people (all of one workspace) and names.

    No workspace condition in SQL: it would tempt SQLite into the (workspace,
    name, value) index. The keys come from a workspace-scoped query, and rows
    of any other key (a range holds other workspaces' people) are dropped here.
    The statement goes to the driver (`db/raw.py`): SQLAlchemy's per-row result
    handling would cost more than the query itself at 20 attributes a person.
    """
    mark = raw.mark(conn)
    wanted_names = sorted(set(names))
    if keys[-1] - keys[0] < _DENSE * len(keys):
        people_sql, args = f"person_id BETWEEN {mark} AND {mark}", [keys[0], keys[-1]]
    else:
        people_sql, args = f"person_id IN ({', '.join([mark] * len(keys))})", list(keys)
    sql = (
        f"SELECT person_id, name, value FROM attributes WHERE {people_sql}"
        f" AND name IN ({', '.join([mark] * len(wanted_names))})"
    )
    wanted: dict[int, dict[str, str]] = {key: {} for key in keys}
    for person_id, name, value in raw.execute(conn, sql, (*args, *wanted_names)):
        shown = wanted.get(person_id)
        if shown is not None:
            shown[name] = value
    return wanted
