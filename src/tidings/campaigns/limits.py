"""A workspace's limits on campaign messages: a send rate and quiet hours.

Declared with `tidings apply` (`limits:`), stored in `workspace_limits`, and
read where they apply: quiet hours by the journey runner before each message
(`journeys.py`), the send rate by the delivery worker (`sending/rates.py`).
A campaign's own `send_rate` and `quiet_hours` sit in its definition; the
campaign's quiet hours replace the workspace's, while both send rates hold.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings.campaigns.definitions import parse_quiet_hours, parse_send_rate
from tidings.db.schema import workspace_limits
from tidings.errors import bad_request

_encode = msgspec.json.Encoder(order="sorted").encode


def parse(value: Any, path: str = "limits") -> dict[str, Any]:
    """`{send_rate?, quiet_hours?}`, normalised; an empty mapping removes both."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{path}: must be a mapping", path)
    for key in value:
        if key not in ("send_rate", "quiet_hours"):
            raise bad_request(f"{path}.{key}: unknown property {key!r}", f"{path}.{key}")
    found = {
        "send_rate": parse_send_rate(value.get("send_rate"), f"{path}.send_rate"),
        "quiet_hours": parse_quiet_hours(value.get("quiet_hours"), f"{path}.quiet_hours"),
    }
    return {k: v for k, v in found.items() if v is not None}


def current(conn: Connection, workspace_id: int) -> dict[str, Any]:
    text = conn.execute(
        select(workspace_limits.c.settings).where(workspace_limits.c.workspace_id == workspace_id)
    ).scalar()
    return dict(msgspec.json.decode(text)) if text else {}


def put(conn: Connection, workspace_id: int, settings: dict[str, Any], now: int) -> None:
    """Replace the workspace's limits (none: remove them)."""
    c = workspace_limits.c
    if not settings:
        conn.execute(delete(workspace_limits).where(c.workspace_id == workspace_id))
        return
    text = _encode(settings).decode()
    changed = conn.execute(
        update(workspace_limits)
        .where(c.workspace_id == workspace_id)
        .values(settings=text, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(
            insert(workspace_limits).values(
                workspace_id=workspace_id, settings=text, updated_at=now
            )
        )


def quiet_hours(conn: Connection, workspace_id: int) -> dict[str, Any] | None:
    found = current(conn, workspace_id).get("quiet_hours")
    return dict(found) if found else None
