"""Deliveries as the web UI shows them: the list, one delivery's page, its HTML body.

The list is the App API's `/v1/messages` (`messages.list_messages`: newest
first, keyset-paged on (created_at, id), the last 6 months) with each
message's `state`. A status filter is either a state the row is in
(`STATES`: where the send queue has it) or a metric the message reached
(`METRICS`: delivered, opened, bounced, ... whenever reported).

Bounded work: the state, template and campaign filters read indexes; a
metric or channel filter is checked row by row, so it looks at the
workspace's deliveries created since the `SCAN_ROWS`-th one from where the
page starts (all of that second's, so a cursor never splits a second). A
page short for that reason says so (`window_ended`) and its `next` goes on
from the window's edge, as the activity log does (`activity/browse.py`).

A delivery's page adds what the App API does not show: the state, the
provider's answer (its message id, the failure reason), the attempts, the
rendered message (`payload`: emptied after sending when the send asked for
no retention, and not yet composed for a campaign message still queued), the
whole metric history with each metric's data, and the names of its
template, campaign and action.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, or_, select

from tidings.db.schema import (
    campaign_actions,
    campaigns,
    deliveries,
    delivery_metrics,
    transactional_messages,
)
from tidings.errors import not_found
from tidings.providers import base
from tidings.reporting import messages

STATES = ("queued", "sending", "sent", "failed", "suppressed", "draft")
METRICS = ("delivered", "opened", "clicked", "converted", "bounced", "spammed", "unsubscribed")
MAX_HISTORY = 200
SCAN_ROWS = 5000


def status_query(q: messages.MessageQuery, status: str) -> messages.MessageQuery:
    """`q` narrowed to a status of `STATES` or `METRICS` (anything else: unchanged)."""
    if status == "draft":
        return replace(q, drafts=True)
    if status in STATES:
        return replace(q, state=status)
    if status in METRICS:
        return replace(q, metric=status)
    return q


def browse(
    conn: Connection, workspace_id: int, q: messages.MessageQuery, now: int
) -> dict[str, Any]:
    """`messages.list_messages`' page, each message with its `state`, and
    `window_ended` (see the module doc)."""
    edge = _window_edge(conn, workspace_id, q, now) if q.metric or q.channels else None
    if edge is not None:
        q = replace(q, start_ts=edge)
    found = messages.list_messages(conn, workspace_id, q, now)
    found["window_ended"] = edge is not None and not found["next"]
    if edge is not None and not found["next"]:
        found["next"] = messages.cursor_before(edge)
    ids = [m["id"] for m in found["messages"]]
    # By id alone (the listing kept to the workspace): SQLite would otherwise take the
    # (workspace_id, created_at) index and walk the workspace's deliveries.
    rows = conn.execute(select(deliveries.c.id, deliveries.c.state).where(deliveries.c.id.in_(ids)))
    states = {row.id: row.state for row in rows}
    for message in found["messages"]:
        message["state"] = states.get(message["id"], "")
    return found


def _window_edge(
    conn: Connection, workspace_id: int, q: messages.MessageQuery, now: int
) -> int | None:
    """The creation time of the workspace's `SCAN_ROWS`-th delivery from where the page
    starts; None when fewer are left."""
    c = deliveries.c
    start = q.start_ts if q.start_ts is not None else now - messages.DEFAULT_WINDOW
    where = [c.workspace_id == workspace_id, c.created_at >= start]
    if q.after is not None:
        created, last_id = q.after
        where.append(c.created_at <= created)
        where.append(or_(c.created_at < created, and_(c.created_at == created, c.id < last_id)))
    found = conn.execute(
        select(c.created_at)
        .where(*where)
        .order_by(c.created_at.desc(), c.id.desc())
        .offset(SCAN_ROWS - 1)
        .limit(1)
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def sources(conn: Connection, workspace_id: int) -> dict[str, list[tuple[int, str]]]:
    """What the filters offer: the transactional messages, campaigns (with
    broadcasts) and newsletters of the workspace, as (id, name)."""
    templates = conn.execute(
        select(transactional_messages.c.id, transactional_messages.c.name)
        .where(transactional_messages.c.workspace_id == workspace_id)
        .order_by(transactional_messages.c.id)
    ).all()
    parents = conn.execute(
        select(campaigns.c.id, campaigns.c.kind, campaigns.c.name)
        .where(campaigns.c.workspace_id == workspace_id)
        .order_by(campaigns.c.id)
    ).all()
    return {
        "templates": [(row.id, row.name) for row in templates],
        "campaigns": [(row.id, row.name) for row in parents if row.kind != "newsletter"],
        "newsletters": [(row.id, row.name) for row in parents if row.kind == "newsletter"],
    }


def detail(conn: Connection, workspace_id: int, delivery_id: str) -> dict[str, Any]:
    """Everything the delivery's page shows; a 404 for another workspace's delivery."""
    shown = messages.get_message(conn, workspace_id, delivery_id)["message"]
    row = conn.execute(
        select(deliveries).where(
            deliveries.c.workspace_id == workspace_id, deliveries.c.id == delivery_id
        )
    ).one()
    return {
        "message": shown,
        "state": row.state,
        "channel": row.channel,
        "recipient": row.recipient,
        "source": row.source,
        "attempts": row.attempts,
        "sent_at": row.sent_at,
        "due_at": row.due_at,
        "expires_at": row.expires_at,
        "updated_at": row.updated_at,
        "unsubscribed_at": row.unsubscribed_at,
        "provider_message_id": row.provider_message_id,
        "failure_message": row.failure_message,
        "rendered": _rendered(row.payload),
        "history": _history(conn, workspace_id, delivery_id),
        "names": _names(conn, workspace_id, row),
    }


def html_body(conn: Connection, workspace_id: int, delivery_id: str) -> str:
    """The HTML part of the delivery's email as rendered ("" when there is none)."""
    payload = conn.execute(
        select(deliveries.c.payload).where(
            deliveries.c.workspace_id == workspace_id, deliveries.c.id == delivery_id
        )
    ).scalar_one_or_none()
    rendered = _rendered(payload)
    if rendered is None or rendered["kind"] != "email":
        raise not_found("this delivery has no HTML body")
    return str(rendered["fields"].get("html") or "")


