"""Messages per day for the UI's dashboard: the workspace's, or one source's.

A source is "" (every message of the workspace), `transactional:<id>`,
`campaign:<id>` (a campaign or a broadcast) or `newsletter:<id>`. A message
counts once per metric, on the day it first reached it; days are cut in UTC.

Every message: read from `delivery_days`, the count per workspace, day and
metric kept when a metric is recorded (`reporting/metrics.py`): 30 days are
at most 150 rows of a primary-key range, however busy the workspace.

One source: counted as the campaign reports count (`campaigns/metrics.py`),
over the source's messages created in the window, through its own index: a
message created before the window and opened in it is not counted there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from tidings.campaigns import metrics
from tidings.db.schema import deliveries, delivery_days, transactional_messages
from tidings.errors import bad_request, not_found
from tidings.numbers import path_id
from tidings.reporting import series

DAYS = 30
SHOWN = ("sent", "delivered", "opened", "clicked", "bounced")
KINDS = ("transactional", "campaign", "newsletter")


def message_days(conn: Connection, workspace_id: int, source: str, now: int) -> dict[str, Any]:
    """`{"starts": [day start, ...], "series": {metric: [count, ...]}}` of the last
    `DAYS` days (the last one holding `now`), for `SHOWN`; 400 for a source that does
    not parse, 404 for one this workspace does not have."""
    window = series.last("days", DAYS, now)
    if not source:
        return {"starts": list(window.starts), "series": _every_message(conn, workspace_id, window)}
    where = [
        deliveries.c.workspace_id == workspace_id,
        deliveries.c.created_at >= window.starts[0],
        *_scope(conn, workspace_id, source),
    ]
    found = metrics.series_of(conn, where, window)
    return {"starts": list(window.starts), "series": {name: found[name] for name in SHOWN}}


def _every_message(
    conn: Connection, workspace_id: int, window: series.Periods
) -> dict[str, list[int]]:
    found = {name: window.zeros() for name in SHOWN}
    rows = conn.execute(
        select(delivery_days.c.day, delivery_days.c.metric, delivery_days.c.count).where(
            delivery_days.c.workspace_id == workspace_id,
            delivery_days.c.day >= window.starts[0],
            delivery_days.c.metric.in_(SHOWN),
        )
    )
    for day, metric, count in rows:
        at = window.index(int(day))
        if at is not None:
            found[metric][at] += int(count)
    return found


def _scope(conn: Connection, workspace_id: int, source: str) -> list[Any]:
    kind, _, raw_id = source.partition(":")
    if kind not in KINDS or not raw_id:
        raise bad_request("messages must be transactional:<id>, campaign:<id> or newsletter:<id>")
    if kind != "transactional":
        return metrics.scope(conn, workspace_id, kind, raw_id)
    message_id = path_id(raw_id, "transactional message")
    found = conn.execute(
        select(transactional_messages.c.id).where(
            transactional_messages.c.workspace_id == workspace_id,
            transactional_messages.c.id == message_id,
        )
    ).first()
    if found is None:
        raise not_found("transactional message not found")
    return [deliveries.c.transactional_message_id == message_id]
