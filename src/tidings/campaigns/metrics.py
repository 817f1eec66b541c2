"""Reports on campaigns and broadcasts: delivery metrics, link clicks, journeys, messages.

Delivery metrics count the campaign's (or the action's) `deliveries` joined
to `delivery_metrics` on their parent columns (CAMPAIGNS.md 7.2, 7.3): a
delivery counts once per metric, in the period it first reached it, and
`created` counts deliveries by creation time. Customer.io's `dropped` is
counted as `suppressed`; `attempted` is a send that will be retried
(`sending/delivery_queue.transient`); metrics Tidings never records
(`deferred`, `topic_unsubscribed`, the human and prefetch splits) stay at
zero. Every delivery report also carries `totals`: each metric over the whole
life of what it reports on. Customer.io documents them for an action and a
newsletter's content; a campaign's, broadcast's or newsletter's are a Tidings
extension in the same place (`metric.totals`) and shape.

The windows are `campaigns/report_query.py`'s (`reporting.series` periods).

Ids: Customer.io's campaigns and broadcasts share one id space, so the
`/v1/campaigns/{id}` reports serve a broadcast's id too; `/v1/broadcasts/{id}`
serves broadcasts only, `/v1/newsletters/{id}` newsletters only, and a
newsletter's "actions" are its contents (`content_id`). A campaign, broadcast or
action of another workspace is a 404, as an unknown one is. An action removed from
the workflow keeps its reports.

Journey metrics (CAMPAIGNS.md 7.1) count the journeys that started in each
period (cut in UTC) by what became of them: `activated` (passed the entry
filters), `never_activated` (exited as filtered before activating),
`exited_early` (exited after activating, for any reason but the goal),
`finished`, `converted` (met the goal), `messaged` (queued a message).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, func, select

from tidings.campaigns import store
from tidings.db.schema import (
    action_contents,
    campaign_actions,
    campaigns,
    deliveries,
    delivery_metrics,
    journeys,
)
from tidings.errors import not_found
from tidings.numbers import path_id
from tidings.reporting import link_clicks, messages
from tidings.reporting import totals as message_totals
from tidings.reporting.series import Periods

SERIES = (
    "attempted",
    "bounced",
    "clicked",
    "converted",
    "created",
    "deferred",
    "delivered",
    "drafted",
    "failed",
    "opened",
    "sent",
    "spammed",
    "suppressed",
    "undeliverable",
    "unsubscribed",
    "topic_unsubscribed",
    "human_opened",
    "prefetch_opened",
    "human_clicked",
    "prefetch_clicked",
)
SAME_AS = {"dropped": "suppressed"}
JOURNEY_METRICS = (
    "started",
    "activated",
    "exited_early",
    "finished",
    "converted",
    "never_activated",
    "messaged",
)


# --- reports -----------------------------------------------------------------------------


def delivery_report(
    conn: Connection,
    workspace_id: int,
    kind: str,
    raw_id: str,
    raw_action: str | None,
    window: Periods,
    channels: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """`{"metric": {"series": {...}, "totals": {...}}}` of a campaign, broadcast or
    newsletter (`kind`), or of one of its actions (contents), when `raw_action` is
    given. `totals` cover the whole life, as Customer.io's action and content
    metrics do; at the campaign, broadcast and newsletter level they are Tidings'
    own, in the same place and shape. One channel's totals (`channels`) are counted
    from the messages: the running totals are not kept per channel."""
    where = _scope(conn, workspace_id, kind, raw_id, raw_action)
    if channels is not None:
        where.append(deliveries.c.channel.in_(channels))
    metric: dict[str, Any] = {"series": _series(conn, where, window)}
    if channels is None:
        metric["totals"] = totals(conn, workspace_id, kind, raw_id, raw_action)
    else:
        metric["totals"] = _counted(conn, where)
    return {"metric": metric}


def link_report(
    conn: Connection,
    workspace_id: int,
    kind: str,
    raw_id: str,
    raw_action: str | None,
    window: Periods,
    unique: bool,
) -> dict[str, Any]:
    """`{"links": [...]}` of a campaign, broadcast or newsletter, or of one of its
    actions (`reporting/link_clicks.py` counts them)."""
    where = _scope(conn, workspace_id, kind, raw_id, raw_action)
    return link_clicks.link_report(conn, where, window, unique)


def journey_report(
    conn: Connection, workspace_id: int, raw_id: str, window: Periods
) -> dict[str, Any]:
    """`{"journey_metric": {"started": [...], ...}}` by the period each journey started."""
    campaign_id = _owner(conn, workspace_id, "campaign", raw_id).id
    found = {name: window.zeros() for name in JOURNEY_METRICS}
    c = journeys.c
    rows = conn.execute(
        select(c.started_at, c.state, c.exit_reason, c.activated_at, c.messaged_at, c.converted_at)
        .where(
            c.workspace_id == workspace_id,
            c.campaign_id == campaign_id,
            c.started_at >= window.starts[0],
        )
        .order_by(c.started_at)
    )
    for row in rows:
        at = window.index(row.started_at)
        if at is not None:
            for name in _journey_outcomes(row):
                found[name][at] += 1
    return {"journey_metric": found}


def _journey_outcomes(row: Any) -> list[str]:
    exited = row.state == "exited"
    reached = {
        "started": True,
        "activated": row.activated_at is not None,
        "never_activated": exited and row.activated_at is None and row.exit_reason == "filtered",
        "exited_early": exited and row.activated_at is not None and row.exit_reason != "goal",
        "finished": row.state == "finished",
        "converted": row.converted_at is not None,
        "messaged": row.messaged_at is not None,
    }
    return [name for name, yes in reached.items() if yes]


def message_report(
    conn: Connection,
    workspace_id: int,
    kind: str,
    raw_id: str,
    query: messages.MessageQuery,
    now: int,
) -> dict[str, Any]:
    """`{"messages": [...], "next": ...}`: the campaign's or broadcast's deliveries,
    as `GET /v1/messages` shows them."""
    owner = _owner(conn, workspace_id, kind, raw_id)
    if owner.kind == "broadcast":
        query = replace(query, broadcast_id=owner.id)
    elif owner.kind == "newsletter":
        query = replace(query, newsletter_id=owner.id)
    else:
        query = replace(query, campaign_id=owner.id)
    return messages.list_messages(conn, workspace_id, query, now)


# --- counting ----------------------------------------------------------------------------


def scope(conn: Connection, workspace_id: int, kind: str, raw_id: str) -> list[Any]:
    """The conditions that pick the deliveries of a campaign or broadcast (`kind`
    "campaign" or "broadcast") or a newsletter; a 404 for one of another workspace."""
    return _scope(conn, workspace_id, kind, raw_id, None)


def series_of(conn: Connection, where: list[Any], window: Periods) -> dict[str, list[int]]:
    """Each metric per period of `window` over the deliveries `where` picks, counted as
    the delivery reports count them."""
    return _series(conn, where, window)


def _owner(conn: Connection, workspace_id: int, kind: str, raw_id: str) -> Any:
    what = kind if kind in ("broadcast", "newsletter") else "campaign"
    row = conn.execute(
        select(campaigns.c.id, campaigns.c.kind).where(
            campaigns.c.workspace_id == workspace_id,
            campaigns.c.id == store.parse_id(raw_id, what),
        )
    ).first()
    allowed = (what,) if what != "campaign" else ("campaign", "broadcast")
    if row is None or row.kind not in allowed:
        raise not_found(f"{what} not found")
    return row


_PARENTS = {
    "campaign": deliveries.c.campaign_id,
    "broadcast": deliveries.c.broadcast_id,
    "newsletter": deliveries.c.newsletter_id,
}


def _scope_key(
    conn: Connection, workspace_id: int, kind: str, raw_id: str, raw_action: str | None
) -> tuple[str, list[int]]:
    """The running totals' (scope, ids) of what `_scope` picks."""
    owner = _owner(conn, workspace_id, kind, raw_id)
    if raw_action is None:
        return owner.kind, [owner.id]
    if owner.kind == "newsletter":
        return "content", [_content_id(conn, owner.id, raw_action)]
    return "action", [_action_id(conn, workspace_id, owner.id, raw_action)]


