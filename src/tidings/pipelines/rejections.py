"""Messages refused without strict mode: recorded, counted, listed, never silently lost.

Without `X-Strict-Mode: 1` the Pipelines API answers 200 even when a message
(or a whole request) is invalid or over a size limit, as Customer.io does.
Each such message becomes a row of `cdp_rejections`, written in the same
transaction as the request's accepted messages, with the reason and the
first 512 characters of the message. `GET /v1/pipelines/rejections` (App
API) and `tidings rejections list` show them, newest first; rows older than
`RETENTION` are pruned whenever a workspace records new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select

from tidings import paging
from tidings.db.schema import cdp_rejections
from tidings.errors import ApiError

SNIPPET_CHARS = 512
RETENTION = 7 * 24 * 3600
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Rejected:
    """One refused message (or request), with what an operator needs to see why."""

    reason: str
    message: str
    type: str
    message_id: str | None
    size: int
    snippet: str

    @property
    def error(self) -> ApiError:
        status = 413 if self.reason == "too_large" else 400
        return ApiError(status, self.message, code=self.reason)


def rejected(error: ApiError, raw: Any, size: int | None = None) -> Rejected:
    """Describe `raw` (a message as decoded, or the request's bytes) refused with `error`."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else _encode(raw).decode()
    kind = message_id = None
    if isinstance(raw, dict):
        kind, message_id = raw.get("type"), raw.get("messageId")
    return Rejected(
        reason=error.code,
        message=error.message,
        type=kind[:32] if isinstance(kind, str) else "",
        message_id=message_id[:255] if isinstance(message_id, str) else None,
        size=len(text.encode()) if size is None else size,
        snippet=text[:SNIPPET_CHARS],
    )


def record(conn: Connection, workspace_id: int, items: list[Rejected], now: int) -> None:
    """Store rejections in the caller's transaction and prune the workspace's old ones."""
    if not items:
        return
    conn.execute(
        delete(cdp_rejections).where(
            cdp_rejections.c.workspace_id == workspace_id,
            cdp_rejections.c.received_at < now - RETENTION,
        )
    )
    rows = [
        {
            "workspace_id": workspace_id,
            "received_at": now,
            "reason": item.reason,
            "message": item.message,
            "type": item.type,
            "message_id": item.message_id,
            "size": item.size,
            "snippet": item.snippet.replace("\x00", "\ufffd"),
        }
        for item in items
    ]
    conn.execute(insert(cdp_rejections), rows)


def parse_page(query: dict[str, str]) -> paging.PageRequest:
    return paging.parse_page(query, default=DEFAULT_LIMIT, maximum=MAX_LIMIT, arity=2)


def recent(conn: Connection, workspace_id: int, page: paging.PageRequest) -> dict[str, Any]:
    """`{"rejections": [...], "next": cursor or ""}`, newest first."""
    table = cdp_rejections.c
    query = select(cdp_rejections).where(table.workspace_id == workspace_id)
    rows = conn.execute(paging.newest_first(query, table.received_at, table.id, page)).all()
    shown, cursor = paging.cut(rows, page.limit, lambda row: (row.received_at, row.id))
    return {"rejections": [_shown(row) for row in shown], "next": cursor}


def _shown(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "received_at": row.received_at,
        "reason": row.reason,
        "message": row.message,
        "type": row.type,
        "message_id": row.message_id,
        "size": row.size,
        "snippet": row.snippet,
    }
