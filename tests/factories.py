"""Rows tests need that no API creates yet, and reads of tables no API shows."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import insert, select

from tidings.db.schema import (
    blocked_addresses,
    deliveries,
    delivery_metrics,
    ingest_refusals,
    webhook_posts,
)
from tidings.ingest_log import kinds, records
from tidings.people.identifiers import classify


def add_delivery(
    conn, workspace_id: int, delivery_id: str, person_pk: int | None, **columns: Any
) -> None:
    """A sent email delivery, as messaging will record one; `columns` override."""
    values: dict[str, Any] = {
        "id": delivery_id,
        "workspace_id": workspace_id,
        "person_id": person_pk,
        "channel": "email",
        "recipient": "a@example.com",
        "created_at": 1_700_000_000,
    }
    conn.execute(insert(deliveries).values({**values, **columns}))


def add_ingest_refusal(
    conn, workspace_id: int, person: str, received_at: int, seq: int = 1, **columns: Any
) -> dict[str, Any]:
    """A Track v1 identify refused when the ingest log applied it, stored as
    `ingest_log.apply` stores one (the message as published); `columns` override."""
    record = kinds.identify_v1(workspace_id, classify(person), {"plan": "x"}, received_at)
    values: dict[str, Any] = {
        "workspace_id": workspace_id,
        "stream": "TIDINGS_INGEST",
        "partition": 0,
        "seq": seq,
        "kind": record.kind,
        "received_at": received_at,
        "status": 409,
        "code": "conflict",
        "message": f"{person} conflicts with another person",
        "record": records.encode([record]).decode(),
    }
    values.update(columns)
    conn.execute(insert(ingest_refusals).values(values))
    return values


def recorded_metrics(conn, workspace_id: int) -> list[tuple]:
    """(delivery_id, metric, timestamp, data) of the workspace, oldest first."""
    rows = conn.execute(
        select(
            delivery_metrics.c.delivery_id,
            delivery_metrics.c.metric,
            delivery_metrics.c.timestamp,
            delivery_metrics.c.data,
        )
        .where(delivery_metrics.c.workspace_id == workspace_id)
        .order_by(delivery_metrics.c.id)
    )
    return [(d, m, t, msgspec.json.decode(data)) for d, m, t, data in rows]


def webhook_bodies(conn, workspace_id: int) -> list[tuple[int, str, dict]]:
    """(webhook id, state, decoded body) of the workspace's webhook posts, oldest first."""
    rows = conn.execute(
        select(webhook_posts.c.webhook_id, webhook_posts.c.state, webhook_posts.c.body)
        .where(webhook_posts.c.workspace_id == workspace_id)
        .order_by(webhook_posts.c.id)
    )
    return [(w, s, msgspec.json.decode(b)) for w, s, b in rows]


def blocked(conn, workspace_id: int) -> list[tuple[str, str, str | None]]:
    """(address, reason, delivery_id) blocked in the workspace."""
    rows = conn.execute(
        select(
            blocked_addresses.c.address, blocked_addresses.c.reason, blocked_addresses.c.delivery_id
        )
        .where(blocked_addresses.c.workspace_id == workspace_id)
        .order_by(blocked_addresses.c.address)
    )
    return [tuple(row) for row in rows]


def push_to_a_new_device(person: str, trigger: str) -> dict[str, Any]:
    """A push send body with a template to auto-create and a `custom_device` to store."""
    return {
        "identifiers": {"id": person},
        "transactional_message_id": trigger,
        "auto_create": True,
        "title": "Hi {{ customer.id }}",
        "message": "m",
        "to": "tok-1",
        "custom_device": {"token": "tok-1", "platform": "android"},
    }
