"""Reports on campaigns and broadcasts: delivery metrics, link clicks, journeys, messages.

Delivery metrics count the campaign's (or the action's) `deliveries` joined
to `delivery_metrics` on their parent columns (CAMPAIGNS.md 7.2, 7.3): a
delivery counts once per metric, in the period it first reached it, and
`created` counts deliveries by creation time. Customer.io's `dropped` is
counted as `suppressed`; metrics Tidings never records (`attempted`,
`deferred`, `topic_unsubscribed`, the human and prefetch splits) stay at
zero. Action metrics also carry `totals`: each metric over the action's
whole life.

Windows (`parse_window`, BEHAVIOUR.md 5.6), the periods of `reporting.series`:
- version 1 (the default): `period` and `steps` as transactional metrics
  (`reporting/transactional_metrics.py`), cut in UTC, ending with the
  current period;
- `version=2`: `res` (hours, days, weeks, months or hourly, daily, weekly,
  monthly; days by default), `start` and `end` (unix seconds; `end` defaults
  to now, `start` to as many periods before it as version 1's default) and
  `tz` (an IANA zone, UTC by default): the periods of `tz` from the one
  holding `start` to the one holding `end`, at most `MAX_PERIODS`.
Each version's parameters given to the other are a 400 naming them.

Ids: Customer.io's campaigns and broadcasts share one id space, so the
`/v1/campaigns/{id}` reports serve a broadcast's id too; `/v1/broadcasts/{id}`
serves broadcasts only. A campaign, broadcast or action of another workspace
is a 404, as an unknown one is. An action removed from the workflow keeps its
reports.

Journey metrics (CAMPAIGNS.md 7.1) count the journeys that started in each
period (cut in UTC) by what became of them: `activated` (passed the entry
filters), `never_activated` (exited as filtered before activating),
`exited_early` (exited after activating, for any reason but the goal),
`finished`, `converted` (met the goal), `messaged` (queued a message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from typing import Any

import msgspec
from sqlalchemy import Connection, func, select

from tidings.campaigns import local_time, store
from tidings.db.schema import campaign_actions, campaigns, deliveries, delivery_metrics, journeys
from tidings.errors import bad_request, not_found
from tidings.numbers import is_digits, path_id
from tidings.reporting import messages, series
from tidings.reporting.series import Periods
from tidings.reporting.transactional_metrics import WINDOW_QUERY
from tidings.reporting.transactional_metrics import parse_window as parse_v1

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
RESOLUTIONS = {
    **{unit: unit for unit in series.UNITS},
    "hourly": "hours",
    "daily": "days",
    "weekly": "weeks",
    "monthly": "months",
}
DEFAULT_STEPS = {"hours": 24, "days": 45, "weeks": 12, "months": 12}
MAX_PERIODS = 2000
TYPES = ("email", "webhook", "twilio", "whatsapp", "slack", "push", "in_app")
V2_QUERY = ("version", "res", "tz", "start", "end")
# What each report's route declares (the parameters customerio-node sends).
ACTION_QUERY = (*V2_QUERY, *WINDOW_QUERY)
METRICS_QUERY = (*ACTION_QUERY, "type")
LINKS_QUERY = (*WINDOW_QUERY, "unique")
JOURNEY_QUERY = ("start", "end", "res", "resolution")
MESSAGES_QUERY = (
    "start",
    "limit",
    "type",
    "metric",
    "drafts",
    "start_ts",
    "end_ts",
    "get_tracked_responses",  # accepted: Tidings records no tracked responses
)
_decode = msgspec.json.decode


# --- parsing (pure) ----------------------------------------------------------------------


def parse_window(query: dict[str, str], now: int) -> Periods:
    """The periods a delivery-metrics request asks for (version 1 or 2)."""
    version = query.get("version", "")
    if version not in ("", "1", "2"):
        raise bad_request("version must be 1 or 2", "version")
    if version != "2":
        _refuse(query, V2_QUERY[1:], "needs version=2")
        period, steps = parse_v1(query)
        return series.last(period, steps, now, open_end=True)
    _refuse(query, WINDOW_QUERY, "is a version 1 parameter (use res, start and end)")
    unit = _resolution(query, "res", default="days")
    zone = local_time.zone(query.get("tz") or "UTC")
    if zone.key != (query.get("tz") or "UTC"):
        raise bad_request("tz must be an IANA time zone name, such as America/New_York", "tz")
    end = _time(query, "end", now)
    back = -DEFAULT_STEPS[unit] + 1
    start = _time(query, "start", series.shift(unit, series.start_of(unit, end, zone), back, zone))
    return _between(unit, start, end, zone)


def parse_link_window(query: dict[str, str], now: int) -> Periods:
    """Link metrics take version 1's `period` and `steps` only."""
    period, steps = parse_v1(query)
    return series.last(period, steps, now, open_end=True)


def parse_journey_window(query: dict[str, str]) -> Periods:
    """`start`, `end` and `resolution` (or `res`), all required; periods cut in UTC."""
    for name in ("start", "end"):
        if not query.get(name):
            raise bad_request(f"{name} is required (unix seconds)", name)
    name = "resolution" if query.get("resolution") else "res"
    if not query.get(name):
        raise bad_request("resolution is required (hours, days, weeks or months)", "resolution")
    unit = _resolution(query, name, default="")
    return _between(unit, _time(query, "start", 0), _time(query, "end", 0), UTC)