def _scope(
    conn: Connection, workspace_id: int, kind: str, raw_id: str, raw_action: str | None
) -> list[Any]:
    """The conditions that pick the deliveries of a campaign, broadcast or newsletter, or
    of one of its actions (a newsletter's: one of its contents)."""
    owner = _owner(conn, workspace_id, kind, raw_id)
    where = [deliveries.c.workspace_id == workspace_id, _PARENTS[owner.kind] == owner.id]
    if raw_action is None:
        return where
    if owner.kind == "newsletter":
        return [*where, deliveries.c.content_id == _content_id(conn, owner.id, raw_action)]
    return [*where, deliveries.c.action_id == _action_id(conn, workspace_id, owner.id, raw_action)]


def _action_id(conn: Connection, workspace_id: int, campaign_id: int, raw_action: str) -> int:
    """The action's id, when it is an action of the campaign (else a 404)."""
    action_id = path_id(raw_action, "action")
    found = conn.execute(
        select(campaign_actions.c.id).where(
            campaign_actions.c.workspace_id == workspace_id,
            campaign_actions.c.campaign_id == campaign_id,
            campaign_actions.c.id == action_id,
        )
    ).first()
    if found is None:
        raise not_found("action not found")
    return action_id


def _content_id(conn: Connection, newsletter_id: int, raw_content: str) -> int:
    content_id = path_id(raw_content, "content")
    found = conn.execute(
        select(action_contents.c.id)
        .join(campaign_actions, campaign_actions.c.id == action_contents.c.action_id)
        .where(campaign_actions.c.campaign_id == newsletter_id, action_contents.c.id == content_id)
    ).first()
    if found is None:
        raise not_found("content not found")
    return content_id


