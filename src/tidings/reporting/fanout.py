"""What a recorded delivery metric sets off, in the same transaction.

- `bounced` (a hard bounce) and `spammed` put the recipient's address in
  `blocked_addresses`, which the delivery worker checks before each send,
  with the sending domain of the message when its payload still names one
  (the ESP suppression API lists them by it: `sending/esp.py`).
- Every enabled reporting webhook of the workspace that subscribed to the
  event gets a `webhook_posts` row with the body to post, in Customer.io's
  reporting-webhook format. The poster (`reporting/poster.py`) sends them
  after commit, in order per webhook.

The event is `<object type>_<metric>`: the delivery's channel gives the
object type (`sms` stays `sms`, `inbox` is reported as `in_app`), and our
`suppressed` is Customer.io's `dropped`. The event's data names the
delivery's parents it has (`event_common_data`): `campaign_id` or
`broadcast_id`, `action_id`, `parent_action_id`, `trigger_id`,
`newsletter_id`, `content_id` (integers), `journey_id` and
`trigger_event_id` (strings). Metrics with no reporting event
(`deferred`, `resubscribed`) and metrics of deliveries this server does not
know post nothing.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from tidings import clock
from tidings.db import raw
from tidings.db.schema import (
    blocked_addresses,
    deliveries,
    delivery_metrics,
    people,
    webhook_posts,
)
from tidings.providers import addresses
from tidings.reporting.webhooks import EVENTS

BLOCKING = frozenset({"bounced", "spammed"})
OBJECT_TYPES = {"inbox": "in_app"}
METRIC_NAMES = {"suppressed": "dropped"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_encode = msgspec.json.Encoder().encode


def after_metric(
    conn: Connection,
    workspace_id: int,
    delivery_id: str,
    metric: str,
    timestamp: int,
    extra: dict[str, Any],
    now: int,
    hooks: list[_Hook],
) -> None:
    """Block the address and queue webhook posts for a metric just recorded.

    `hooks`: the workspace's enabled webhooks (`enabled_webhooks`), which the
    caller reads once for all the metrics it records. Webhooks without
    `full_resolution` only hear of a delivery's first occurrence of a metric
    (the one just recorded is counted).
    """
    delivery = None
    if metric in BLOCKING:
        delivery = _delivery(conn, workspace_id, delivery_id)
        recipient = delivery.recipient if delivery is not None else extra.get("recipient")
        if isinstance(recipient, str) and recipient:
            domain = sending_domain(delivery.payload) if delivery is not None else None
            block(conn, workspace_id, recipient, metric, delivery_id, now, domain)
    if not hooks:
        return
    delivery = delivery or _delivery(conn, workspace_id, delivery_id)
    if delivery is None:
        return
    object_type = OBJECT_TYPES.get(delivery.channel, delivery.channel)
    reported = METRIC_NAMES.get(metric, metric)
    if f"{object_type}_{reported}" not in EVENTS:
        return
    hooks = [h for h in hooks if subscribed(h, object_type, reported)]
    if any(not h.full_resolution for h in hooks) and not _first(
        conn, workspace_id, delivery_id, metric
    ):
        hooks = [h for h in hooks if h.full_resolution]
    if not hooks:
        return
    body = event(conn, delivery, object_type, reported, timestamp, extra)
    for hook in hooks:
        data = dict(body["data"])
        if not hook.with_content or reported != "sent":
            data.pop("content", None)
        enqueue(conn, workspace_id, hook.id, {**body, "data": data}, now)


def block(
    conn: Connection,
    workspace_id: int,
    address: str,
    reason: str,
    delivery_id: str,
    now: int,
    domain: str | None = None,
) -> None:
    """Remember an address not to send to; the first reason recorded stays.

    A recipient written `Name <a@b.c>` is stored as `a@b.c`, the form the
    delivery worker looks up (`sending/suppression.py`)."""
    if "@" in address:
        address = addresses.parse(address)[1] or address
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(blocked_addresses)
        .values(
            workspace_id=workspace_id,
            address=address.strip().lower(),
            reason=reason,
            delivery_id=delivery_id,
            created_at=now,
            domain=domain,
        )
        .on_conflict_do_nothing()
    )


def sending_domain(payload: str | None) -> str | None:
    """The domain of an email payload's `from` address, lower-cased; None without one."""
    sender = _decode(payload).get("from")
    if not isinstance(sender, str) or "@" not in sender:
        return None
    return addresses.parse(sender)[1].rpartition("@")[2].strip().lower() or None


def _first(conn: Connection, workspace_id: int, delivery_id: str, metric: str) -> bool:
    """Whether the row just recorded is the delivery's only `metric` so far."""
    query = select(delivery_metrics.c.id).where(
        delivery_metrics.c.workspace_id == workspace_id,
        delivery_metrics.c.delivery_id == delivery_id,
        delivery_metrics.c.metric == metric,
    )
    return len(conn.execute(query.limit(2)).all()) == 1


