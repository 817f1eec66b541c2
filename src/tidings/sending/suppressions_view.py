"""Reading and lifting a workspace's suppressions, for people (the web UI's page).

Two things keep a message from going out, and both are listed here:

- suppressed people (`suppressions`): identifiers (an id or an email) whose
  person was deleted and must not come back until unsuppressed, set by the
  Track API, Pipelines and the v2 batch API;
- blocked addresses (`blocked_addresses`): an email address or phone number
  that bounced hard or complained of spam.

Each list is keyset-paged on its primary key and filtered by a prefix of the
value (lower-cased: emails and addresses are stored so), so a page is one index
range however many rows the workspace holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select

from tidings.db.schema import blocked_addresses, suppressions
from tidings.errors import bad_request, not_found
from tidings.people import service as people
from tidings.people.identifiers import Identifier

PAGE_LIMIT = 50
KINDS = ("id", "email")


def suppressed(
    conn: Connection,
    workspace_id: int,
    prefix: str = "",
    after: tuple[str, str] | None = None,
    limit: int = PAGE_LIMIT,
) -> dict[str, Any]:
    """Suppressed identifiers in (kind, value) order after `after`; `next` is the last
    (kind, value) shown when more follow, else None.

    Read one kind at a time, so that each read is one range of the primary key
    `(workspace_id, kind, value)`; a prefix matches an id as typed and an email
    in lower case (emails are stored so)."""
    rows: list[Any] = []
    for kind in sorted(KINDS):
        if after is not None and kind < after[0]:
            continue
        query = select(suppressions).where(
            suppressions.c.workspace_id == workspace_id, suppressions.c.kind == kind
        )
        if prefix:
            given = prefix.strip().lower() if kind == "email" else prefix.strip()
            query = query.where(_starts(suppressions.c.value, given))
        if after is not None and kind == after[0]:
            query = query.where(suppressions.c.value > after[1])
        wanted = limit + 1 - len(rows)
        rows += conn.execute(query.order_by(suppressions.c.value).limit(wanted)).all()
        if len(rows) > limit:
            break
    shown = [
        {"kind": r.kind, "value": r.value, "cio_id": r.cio_id, "created_at": r.created_at}
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return {"rows": shown, "next": (shown[-1]["kind"], shown[-1]["value"]) if more else None}


def blocked(
    conn: Connection,
    workspace_id: int,
    prefix: str = "",
    after: str | None = None,
    limit: int = PAGE_LIMIT,
) -> dict[str, Any]:
    """Blocked addresses in address order after `after`; `next` as in `suppressed`."""
    query = select(blocked_addresses).where(blocked_addresses.c.workspace_id == workspace_id)
    if prefix:
        query = query.where(_starts(blocked_addresses.c.address, prefix.strip().lower()))
    if after is not None:
        query = query.where(blocked_addresses.c.address > after)
    rows = conn.execute(query.order_by(blocked_addresses.c.address).limit(limit + 1)).all()
    shown = [
        {
            "address": r.address,
            "reason": r.reason,
            "delivery_id": r.delivery_id,
            "created_at": r.created_at,
        }
        for r in rows[:limit]
    ]
    return {"rows": shown, "next": shown[-1]["address"] if len(rows) > limit else None}


def unsuppress(conn: Connection, workspace_id: int, kind: str, value: str) -> None:
    """Lift a suppression (with its partner identifier, as the Track API's unsuppress
    does); 404 when there is none."""
    if kind not in KINDS:
        raise bad_request(f"kind must be one of: {', '.join(KINDS)}")
    found = conn.execute(
        select(suppressions.c.value).where(
            suppressions.c.workspace_id == workspace_id,
            suppressions.c.kind == kind,
            suppressions.c.value == value,
        )
    ).first()
    if found is None:
        raise not_found(f"{value} is not suppressed")
    people.unsuppress(conn, workspace_id, Identifier(kind, value))  # type: ignore[arg-type]


def unblock(conn: Connection, workspace_id: int, address: str) -> None:
    """Allow sending to a blocked address again; 404 when it is not blocked."""
    removed = conn.execute(
        delete(blocked_addresses).where(
            blocked_addresses.c.workspace_id == workspace_id,
            blocked_addresses.c.address == address,
        )
    ).rowcount
    if removed != 1:
        raise not_found(f"{address} is not blocked")


def _starts(column: Any, prefix: str) -> Any:
    """`column` begins with `prefix`: an index range (no LIKE, whose case rules differ
    between SQLite and PostgreSQL, and no escaping), checked by `substr` too, so a
    database collation that orders the range's end differently cannot let others in."""
    in_range = (column >= prefix) & (column < prefix + "\U0010ffff")
    return in_range & (func.substr(column, 1, len(prefix)) == prefix)
