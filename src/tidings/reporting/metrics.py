"""Delivery metrics reported from outside (Track `metrics`, push events) and unsubscribes.

Metrics are recorded against the delivery id whether or not this server sent
that delivery: the Track API is fire-and-forget, and a delivery made through
another system may still be reported here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Connection, select, update

from tidings import clock
from tidings.db import counters, raw
from tidings.db.schema import deliveries, delivery_metrics
from tidings.errors import ApiError, bad_request
from tidings.people import service as people
from tidings.people import store as people_store
from tidings.reporting import fanout, totals
from tidings.subscriptions import preferences
from tidings.timestamps import unix_seconds

METRICS = frozenset(
    {"bounced", "clicked", "converted", "deferred", "delivered", "dropped", "opened", "spammed"}
)
PUSH_EVENTS = frozenset({"opened", "converted", "delivered"})
MAX_DELIVERY_ID_BYTES = 255  # the `delivery_metrics.delivery_id` column
_encode = msgspec.json.Encoder().encode


def parse_metric(body: dict[str, Any], now: int) -> tuple[str, str, int, dict[str, Any]]:
    problems = []
    delivery_id, metric = body.get("delivery_id"), body.get("metric")
    problems += _delivery_id_problems(delivery_id)
    if not isinstance(metric, str) or metric not in METRICS:
        problems.append("metric must be one of: " + ", ".join(sorted(METRICS)))
    timestamp = _timestamp(body.get("timestamp"), now, problems)
    if problems:
        raise ApiError(400, problems[0], errors=problems)
    extra = {k: body[k] for k in ("recipient", "reason", "href") if body.get(k) is not None}
    return delivery_id, metric, timestamp, extra  # type: ignore[return-value]


def parse_push_event(body: dict[str, Any], now: int) -> tuple[str, str, int, dict[str, Any]]:
    problems = []
    delivery_id, event = body.get("delivery_id"), body.get("event")
    problems += _delivery_id_problems(delivery_id)
    if not isinstance(event, str) or event not in PUSH_EVENTS:
        problems.append("event must be one of: converted, delivered, opened")
    timestamp = _timestamp(body.get("timestamp"), now, problems)
    if problems:
        raise ApiError(400, problems[0], errors=problems)
    extra = {"device_id": body["device_id"]} if body.get("device_id") else {}
    return delivery_id, event, timestamp, extra  # type: ignore[return-value]


def _delivery_id_problems(delivery_id: Any) -> list[str]:
    if not isinstance(delivery_id, str) or not delivery_id:
        return ["delivery_id is required"]
    if len(delivery_id.encode()) > MAX_DELIVERY_ID_BYTES:
        return [f"delivery_id cannot be longer than {MAX_DELIVERY_ID_BYTES} bytes"]
    return []


def _timestamp(value: Any, now: int, problems: list[str]) -> int:
    if value is None:
        return now
    seconds = unix_seconds(value)
    if seconds is None:
        problems.append("timestamp must be a unix timestamp in seconds")
        return now
    return seconds


# What `delivery_days` counts, once per delivery: the metrics a delivery can
# reach more than once are looked up first (the others are recorded once).
DAY_COUNTED = frozenset({"sent", "delivered", "opened", "clicked", "bounced"})
REPEATED = frozenset({"opened", "clicked"})
_COUNT_DAY = (
    "INSERT INTO delivery_days (workspace_id, day, metric, count) VALUES ({0}, {0}, {0}, {0})"
    " ON CONFLICT (workspace_id, day, metric)"
    " DO UPDATE SET count = delivery_days.count + excluded.count"
)

# On the driver (every delivery's outcome records one), a row of five parameters each.
METRICS_PER_INSERT = 1000
_INSERT_METRICS = (
    "INSERT INTO delivery_metrics (workspace_id, delivery_id, metric, timestamp, data) VALUES "
)


def record_metric(
    conn: Connection,
    workspace_id: int,
    delivery_id: str,
    metric: str,
    timestamp: int,
    extra: dict[str, Any],
    *,
    now: int | None = None,
    parents: list[tuple[str, int]] | None = None,
) -> None:
    """Record a metric and what it sets off, all in the caller's transaction.

    Besides the `delivery_metrics` row: a hard bounce or spam complaint
    blocks the recipient's address, the workspace's reporting webhooks
    that want the event get a post queued (`reporting/fanout.py`), and the
    first time a delivery reaches a metric the dashboard shows, it is counted
    in its day (`delivery_days`), and a campaign's, broadcast's or
    newsletter's message in its parents' totals (`reporting/totals.py`):
    those counts at once, or at the end of the caller's `db.counters.deferred`.
    `now` stamps those posts (the webhook retry window starts there); callers
    without a clock at hand leave it out and get the process's (`clock.current`). `parents`
    (`totals.scopes`) saves reading them when the caller has them (a claim).
    """
    stamp = int(clock.current().now()) if now is None else now
    recorded = Recorded(workspace_id, delivery_id, metric, timestamp, extra, parents)
    record_metrics(conn, [recorded], stamp)


class Recorded(NamedTuple):
    """One metric for `record_metrics`, with `record_metric`'s arguments."""

    workspace_id: int
    delivery_id: str
    metric: str
    timestamp: int
    extra: dict[str, Any]
    parents: list[tuple[str, int]] | None = None


