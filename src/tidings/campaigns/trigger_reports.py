"""What the App API shows of a broadcast's triggers (CAMPAIGNS.md 5.1): status, errors, list.

Read use cases; each answers 404 unless the workspace has the broadcast and
the trigger is one of its own. The status object is flat, as Customer.io's:
`{id, broadcast_id, created_at, processed_at, recipients_count,
workflow_action_ids, data_file_position, data_file_processed,
data_file_error_count, recipients_filter}`, plus `state` (`queued`,
`running`, `done`, `failed`), `errors_count` and `error` (why it failed),
which Customer.io does not show. `processed_at` stays null until the
audience is resolved (or the trigger failed).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings import paging
from tidings.campaigns import store
from tidings.campaigns.broadcasts import broadcast_row
from tidings.db.schema import broadcast_trigger_errors, broadcast_triggers
from tidings.errors import not_found

ERRORS_LIMIT = 100
ERRORS_MAX = 1000
LISTED = 1000  # the newest triggers a list shows

_T = broadcast_triggers.c
_decode = msgspec.json.decode


def status(
    conn: Connection, workspace_id: int, broadcast_id: int, trigger_id: int
) -> dict[str, Any]:
    broadcast_row(conn, workspace_id, broadcast_id)
    row = _trigger(conn, broadcast_id, trigger_id)
    audience = _decode(row.audience)
    from_file = audience["form"] == "data_file_url"
    return {
        **_summary(row),
        "recipients_count": row.recipients_count,
        "workflow_action_ids": [action.id for action in store.action_rows(conn, broadcast_id)],
        "data_file_position": row.position if from_file else 0,
        "data_file_processed": from_file and row.state == "done",
        "data_file_error_count": row.errors_count if from_file else 0,
        "recipients_filter": audience.get("recipients"),
        "state": row.state,
        "errors_count": row.errors_count,
        "error": row.error,
    }


def errors(
    conn: Connection,
    workspace_id: int,
    broadcast_id: int,
    trigger_id: int,
    page: paging.PageRequest,
) -> dict[str, Any]:
    """`{"errors": [text, ...], "next": cursor}`, in the order they were found."""
    broadcast_row(conn, workspace_id, broadcast_id)
    _trigger(conn, broadcast_id, trigger_id)
    e = broadcast_trigger_errors.c
    query = select(e.seq, e.message).where(e.trigger_id == trigger_id)
    if page.after is not None:
        query = query.where(e.seq > page.after[0])
    rows = conn.execute(query.order_by(e.seq).limit(page.limit + 1)).all()
    shown, cursor = paging.cut(rows, page.limit, lambda row: (row.seq,))
    return {"errors": [row.message for row in shown], "next": cursor}


def listing(conn: Connection, workspace_id: int, broadcast_id: int) -> dict[str, Any]:
    """`{"triggers": [...]}`: the broadcast's newest `LISTED` triggers, newest first."""
    broadcast_row(conn, workspace_id, broadcast_id)
    rows = conn.execute(
        select(_T.id, _T.campaign_id, _T.created_at, _T.processed_at)
        .where(_T.campaign_id == broadcast_id)
        .order_by(_T.id.desc())
        .limit(LISTED)
    )
    return {"triggers": [_summary(row) for row in rows]}


def _trigger(conn: Connection, broadcast_id: int, trigger_id: int) -> Any:
    row = conn.execute(
        select(broadcast_triggers).where(_T.id == trigger_id, _T.campaign_id == broadcast_id)
    ).first()
    if row is None:
        raise not_found("trigger not found")
    return row


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "broadcast_id": row.campaign_id,
        "created_at": row.created_at,
        "processed_at": row.processed_at,
    }
