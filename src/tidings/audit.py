"""The audit log: who changed what, recorded in the transaction of the change.

`record` inserts one entry on the caller's connection and never commits, so
an entry exists exactly when the change it describes committed: a change that
rolls back takes its entry with it, and no change commits without one.
`audited` runs any write use case and records its entry on the same
connection, for callers (the web UI) whose use cases know nothing of users:
`ctx.write(audited, entry, use_case, *args)`. The entry's target id may name
what the use case returns (`target_id=RESULT`), for changes that create it.

`browse` reads a workspace's entries for the audit page and its CSV export:
newest first by `(at, id)`, keyset-paged, filtered by user, action, target
type and time, through the `(workspace_id, at)` index. `csv_cell` makes a
value safe to open in a spreadsheet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, insert, or_, select

from tidings import paging
from tidings.db.schema import audit_log, users

T = TypeVar("T")
RESULT = "\x00result"  # an Entry's target_id: the use case's return value, as text
LIST_LIMIT = 100


@dataclass(frozen=True)
class Entry:
    """One change: by whom (`user_id`, None for the command line), in which workspace
    (None for what belongs to none, such as a login), what was done to what."""

    action: str
    target_type: str
    target_id: str
    workspace_id: int | None = None
    user_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def record(conn: Connection, entry: Entry, at: int) -> None:
    """Insert `entry` on `conn`, in the caller's transaction."""
    conn.execute(
        insert(audit_log).values(
            workspace_id=entry.workspace_id,
            user_id=entry.user_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id[:200],
            details=json.dumps(entry.details, sort_keys=True, separators=(",", ":")),
            at=int(at),
        )
    )


def audited(conn: Connection, entry: Entry, at: int, fn: Callable[..., T], *args: Any) -> T:
    """Run the write use case `fn(conn, *args)`, then record `entry`, in one transaction."""
    result = fn(conn, *args)
    if entry.target_id == RESULT:
        entry = replace(entry, target_id=str(result))
    record(conn, entry, at)
    return result


def entries(
    conn: Connection, workspace_id: int | None, *, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """The newest entries of a workspace (None: those of no workspace), newest first."""
    where = (
        audit_log.c.workspace_id.is_(None)
        if workspace_id is None
        else audit_log.c.workspace_id == workspace_id
    )
    rows = conn.execute(
        select(audit_log).where(where).order_by(audit_log.c.id.desc()).limit(limit)
    ).all()
    return [
        {
            "id": row.id,
            "workspace_id": row.workspace_id,
            "user_id": row.user_id,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "details": json.loads(row.details),
            "at": row.at,
        }
        for row in rows
    ]


@dataclass(frozen=True)
class AuditQuery:
    """What the audit page asks for: each filter None (or "") when not chosen; `after`,
    the `(at, id)` of the last entry of the previous page."""

    limit: int = LIST_LIMIT
    after: tuple[int, int] | None = None
    user_id: int | None = None
    action: str = ""
    target_type: str = ""
    since: int | None = None
    until: int | None = None


def browse(conn: Connection, workspace_id: int, q: AuditQuery) -> dict[str, Any]:
    """A page of the workspace's entries, newest first, with the email of who acted
    (None for the command line): `{"entries": [...], "next": cursor or ""}`. Times
    are inclusive at both ends."""
    where = [audit_log.c.workspace_id == workspace_id]
    if q.user_id is not None:
        where.append(audit_log.c.user_id == q.user_id)
    if q.action:
        where.append(audit_log.c.action == q.action)
    if q.target_type:
        where.append(audit_log.c.target_type == q.target_type)
    if q.since is not None:
        where.append(audit_log.c.at >= q.since)
    if q.until is not None:
        where.append(audit_log.c.at <= q.until)
    if q.after is not None:
        at, last = q.after
        where.append(or_(audit_log.c.at < at, and_(audit_log.c.at == at, audit_log.c.id < last)))
    rows = conn.execute(
        select(audit_log, users.c.email)
        .outerjoin(users, users.c.id == audit_log.c.user_id)
        .where(*where)
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(q.limit + 1)
    ).all()
    found = [
        {
            "id": row.id,
            "user_id": row.user_id,
            "email": row.email,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "details": json.loads(row.details),
            "at": row.at,
        }
        for row in rows[: q.limit]
    ]
    more = len(rows) > q.limit
    last_entry = found[-1] if found else None
    cursor = (
        paging.encode_cursor((last_entry["at"], last_entry["id"])) if more and last_entry else ""
    )
    return {"entries": found, "next": cursor}


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """`value` as a CSV cell a spreadsheet will not run: text starting with =, +, -, @
    (or a tab or carriage return, which some read past) gets a leading quote
    (OWASP's advice against CSV formula injection). None is empty."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
