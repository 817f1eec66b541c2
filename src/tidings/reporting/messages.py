"""What the App API shows of deliveries: `/v1/messages`, a person's messages,
and a transactional message's metrics (BEHAVIOUR.md 5.7).

A message is a `deliveries` row; its `metrics` map each metric it reached to
the first time it did, from `delivery_metrics`. Listings are newest first,
keyset-paged on (created_at, id) with an opaque cursor, and cover the last 6
months unless `start_ts` says otherwise.

A message shows its parents (CAMPAIGNS.md 7.3): `campaign_id` or
`broadcast_id`, `action_id`, `parent_action_id`, `newsletter_id`,
`content_id`, `trigger_event_id` and `journey_id` (strings, as reporting
webhooks give them), `trigger_id`. The filters of the same names pick them;
campaigns and broadcasts share one id space, so `campaign_id` also picks a
broadcast's messages, and `trigger_id` (a broadcast run) needs `campaign_id`
or `broadcast_id`. `template_id` matches nothing: no message here has a
`msg_template_id`.

Channel names follow Customer.io's message `type`: SMS is `twilio` (`sms` is
accepted as a filter too); push, email, in_app, whatsapp keep their names.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from tidings.db.schema import deliveries, delivery_metrics, people
from tidings.errors import bad_request, not_found
from tidings.numbers import is_digits
from tidings.paging import parse_limit
from tidings.people import read as people_read

SHOWN_METRICS = frozenset(
    [
        "drafted",
        "attempted",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "bounced",
        "spammed",
        "failed",
        "suppressed",
        "dropped",
        "undeliverable",
        "unsubscribed",
    ]
)
TYPES = {"sms": "twilio", "inbox": "in_app"}
CHANNELS_OF_TYPE = {"twilio": ("sms",), "sms": ("sms",), "in_app": ("in_app", "inbox")}
LIMIT, MAX_LIMIT = 50, 1000
DEFAULT_WINDOW = 183 * 86_400  # 6 months
PARENTS = ("campaign_id", "broadcast_id", "newsletter_id", "action_id", "trigger_id")
# Customer.io's message types (webhook and slack are never sent here: they match nothing).
FILTER_TYPES = ("email", "push", "twilio", "sms", "in_app", "inbox", "whatsapp", "webhook", "slack")
# What `parse_query` reads.
QUERY = (
    "start",
    "limit",
    "type",
    "metric",
    "drafts",
    "transactional_id",
    "content_id",
    "start_ts",
    "end_ts",
    "template_id",
    *PARENTS,
)


@dataclass(frozen=True)
class MessageQuery:
    limit: int = LIMIT
    after: tuple[int, str] | None = None
    channels: tuple[str, ...] | None = None
    metric: str | None = None
    drafts: bool = False
    transactional_id: int | None = None
    content_id: int | None = None
    start_ts: int | None = None
    end_ts: int | None = None
    campaign_id: int | None = None
    broadcast_id: int | None = None
    newsletter_id: int | None = None
    action_id: int | None = None
    trigger_id: int | None = None
    nothing: bool = False  # a template filter: no delivery matches
    state: str | None = None  # the web UI's status filter: a `deliveries.state`


def parse_query(query: dict[str, str]) -> MessageQuery:
    start = query.get("start", "")
    kind = _choice(query, "type", FILTER_TYPES)
    parents = {name: _int(query, name) for name in PARENTS}
    unowned = parents["campaign_id"] is None and parents["broadcast_id"] is None
    if parents["trigger_id"] is not None and unowned:
        raise bad_request("trigger_id needs campaign_id or broadcast_id", "trigger_id")
    return MessageQuery(
        limit=parse_limit(query.get("limit", ""), LIMIT, MAX_LIMIT),
        after=_decode_cursor(start) if start else None,
        channels=CHANNELS_OF_TYPE.get(kind, (kind,)) if kind else None,
        metric=_choice(query, "metric", sorted(SHOWN_METRICS)) or None,
        drafts=_choice(query, "drafts", ("true", "false")) == "true",
        transactional_id=_int(query, "transactional_id"),
        content_id=_int(query, "content_id"),
        start_ts=_int(query, "start_ts"),
        end_ts=_int(query, "end_ts"),
        campaign_id=parents["campaign_id"],
        broadcast_id=parents["broadcast_id"],
        newsletter_id=parents["newsletter_id"],
        action_id=parents["action_id"],
        trigger_id=parents["trigger_id"],
        nothing=bool(query.get("template_id")),
    )


def _choice(query: dict[str, str], name: str, allowed: Sequence[str]) -> str:
    """The parameter's value, "" when absent; a 400 listing `allowed` otherwise."""
    value = query.get(name, "")
    if value and value not in allowed:
        raise bad_request(f"{name} must be one of: {', '.join(allowed)} (not {value!r})", name)
    return value


def _int(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name, "")
    if raw == "":
        return None
    if not is_digits(raw.removeprefix("-")) or len(raw) > 13:
        raise bad_request(f"{name} must be an integer of at most 12 digits", name)
    return int(raw)


def list_messages(
    conn: Connection, workspace_id: int, q: MessageQuery, now: int, person_id: int | None = None
) -> dict[str, Any]:
    if q.nothing:
        return {"messages": [], "next": ""}
    where = [deliveries.c.workspace_id == workspace_id, *_filters(q, now)]
    if person_id is not None:
        where.append(deliveries.c.person_id == person_id)
    if q.after is not None:
        created, last_id = q.after
        where.append(
            or_(
                deliveries.c.created_at < created,
                and_(deliveries.c.created_at == created, deliveries.c.id < last_id),
            )
        )
    rows = list(
        conn.execute(
            _shown()
            .where(*where)
            .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
            .limit(q.limit + 1)
        )
    )
    page = rows[: q.limit]
    following = _encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > q.limit else ""
    return {"messages": _objects(conn, workspace_id, page), "next": following}