def _rendered(payload: str | None) -> dict[str, Any] | None:
    """The stored message as `{"kind": channel, "fields": {...}}`; None when not stored."""
    if not payload:
        return None
    try:
        message = base.decode(payload)
    except msgspec.DecodeError:
        return {"kind": "unknown", "fields": {"payload": payload}}
    fields = msgspec.to_builtins(message)
    kind = fields.pop("type", type(message).__name__.lower())
    fields.pop("attachments", None)
    names = [a.filename for a in message.attachments] if isinstance(message, base.Email) else []
    if names:
        fields["attachments"] = ", ".join(names)
    return {"kind": kind, "fields": fields}


def _history(conn: Connection, workspace_id: int, delivery_id: str) -> list[dict[str, Any]]:
    """Every metric recorded for the delivery, oldest first, with its data."""
    m = delivery_metrics.c
    rows = conn.execute(
        select(m.metric, m.timestamp, m.data)
        .where(m.workspace_id == workspace_id, m.delivery_id == delivery_id)
        .order_by(m.timestamp, m.id)
        .limit(MAX_HISTORY)
    ).all()
    return [
        {"metric": row.metric, "timestamp": row.timestamp, "data": _data(row.data)} for row in rows
    ]


def _data(text: str) -> dict[str, Any]:
    try:
        found = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {"data": text}
    return found if isinstance(found, dict) else {"data": found}


def _names(conn: Connection, workspace_id: int, row: Any) -> dict[str, str]:
    """The names of the delivery's template, campaign (or broadcast, newsletter) and action."""
    names: dict[str, str] = {}
    if row.transactional_message_id is not None:
        template = row.transactional_message_id
        names["template"] = _name(conn, workspace_id, transactional_messages, template)
    parent = row.campaign_id or row.broadcast_id or row.newsletter_id
    if parent is not None:
        names["campaign"] = _name(conn, workspace_id, campaigns, parent)
    if row.action_id is not None:
        names["action"] = _name(conn, workspace_id, campaign_actions, row.action_id)
    return names


def _name(conn: Connection, workspace_id: int, table: Any, row_id: int) -> str:
    where = (table.c.workspace_id == workspace_id, table.c.id == row_id)
    found = conn.execute(select(table.c.name).where(*where)).scalar_one_or_none()
    return str(found) if found is not None else ""