def event(
    conn: Connection,
    delivery: Any,
    object_type: str,
    metric: str,
    timestamp: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The reporting-webhook body for one event (content included; dropped per webhook)."""
    data: dict[str, Any] = {"delivery_id": delivery.id, **person_data(conn, delivery.person_id)}
    if delivery.transactional_message_id is not None:
        data["transactional_message_id"] = delivery.transactional_message_id
    data.update(parents(delivery))
    payload = _decode(delivery.payload)
    if object_type == "push":
        device = {"device_id": delivery.recipient}
        if payload.get("platform") in ("ios", "android"):
            device["device_platform"] = payload["platform"]
        data["recipients"] = [device]
    else:
        data["recipient"] = delivery.recipient
    if object_type == "email":
        data["subject"] = delivery.subject or ""
    for key in ("href", "link_id", "synthetic"):
        if key in extra:
            data[key] = extra[key]
    failure = extra.get("reason") or delivery.failure_message
    if metric in ("bounced", "dropped", "failed", "attempted", "undeliverable"):
        data["failure_message"] = failure or metric
    content = _content(object_type, payload)
    if content is not None:
        data["content"] = content
    return {
        "event_id": event_id(),
        "object_type": object_type,
        "metric": metric,
        "timestamp": timestamp,
        "data": data,
    }


PARENT_IDS = (
    "campaign_id",
    "broadcast_id",
    "newsletter_id",
    "content_id",
    "action_id",
    "parent_action_id",
    "trigger_id",
)


def parents(delivery: Any) -> dict[str, Any]:
    """The parents a campaign's, broadcast's or newsletter's delivery has."""
    found = {name: getattr(delivery, name) for name in PARENT_IDS}
    if delivery.newsletter_id is None:
        found["content_id"] = None  # a transactional send's content is not a variant
    found.update(journey_id=delivery.journey_id, trigger_event_id=delivery.trigger_event_id)
    for name in ("journey_id", "trigger_event_id"):
        if found[name] is not None:
            found[name] = str(found[name])
    return {name: value for name, value in found.items() if value is not None}


def event_id() -> str:
    """A ULID: 48 bits of milliseconds and 80 random bits, in Crockford base32."""
    value = (int(clock.current().now() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _delivery(conn: Connection, workspace_id: int, delivery_id: str) -> Any:
    return conn.execute(
        select(deliveries).where(
            deliveries.c.workspace_id == workspace_id, deliveries.c.id == delivery_id
        )
    ).first()


def person_data(conn: Connection, person_id: int | None) -> dict[str, Any]:
    row = None
    if person_id is not None:
        row = conn.execute(
            select(people.c.customer_id, people.c.email, people.c.cio_id).where(
                people.c.id == person_id
            )
        ).first()
    if row is None:
        return {"customer_id": "", "identifiers": {"id": None, "email": None, "cio_id": None}}
    return {
        "customer_id": row.customer_id or "",
        "identifiers": {"id": row.customer_id, "email": row.email, "cio_id": row.cio_id},
    }


class _Hook(NamedTuple):
    id: int
    events: str
    full_resolution: int
    with_content: int


_WEBHOOKS = (
    "SELECT id, events, full_resolution, with_content FROM reporting_webhooks"
    " WHERE workspace_id = {0} AND disabled = 0"
)


def enabled_webhooks(conn: Connection, workspace_id: int) -> list[_Hook]:
    """The workspace's enabled webhooks (on the driver: asked for every metric)."""
    return [_Hook(*row) for row in raw.select_in(conn, _WEBHOOKS, [workspace_id], [])]


def subscribed(hook: Any, object_type: str, metric: str) -> bool:
    events = msgspec.json.decode(hook.events)
    return f"{object_type}_{metric}" in events or metric in events


def _decode(payload: str | None) -> dict[str, Any]:
    if not payload:
        return {}
    try:
        decoded = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _content(object_type: str, payload: dict[str, Any]) -> str | None:
    """The message body for `with_content` webhooks, if the delivery still keeps it."""
    if object_type == "email":
        return payload.get("html") or payload.get("text")
    if object_type in ("sms", "whatsapp"):
        return payload.get("body")
    if object_type in ("push", "in_app") and payload:
        return _encode(payload).decode()
    return None


def enqueue(
    conn: Connection, workspace_id: int, webhook_id: int, body: dict[str, Any], now: int
) -> None:
    conn.execute(
        webhook_posts.insert().values(
            workspace_id=workspace_id,
            webhook_id=webhook_id,
            body=_encode(body).decode(),
            state="queued",
            attempts=0,
            due_at=0,
            created_at=now,
        )
    )
