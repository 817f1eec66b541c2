"""Reading captured messages back (`tidings outbox`, `GET /v1/outbox`, the emulator's
`/_emulator/outbox`): newest first, each with the message it came from (a
transactional message, a campaign, a broadcast or a newsletter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, delete, or_, select

from tidings import numbers, paging
from tidings.db.schema import captured_messages, deliveries

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
# The filters' query parameters (`Filters`, from `GET /v1/outbox`'s query).
FILTERS = ("delivery_id", "recipient", "channel", "template", "campaign")
QUERY = (*paging.QUERY, *FILTERS)


@dataclass(frozen=True)
class Filters:
    """Which captured messages: each given filter must match (exactly).

    `template` is a transactional message's id; `campaign` a campaign's,
    broadcast's or newsletter's id (they share one numbering).
    """

    delivery_id: str | None = None
    recipient: str | None = None  # the address, phone number or device token
    channel: str | None = None
    template: int | None = None
    campaign: int | None = None

    def where(self, workspace_id: int | None) -> list[ColumnElement[bool]]:
        c, d = captured_messages.c, deliveries.c
        found: list[ColumnElement[bool]] = []
        if workspace_id is not None:
            found.append(c.workspace_id == workspace_id)
        if self.delivery_id:
            found.append(c.delivery_id == self.delivery_id)
        if self.recipient:
            found.append(c.recipient == self.recipient)
        if self.channel:
            found.append(c.channel == self.channel)
        if self.template is not None:
            found.append(d.transactional_message_id == self.template)
        if self.campaign is not None:
            parents = (d.campaign_id, d.broadcast_id, d.newsletter_id)
            found.append(or_(*(column == self.campaign for column in parents)))
        return found

    @property
    def by_parent(self) -> bool:
        return self.template is not None or self.campaign is not None


def parse_filters(query: dict[str, str]) -> Filters:
    """The filters of a query string; a `template` or `campaign` that is not an id is a 400."""
    ids = {
        name: numbers.query_int(query, name, -1, 0, 2**62) if name in query else None
        for name in ("template", "campaign")
    }
    return Filters(
        delivery_id=query.get("delivery_id"),
        recipient=query.get("recipient"),
        channel=query.get("channel"),
        **ids,
    )


def list_captured(
    conn: Connection,
    workspace_id: int | None,
    page: paging.PageRequest,
    filters: Filters | None = None,
) -> dict[str, Any]:
    """`{"messages": [...], "next": cursor}`; `workspace_id` None lists every workspace (CLI)."""
    filters = filters or Filters()
    c, d = captured_messages.c, deliveries.c
    parents = (d.transactional_message_id, d.campaign_id, d.broadcast_id, d.newsletter_id)
    query = (
        select(captured_messages, *parents)
        .outerjoin(deliveries, d.id == c.delivery_id)
        .where(*filters.where(workspace_id))
        .order_by(c.id.desc())
        .limit(page.limit + 1)
    )
    if page.after is not None:
        query = query.where(c.id < page.after[0])
    shown, cursor = paging.cut(conn.execute(query).all(), page.limit, lambda row: (row.id,))
    return {"messages": [_message(row) for row in shown], "next": cursor}


def forget_captured(conn: Connection, workspace_id: int, filters: Filters | None = None) -> int:
    """Delete the workspace's captured messages that `filters` match (all without); how many."""
    filters = filters or Filters()
    c = captured_messages.c
    where = filters.where(workspace_id)
    if filters.by_parent:
        matching = select(c.id).outerjoin(deliveries, deliveries.c.id == c.delivery_id)
        where = [c.id.in_(matching.where(*where))]
    return conn.execute(delete(captured_messages).where(*where)).rowcount or 0


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
        "transactional_message_id": row.transactional_message_id,
        "campaign_id": row.campaign_id,
        "broadcast_id": row.broadcast_id,
        "newsletter_id": row.newsletter_id,
    }
