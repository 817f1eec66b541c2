"""Reading captured messages back (`tidings outbox`, `GET /v1/outbox`): newest first."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings import paging
from tidings.db.schema import captured_messages

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
QUERY = (*paging.QUERY, "delivery_id", "recipient")  # `GET /v1/outbox`'s filters


def list_captured(
    conn: Connection,
    workspace_id: int | None,
    page: paging.PageRequest,
    delivery_id: str | None = None,
    recipient: str | None = None,
) -> dict[str, Any]:
    """`{"messages": [...], "next": cursor}`; `workspace_id` None lists every workspace (CLI).

    `recipient` matches the address (or phone, or device token) exactly.
    """
    c = captured_messages.c
    query = select(captured_messages).order_by(c.id.desc()).limit(page.limit + 1)
    if workspace_id is not None:
        query = query.where(c.workspace_id == workspace_id)
    if delivery_id:
        query = query.where(c.delivery_id == delivery_id)
    if recipient:
        query = query.where(c.recipient == recipient)
    if page.after is not None:
        query = query.where(c.id < page.after[0])
    shown, cursor = paging.cut(conn.execute(query).all(), page.limit, lambda row: (row.id,))
    return {"messages": [_message(row) for row in shown], "next": cursor}


def _message(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "delivery_id": row.delivery_id,
        "channel": row.channel,
        "recipient": row.recipient,
        "subject": row.subject,
        "message": msgspec.json.decode(row.message),
        "created_at": row.created_at,
    }