def _joined() -> Any:
    return delivery_metrics.join(
        deliveries,
        (deliveries.c.id == delivery_metrics.c.delivery_id)
        & (deliveries.c.workspace_id == delivery_metrics.c.workspace_id),
    )


def _series(conn: Connection, where: list[Any], window: Periods) -> dict[str, list[int]]:
    found = {name: window.zeros() for name in SERIES}
    first = window.starts[0]
    created = select(deliveries.c.created_at).where(*where, deliveries.c.created_at >= first)
    for (moment,) in conn.execute(created):
        window.count(found["created"], moment)
    firsts = (
        select(
            delivery_metrics.c.delivery_id,
            delivery_metrics.c.metric,
            func.min(delivery_metrics.c.timestamp),
        )
        .select_from(_joined())
        .where(*where, delivery_metrics.c.metric.in_([*SERIES, *SAME_AS]))
        .group_by(delivery_metrics.c.delivery_id, delivery_metrics.c.metric)
        .having(func.min(delivery_metrics.c.timestamp) >= first)
    )
    reached: dict[tuple[str, str], int] = {}
    for delivery_id, metric, moment in conn.execute(firsts):
        key = (delivery_id, SAME_AS.get(metric, metric))
        reached[key] = min(int(moment), reached.get(key, int(moment)))
    for (_, metric), moment in reached.items():
        window.count(found[metric], moment)
    return found


def totals(
    conn: Connection, workspace_id: int, kind: str, raw_id: str, raw_action: str | None = None
) -> dict[str, int]:
    """Each metric over the whole life of a campaign, broadcast or newsletter, or of one
    of its actions: the `totals` an action's delivery metrics carry. Read from the
    running totals (`reporting/totals.py`), not from the messages."""
    return _totals(*_scope_key(conn, workspace_id, kind, raw_id, raw_action), conn=conn)


def totals_of(
    conn: Connection, workspace_id: int, newsletter_id: int, content_ids: list[int]
) -> dict[str, int]:
    """Each metric over a newsletter's messages of these contents (an A/B test group's),
    counted as a content's `totals` are."""
    return _totals("content", content_ids, conn=conn)


def _counted(conn: Connection, where: list[Any]) -> dict[str, int]:
    """The totals of the messages `where` picks, counted from the messages."""
    found = dict.fromkeys(SERIES, 0)
    found["created"] = int(
        conn.execute(select(func.count()).select_from(deliveries).where(*where)).scalar() or 0
    )
    counted = (
        select(delivery_metrics.c.metric, func.count(func.distinct(delivery_metrics.c.delivery_id)))
        .select_from(_joined())
        .where(*where, delivery_metrics.c.metric.in_([*SERIES, *SAME_AS]))
        .group_by(delivery_metrics.c.metric)
    )
    for metric, count in conn.execute(counted):
        found[SAME_AS.get(metric, metric)] += int(count)
    return found


def _totals(scope: str, scope_ids: list[int], *, conn: Connection) -> dict[str, int]:
    found = dict.fromkeys(SERIES, 0)
    for name, count in message_totals.of(conn, scope, scope_ids).items():
        name = SAME_AS.get(name, name)
        if name in found:
            found[name] += count
    return found
