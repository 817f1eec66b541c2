"""`GET /v1/workspaces`: the workspaces an App API key may see, with usage counts.

An App API key here belongs to one workspace, so the list holds that one.
`messages_sent` counts the messages sent (any channel) since the start of the
current calendar month in UTC, standing in for Customer.io's billing period;
`billable_messages_sent` the emails among them. `object_types` counts the
types some object has (`objects.find.object_types`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from tidings.db.schema import deliveries, objects, people, workspaces


def visible_to_key(conn: Connection, workspace_id: int, now: int) -> dict[str, Any]:
    """`{"workspaces": [{id, name, messages_sent, billable_messages_sent, people,
    object_types, objects}]}` for the key's own workspace."""
    name = conn.execute(
        select(workspaces.c.name).where(workspaces.c.id == workspace_id)
    ).scalar_one()
    since = _month_start(now)
    sent = select(func.count()).where(
        deliveries.c.workspace_id == workspace_id,
        deliveries.c.created_at >= since,
        deliveries.c.sent_at.is_not(None),
    )
    in_objects = objects.c.workspace_id == workspace_id
    return {
        "workspaces": [
            {
                "id": workspace_id,
                "name": name,
                "messages_sent": conn.execute(sent).scalar_one(),
                "billable_messages_sent": conn.execute(
                    sent.where(deliveries.c.channel == "email")
                ).scalar_one(),
                "people": conn.execute(
                    select(func.count()).where(people.c.workspace_id == workspace_id)
                ).scalar_one(),
                "object_types": conn.execute(
                    select(func.count(func.distinct(objects.c.type_id))).where(in_objects)
                ).scalar_one(),
                "objects": conn.execute(select(func.count()).where(in_objects)).scalar_one(),
            }
        ]
    }


def _month_start(now: int) -> int:
    day = datetime.fromtimestamp(now, UTC)
    return int(day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp())