def record_metrics(conn: Connection, recorded: list[Recorded], now: int) -> None:
    """`record_metric` for many (`now` stamps the webhook posts), with the statements
    it runs for each made once: one read of which metrics the deliveries already
    reached (only where that matters), one INSERT, one read of each workspace's
    webhooks. What a metric sets off (`fanout.after_metric`: a blocked address, a
    webhook post) follows the INSERT, for a blocking metric or a workspace with
    webhooks; callers give a (delivery, metric) once per call (a webhook hearing only
    of a first occurrence counts the rows stored)."""
    if not recorded:
        return
    parents = [_parents(conn, r) for r in recorded]
    looked_up = [r for r, p in zip(recorded, parents, strict=True) if r.metric in REPEATED or p]
    reached = reached_many(conn, looked_up) if looked_up else set()
    rows = []
    for r, counted in zip(recorded, parents, strict=True):
        key = (r.delivery_id, r.metric)
        again = key in reached
        reached.add(key)
        rows.append(
            (r.workspace_id, r.delivery_id, r.metric, r.timestamp, _encode(r.extra).decode())
        )
        if r.metric in DAY_COUNTED and not again:
            day = r.timestamp - r.timestamp % 86400
            counters.add(conn, _COUNT_DAY, (r.workspace_id, day, r.metric))
        if counted and not again:
            totals.add(conn, r.workspace_id, r.metric, counted)
    for start in range(0, len(rows), METRICS_PER_INSERT):
        listed, params = raw.values(conn, rows[start : start + METRICS_PER_INSERT])
        raw.execute(conn, _INSERT_METRICS + listed, params)
    hooks = {ws: fanout.enabled_webhooks(conn, ws) for ws in {r.workspace_id for r in recorded}}
    for r in recorded:
        if r.metric in fanout.BLOCKING or hooks[r.workspace_id]:
            fanout.after_metric(conn, *r[:5], now, hooks[r.workspace_id])


def _parents(conn: Connection, r: Recorded) -> list[tuple[str, int]]:
    if r.metric not in totals.METRICS:
        return []
    if r.parents is None:
        return totals.parents_of(conn, r.workspace_id, r.delivery_id)
    return r.parents


def reached_many(conn: Connection, recorded: list[Recorded]) -> set[tuple[str, str]]:
    """The (delivery id, metric) pairs of `recorded` already stored (`reached` for many)."""
    found: set[tuple[str, str]] = set()
    names = sorted({r.metric for r in recorded})
    for workspace_id in sorted({r.workspace_id for r in recorded}):
        ids = sorted({r.delivery_id for r in recorded if r.workspace_id == workspace_id})
        for start in range(0, len(ids), METRICS_PER_INSERT):
            rows = conn.execute(
                select(delivery_metrics.c.delivery_id, delivery_metrics.c.metric).where(
                    delivery_metrics.c.workspace_id == workspace_id,
                    delivery_metrics.c.delivery_id.in_(ids[start : start + METRICS_PER_INSERT]),
                    delivery_metrics.c.metric.in_(names),
                )
            )
            found.update((delivery_id, metric) for delivery_id, metric in rows)
    return found


def reached(conn: Connection, workspace_id: int, delivery_id: str, metric: str) -> bool:
    found = conn.execute(
        select(delivery_metrics.c.id)
        .where(
            delivery_metrics.c.workspace_id == workspace_id,
            delivery_metrics.c.delivery_id == delivery_id,
            delivery_metrics.c.metric == metric,
        )
        .limit(1)
    )
    return found.first() is not None


def parse_unsubscribe(body: Any) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("unsubscribe", True), bool):
        raise bad_request("unsubscribe must be a boolean")
    return bool(body.get("unsubscribe", True))


def unsubscribe(conn: Connection, delivery_id: str, value: bool, now: int) -> None:
    """Set the delivery's recipient's `unsubscribed`, attributed to that delivery.

    No credentials are needed: the delivery id is the secret, so an unknown id
    is refused without saying more.
    """
    workspace_id, person = _recipient(conn, delivery_id)
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(unsubscribed_at=now if value else None)
    )
    if person is not None:
        people.apply_attributes(conn, person, {"unsubscribed": value}, now, now)
    metric = "unsubscribed" if value else "resubscribed"
    record_metric(conn, workspace_id, delivery_id, metric, now, {}, now=now)


def _recipient(conn: Connection, delivery_id: str) -> tuple[int, people_store.Person | None]:
    """The delivery's workspace and its person, if still there; a 400 for an unknown id."""
    row = conn.execute(
        select(deliveries.c.workspace_id, deliveries.c.person_id).where(
            deliveries.c.id == delivery_id
        )
    ).first()
    if row is None:
        raise bad_request("unknown delivery")
    person = people_store.by_pk(conn, row.person_id) if row.person_id is not None else None
    return row.workspace_id, person


def topic_of(conn: Connection, delivery_id: str) -> int | None:
    """The subscription topic a delivery's message is in (`subscription_topic_id` of its
    options), if any."""
    options = conn.execute(
        select(deliveries.c.options).where(deliveries.c.id == delivery_id)
    ).scalar()
    found = msgspec.json.decode(options).get("subscription_topic_id") if options else None
    return found if type(found) is int else None


def unsubscribe_topic(conn: Connection, delivery_id: str, topic_id: int, now: int) -> None:
    """Take the delivery's recipient out of one topic (their other choices and the
    global `unsubscribed` untouched), recorded as the delivery's `topic_unsubscribed`."""
    workspace_id, person = _recipient(conn, delivery_id)
    if person is not None:
        preferences.choose(conn, person, {topic_id: False}, now)
    record_metric(conn, workspace_id, delivery_id, "topic_unsubscribed", now, {}, now=now)