def parse_unique(query: dict[str, str]) -> bool:
    value = query.get("unique", "false")
    if value not in ("true", "false"):
        raise bad_request("unique must be true or false", "unique")
    return value == "true"


def parse_type(query: dict[str, str]) -> tuple[str, ...] | None:
    """The channels of `type`, or None for every channel."""
    kind = query.get("type", "")
    if not kind:
        return None
    if kind not in TYPES:
        raise bad_request(f"type must be one of: {', '.join(TYPES)}", "type")
    return messages.CHANNELS_OF_TYPE.get(kind, (kind,))


def _refuse(query: dict[str, str], names: Sequence[str], why: str) -> None:
    for name in names:
        if query.get(name):
            raise bad_request(f"{name} {why}", name)


def _resolution(query: dict[str, str], name: str, default: str) -> str:
    unit = RESOLUTIONS.get(query.get(name) or default)
    if unit is None:
        raise bad_request(f"{name} must be one of: {', '.join(RESOLUTIONS)}", name)
    return unit


def _time(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    if not is_digits(raw) or len(raw) > 12:
        raise bad_request(f"{name} must be a unix timestamp in seconds", name)
    return int(raw)


def _between(unit: str, start: int, end: int, zone: Any) -> Periods:
    if start > end:
        raise bad_request("start must not be after end", "start")
    found = series.between(unit, start, end, zone, MAX_PERIODS)
    if found is None:
        raise bad_request(f"end is more than {MAX_PERIODS} {unit} after start", "end")
    return found


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
    """`{"metric": {"series": {...}}}` of a campaign or broadcast (`kind`), or of one
    of its actions, when `raw_action` is given, with `totals` beside the series."""
    where = _scope(conn, workspace_id, kind, raw_id, raw_action)
    if channels is not None:
        where.append(deliveries.c.channel.in_(channels))
    metric: dict[str, Any] = {"series": _series(conn, where, window)}
    if raw_action is not None:
        metric["totals"] = _totals(conn, where)
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
    """`{"links": [{"link": {"id", "href"}, "metric": {"series": {"clicked": [...]}}}]}`.

    A link is its number in its message (the `link_id` of the click, null for
    clicks reported through the Track API) and its URL; the most clicked come
    first. `unique` counts each person once per link, in the period of their
    first click.
    """
    where = _scope(conn, workspace_id, kind, raw_id, raw_action)
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
    counts: dict[tuple[int | None, str], list[int]] = {}
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
    else:
        query = replace(query, campaign_id=owner.id)
    return messages.list_messages(conn, workspace_id, query, now)


# --- counting ----------------------------------------------------------------------------


def _owner(conn: Connection, workspace_id: int, kind: str, raw_id: str) -> Any:
    what = "broadcast" if kind == "broadcast" else "campaign"
    row = conn.execute(
        select(campaigns.c.id, campaigns.c.kind).where(
            campaigns.c.workspace_id == workspace_id,
            campaigns.c.id == store.parse_id(raw_id, what),
        )
    ).first()
    allowed = ("broadcast",) if kind == "broadcast" else ("campaign", "broadcast")
    if row is None or row.kind not in allowed:
        raise not_found(f"{what} not found")
    return row


def _scope(
    conn: Connection, workspace_id: int, kind: str, raw_id: str, raw_action: str | None
) -> list[Any]:
    """The conditions that pick the deliveries of a campaign, broadcast or action."""
    owner = _owner(conn, workspace_id, kind, raw_id)
    parent = deliveries.c.broadcast_id if owner.kind == "broadcast" else deliveries.c.campaign_id
    where = [deliveries.c.workspace_id == workspace_id, parent == owner.id]
    if raw_action is None:
        return where
    action_id = path_id(raw_action, "action")
    found = conn.execute(
        select(campaign_actions.c.id).where(
            campaign_actions.c.workspace_id == workspace_id,
            campaign_actions.c.campaign_id == owner.id,
            campaign_actions.c.id == action_id,
        )
    ).first()
    if found is None:
        raise not_found("action not found")
    return [*where, deliveries.c.action_id == action_id]


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


def _totals(conn: Connection, where: list[Any]) -> dict[str, int]:
    totals = dict.fromkeys(SERIES, 0)
    totals["created"] = int(
        conn.execute(select(func.count()).select_from(deliveries).where(*where)).scalar() or 0
    )
    counted = (
        select(delivery_metrics.c.metric, func.count(func.distinct(delivery_metrics.c.delivery_id)))
        .select_from(_joined())
        .where(*where, delivery_metrics.c.metric.in_([*SERIES, *SAME_AS]))
        .group_by(delivery_metrics.c.metric)
    )
    for metric, count in conn.execute(counted):
        totals[SAME_AS.get(metric, metric)] += int(count)
    return totals


def _link(data: str) -> tuple[int | None, str] | None:
    try:
        extra = _decode(data)
    except msgspec.DecodeError:
        return None
    href = extra.get("href") if isinstance(extra, dict) else None
    if not isinstance(href, str) or not href:
        return None
    link_id = extra.get("link_id")
    return (link_id if isinstance(link_id, int) else None, href)
