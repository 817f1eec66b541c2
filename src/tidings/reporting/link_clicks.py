"""Link click metrics: each tracked link's clicks per period, the most clicked first.

Shared by the campaign, broadcast and newsletter `/metrics/links` reports
(`campaigns/metrics.py`) and the transactional one
(`reporting/transactional_metrics.py`): each picks its deliveries, this
counts their clicks. A link is its number in its message (the `link_id` of
the click, null for clicks reported through the Track API) and its URL; a
click without a URL is not a link click and is left out. `unique` counts
each person (a message without a person: each message) once per link, in
the period of their first click.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.db.schema import deliveries, delivery_metrics
from tidings.reporting.series import Periods

Link = tuple[int | None, str]
_decode = msgspec.json.decode


def link_report(
    conn: Connection, where: list[Any], window: Periods, unique: bool
) -> dict[str, Any]:
    """`{"links": [{"link": {"id", "href"}, "metric": {"series": {"clicked": [...]}}}]}`
    over the deliveries `where` picks (conditions on `deliveries`)."""
    clicks = conn.execute(
        select(
            delivery_metrics.c.timestamp,
            delivery_metrics.c.data,
            deliveries.c.person_id,
            deliveries.c.id,
        )
        .select_from(_joined())
        .where(
            *where,
            delivery_metrics.c.metric == "clicked",
            delivery_metrics.c.timestamp >= window.starts[0],
        )
        .order_by(delivery_metrics.c.timestamp, delivery_metrics.c.id)
    )
    counts: dict[Link, list[int]] = {}
    seen: set[tuple[int | None, str, object]] = set()
    for timestamp, data, person_id, delivery_id in clicks:
        link = _link(data)
        if link is None:
            continue
        who = (*link, person_id if person_id is not None else delivery_id)
        if unique and who in seen:
            continue
        seen.add(who)
        window.count(counts.setdefault(link, window.zeros()), int(timestamp))
    ordered = sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0][0] or 0, item[0][1]))
    return {
        "links": [
            {"link": {"id": link_id, "href": href}, "metric": {"series": {"clicked": shown}}}
            for (link_id, href), shown in ordered
        ]
    }


def _joined() -> Any:
    return delivery_metrics.join(
        deliveries,
        (deliveries.c.id == delivery_metrics.c.delivery_id)
        & (deliveries.c.workspace_id == delivery_metrics.c.workspace_id),
    )


def _link(data: str) -> Link | None:
    try:
        extra = _decode(data)
    except msgspec.DecodeError:
        return None
    href = extra.get("href") if isinstance(extra, dict) else None
    if not isinstance(href, str) or not href:
        return None
    link_id = extra.get("link_id")
    return (link_id if isinstance(link_id, int) else None, href)
