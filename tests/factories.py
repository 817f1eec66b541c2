"""Rows tests need that no API creates yet, and reads of tables no API shows."""

from __future__ import annotations

import msgspec
from sqlalchemy import insert, select

from tidings.db.schema import deliveries, delivery_metrics


def add_delivery(conn, workspace_id: int, delivery_id: str, person_pk: int | None) -> None:
    """A sent email delivery, as messaging will record one."""
    conn.execute(
        insert(deliveries).values(
            id=delivery_id,
            workspace_id=workspace_id,
            person_id=person_pk,
            channel="email",
            recipient="a@example.com",
            created_at=1_700_000_000,
        )
    )


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
