"""Messages the ingest log acknowledged and its applier then refused: listed for people.

With `--ingest-log` a client got its 2xx when the stream stored the request;
a record refused only when applied (a 4xx its use case found then, e.g. a
conflict the handler could not see, or a record its use case cannot take at
all) is written to `ingest_refusals` by `apply.apply_batch`, with the reason
and the message as published. `recent` lists them, newest first, for the
web UI's Activity area (`/activity/refusals`) and `tidings refusals`;
housekeeping removes rows older than `RETENTION`.

A message the applier could not read at all names no workspace: it is
stored under workspace 0, listed only when no workspace is asked for (the
CLI without `--workspace-id`), and dated by the stream.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from tidings import paging
from tidings.db.schema import ingest_refusals
from tidings.ingest_log.kinds import KINDS

RETENTION = 30 * 86400  # longer than the stream's 7 days: time to notice, then replay
UNKNOWN_ROUTE = "unknown (not a record of a known kind)"


def recent(conn: Connection, workspace_id: int | None, page: paging.PageRequest) -> dict[str, Any]:
    """`{"refusals": [...], "next": cursor or ""}`, newest first by the time the request
    was received; `workspace_id` None lists every workspace's (and the unreadable ones)."""
    table = ingest_refusals.c
    query = select(ingest_refusals)
    if workspace_id is not None:
        query = query.where(table.workspace_id == workspace_id)
    rows = conn.execute(paging.newest_first(query, table.received_at, table.id, page)).all()
    shown, cursor = paging.cut(rows, page.limit, lambda row: (row.received_at, row.id))
    return {"refusals": [_shown(row) for row in shown], "next": cursor}


def route(kind: str) -> str:
    """The endpoints whose requests make records of `kind`."""
    known = KINDS.get(kind)
    return known.route if known else UNKNOWN_ROUTE


def _shown(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "received_at": row.received_at,
        "kind": row.kind,
        "route": route(row.kind),
        "status": row.status,
        "code": row.code,
        "message": row.message,
        "stream": row.stream,
        "partition": row.partition,
        "seq": row.seq,
        "record": row.record,
    }