def _filters(q: MessageQuery, now: int) -> list[Any]:
    c = deliveries.c
    start = q.start_ts if q.start_ts is not None else now - DEFAULT_WINDOW
    found = [c.created_at >= start, (c.state == "draft") if q.drafts else (c.state != "draft")]
    if q.end_ts is not None:
        found.append(c.created_at <= q.end_ts)
    if q.state is not None:
        found.append(c.state == q.state)
    if q.channels is not None:
        found.append(c.channel.in_(q.channels))
    if q.transactional_id is not None:
        found.append(c.transactional_message_id == q.transactional_id)
    if q.content_id is not None:
        found.append(c.content_id == q.content_id)
    if q.campaign_id is not None:
        found.append(or_(c.campaign_id == q.campaign_id, c.broadcast_id == q.campaign_id))
    for column, value in (
        (c.broadcast_id, q.broadcast_id),
        (c.newsletter_id, q.newsletter_id),
        (c.action_id, q.action_id),
        (c.trigger_id, q.trigger_id),
    ):
        if value is not None:
            found.append(column == value)
    if q.metric is not None:
        found.append(
            exists().where(
                delivery_metrics.c.workspace_id == c.workspace_id,
                delivery_metrics.c.delivery_id == c.id,
                delivery_metrics.c.metric == q.metric,
            )
        )
    return found


def get_message(conn: Connection, workspace_id: int, delivery_id: str) -> dict[str, Any]:
    row = conn.execute(
        _shown().where(deliveries.c.workspace_id == workspace_id, deliveries.c.id == delivery_id)
    ).first()
    if row is None:
        raise not_found("message not found")
    return {"message": _objects(conn, workspace_id, [row])[0]}


def messages_of(
    conn: Connection, workspace_id: int, raw: str, id_type: str, q: MessageQuery, now: int
) -> dict[str, Any]:
    person = people_read.lookup(conn, workspace_id, raw, id_type)
    return list_messages(conn, workspace_id, q, now, person.pk)


def _shown() -> Any:
    return select(
        deliveries.c.id,
        deliveries.c.channel,
        deliveries.c.recipient,
        deliveries.c.subject,
        deliveries.c.created_at,
        deliveries.c.failure_message,
        deliveries.c.content_id,
        deliveries.c.transactional_message_id,
        deliveries.c.campaign_id,
        deliveries.c.broadcast_id,
        deliveries.c.newsletter_id,
        deliveries.c.action_id,
        deliveries.c.parent_action_id,
        deliveries.c.trigger_id,
        deliveries.c.journey_id,
        deliveries.c.trigger_event_id,
        people.c.customer_id,
        people.c.email,
        people.c.cio_id,
    ).select_from(deliveries.outerjoin(people, people.c.id == deliveries.c.person_id))


def first_times(conn: Connection, workspace_id: int, ids: list[str]) -> dict[str, dict[str, int]]:
    """delivery id -> {metric: first time reached}, for the metrics a message shows."""
    found: dict[str, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return found
    rows = conn.execute(
        select(
            delivery_metrics.c.delivery_id,
            delivery_metrics.c.metric,
            func.min(delivery_metrics.c.timestamp),
        )
        .where(
            delivery_metrics.c.workspace_id == workspace_id,
            delivery_metrics.c.delivery_id.in_(ids),
            delivery_metrics.c.metric.in_(SHOWN_METRICS),
        )
        .group_by(delivery_metrics.c.delivery_id, delivery_metrics.c.metric)
    )
    for delivery_id, metric, first in rows:
        found[delivery_id][metric] = int(first)
    return found


def _objects(conn: Connection, workspace_id: int, rows: list[Any]) -> list[dict[str, Any]]:
    metrics = first_times(conn, workspace_id, [row.id for row in rows])
    return [_message(row, metrics[row.id]) for row in rows]


def _message(row: Any, metrics: dict[str, int]) -> dict[str, Any]:
    known = row.cio_id is not None
    return {
        "id": row.id,
        "deduplicate_id": f"{row.id}:{row.created_at}",
        "msg_template_id": None,
        "action_id": row.action_id,
        "parent_action_id": row.parent_action_id,
        "customer_id": row.customer_id,
        "customer_identifiers": {"id": row.customer_id, "email": row.email, "cio_id": row.cio_id}
        if known
        else None,
        "recipient": row.recipient,
        "subject": row.subject,
        "metrics": metrics,
        "created": row.created_at,
        "failure_message": row.failure_message,
        "newsletter_id": row.newsletter_id,
        "content_id": row.content_id,
        "campaign_id": row.campaign_id,
        "broadcast_id": row.broadcast_id,
        "trigger_event_id": _text(row.trigger_event_id),
        "trigger_id": row.trigger_id,
        "journey_id": _text(row.journey_id),
        "transactional_message_id": row.transactional_message_id,
        "type": TYPES.get(row.channel, row.channel),
        "forgotten": False,
    }


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def cursor_before(created_at: int) -> str:
    """A cursor for the messages created before `created_at` (none of that second)."""
    return _encode_cursor(created_at, "")


def _encode_cursor(created_at: int, delivery_id: str) -> str:
    text = f"m1:{created_at}:{delivery_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, created, delivery_id = raw.split(":", 2)
        if prefix != "m1" or not is_digits(created):
            raise ValueError(raw)
        return int(created), delivery_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request("start is not a cursor this server issued", "start") from None
