"""A transactional message's reports: `GET /v1/transactional/{id}/metrics`,
`.../metrics/links` and `.../messages`.

`/metrics` counts per metric over time.

Answers `{"metric": {"series": {"<metric>": [count, ...]}}}`, oldest period
first, the last one being the current (partial) period, as Customer.io's
version-1 metrics do. A delivery counts once per metric, in the period it
first reached it; `created` counts deliveries by creation time. `period` is
hours, days (the default), weeks or months; `steps` defaults to, and is
capped at, 24 hours, 45 days, 12 weeks or 121 months (12 by default), and is
at least 2 (0 means the maximum). Periods are cut in UTC; Customer.io cuts
them in US Eastern time.

`/metrics/links` counts each tracked link's clicks over the same periods
(`reporting/link_clicks.py`; `unique` counts each person once per link).
`/messages` lists the message's deliveries as `GET /v1/messages` shows them,
with its filters and paging (`reporting/messages.py`). A message of another
workspace is a 404, as an unknown one is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, func, select

from tidings.db.schema import deliveries, delivery_metrics, transactional_messages
from tidings.errors import bad_request, not_found
from tidings.numbers import is_digits, path_id
from tidings.reporting import link_clicks, messages
from tidings.reporting import series as periods

PERIODS = {"hours": (24, 24), "days": (45, 45), "weeks": (12, 12), "months": (12, 121)}
SERIES = [
    "attempted",
    "bounced",
    "clicked",
    "converted",
    "created",
    "delivered",
    "drafted",
    "dropped",
    "failed",
    "opened",
    "sent",
    "spammed",
    "suppressed",
    "undeliverable",
    "unsubscribed",
]


WINDOW_QUERY = ("period", "steps")  # what `parse_window` reads


def parse_window(query: dict[str, str]) -> tuple[str, int]:
    period = query.get("period") or "days"
    if period not in PERIODS:
        raise bad_request("period must be one of hours, days, weeks, months", "period")
    default, maximum = PERIODS[period]
    raw = query.get("steps", "")
    if raw and not is_digits(raw):
        raise bad_request("steps must be a non-negative integer", "steps")
    steps = default if raw == "" else int(raw[:6])
    steps = maximum if steps == 0 else min(max(steps, 2), maximum)
    return period, steps


def transactional_metrics(
    conn: Connection, workspace_id: int, raw_id: str, period: str, steps: int, now: int
) -> dict[str, Any]:
    message_id = _message_id(conn, workspace_id, raw_id)
    window = periods.last(period, steps, now, open_end=True)
    series = {name: window.zeros() for name in SERIES}
    mine = (deliveries.c.workspace_id == workspace_id) & (
        deliveries.c.transactional_message_id == message_id
    )
    for (created,) in conn.execute(select(deliveries.c.created_at).where(mine)):
        window.count(series["created"], created)
    firsts = (
        select(delivery_metrics.c.metric, func.min(delivery_metrics.c.timestamp))
        .select_from(
            delivery_metrics.join(
                deliveries,
                (deliveries.c.id == delivery_metrics.c.delivery_id)
                & (deliveries.c.workspace_id == delivery_metrics.c.workspace_id),
            )
        )
        .where(mine, delivery_metrics.c.metric.in_(SERIES))
        .group_by(delivery_metrics.c.delivery_id, delivery_metrics.c.metric)
    )
    for metric, first in conn.execute(firsts):
        window.count(series[metric], int(first))
    return {"metric": {"series": series}}


def transactional_links(
    conn: Connection,
    workspace_id: int,
    raw_id: str,
    period: str,
    steps: int,
    unique: bool,
    now: int,
) -> dict[str, Any]:
    """`{"links": [...]}`: the message's link clicks per period, most clicked first."""
    message_id = _message_id(conn, workspace_id, raw_id)
    window = periods.last(period, steps, now, open_end=True)
    mine = [
        deliveries.c.workspace_id == workspace_id,
        deliveries.c.transactional_message_id == message_id,
    ]
    return link_clicks.link_report(conn, mine, window, unique)


def transactional_deliveries(
    conn: Connection, workspace_id: int, raw_id: str, query: messages.MessageQuery, now: int
) -> dict[str, Any]:
    """`{"messages": [...], "next": ...}`: the message's deliveries, newest first."""
    message_id = _message_id(conn, workspace_id, raw_id)
    query = replace(query, transactional_id=message_id)
    return messages.list_messages(conn, workspace_id, query, now)


def _message_id(conn: Connection, workspace_id: int, raw: str) -> int:
    message_id = path_id(raw, "transactional message")
    found = conn.execute(
        select(transactional_messages.c.id).where(
            transactional_messages.c.workspace_id == workspace_id,
            transactional_messages.c.id == message_id,
        )
    ).scalar()
    if found is None:
        raise not_found("transactional message not found")
    return int(found)


def period_starts(period: str, steps: int, now: int) -> list[int]:
    """The start of each of the last `steps` periods, oldest first (UTC)."""
    return list(periods.last(period, steps, now).starts)
