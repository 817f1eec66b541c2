"""The dashboard's numbers (`events.rate`, `campaigns.dashboard`): events per minute and
per hour bounded to their window, messages per day by source, empty windows, and
workspaces kept apart."""

from __future__ import annotations

import time
import uuid

import pytest
from alembic import command
from sqlalchemy import insert, select

from tests.conftest import fresh_database, new_workspace
from tests.factories import add_delivery
from tidings.activity import log as activity_log
from tidings.campaigns import dashboard
from tidings.db import migrate
from tidings.db.engine import open_database
from tidings.db.schema import campaigns, delivery_days, delivery_metrics, event_minutes, events
from tidings.errors import ApiError
from tidings.reporting import event_rate as rate
from tidings.reporting.metrics import record_metric
from tidings.runtime import housekeeping
from tidings.templates import transactional_messages
from tidings.templates.definitions import Definition

NOW = 1_700_000_000 + 1_234  # 54 s into a minute: not on a minute, hour or day boundary
MINUTE_START = NOW - NOW % 60
DAY = 86_400
TODAY = NOW - NOW % DAY
U = uuid.uuid4().hex[:8]  # delivery ids are unique across the shared database


def event(tx, ws, timestamp, type_="event"):
    tx(
        lambda conn: activity_log.append(
            conn,
            ws,
            person_pk=None,
            anonymous_id="visitor",
            type=type_,
            name="viewed",
            timestamp=timestamp,
            received_at=NOW,
            data={},
        )
    )


def test_events_per_minute_count_the_last_hour_and_nothing_outside(tx, query, workspace):
    ws = workspace.workspace_id
    first = MINUTE_START - 59 * 60
    for moment in (first - 1, first, first + 59, first + 60, NOW, MINUTE_START + 60):
        event(tx, ws, moment)
    buckets = rate.window("hour", NOW)
    assert buckets.starts[0] == first and buckets.end == MINUTE_START + 60
    counted = query(rate.counts, ws, buckets)
    assert len(counted) == 60
    assert counted[0] == 2  # first and first + 59; first - 1 is just before the window
    assert counted[1] == 1
    assert counted[-1] == 1  # NOW; the next minute's event is in the future
    assert sum(counted) == 4


def test_events_per_hour_over_a_day_and_a_week(tx, query, workspace):
    ws = workspace.workspace_id
    hour_start = NOW - NOW % 3600
    for moment in (NOW, NOW - 3600, NOW - 23 * 3600, NOW - 24 * 3600, NOW - 6 * DAY):
        event(tx, ws, moment)
    day = query(rate.counts, ws, rate.window("day", NOW))
    assert len(day) == 24 and day[-1] == 1 and day[-2] == 1 and day[0] == 1 and sum(day) == 3
    week_buckets = rate.window("week", NOW)
    assert week_buckets.starts[-1] == hour_start and len(week_buckets.starts) == 168
    assert sum(query(rate.counts, ws, week_buckets)) == 5


def test_an_empty_window_and_another_workspaces_events(tx, query, workspace, other_workspace):
    event(tx, other_workspace.workspace_id, NOW)
    event(tx, workspace.workspace_id, NOW - 2 * 3600)  # before the last hour
    event(tx, workspace.workspace_id, NOW, "attribute_change")  # not an event sent
    counted = query(rate.counts, workspace.workspace_id, rate.window("hour", NOW))
    assert counted == [0] * 60
    assert query(rate.counts, other_workspace.workspace_id, rate.window("hour", NOW))[-1] == 1


def test_a_batch_is_counted_per_minute_and_old_minutes_are_pruned(tx, query, workspace):
    ws = workspace.workspace_id
    rows = [
        (ws, None, "v", kind, "n", moment, NOW, "{}")
        for kind, moment in [
            ("event", NOW),
            ("page", NOW - 1),
            ("screen", NOW - 120),
            ("identify", NOW),
            ("event", NOW - rate.KEPT - 60),
        ]
    ]
    tx(activity_log.insert_rows, rows, NOW)
    event(tx, ws, NOW)  # one more into the same minute, another transaction
    minutes = query(rate.counts, ws, rate.window("hour", NOW))
    assert (minutes[-1], minutes[-3], sum(minutes)) == (3, 1, 4)  # NOW - 1: the same minute
    stored = lambda: query(  # noqa: E731
        lambda c: c.execute(
            select(event_minutes.c.count).where(event_minutes.c.workspace_id == ws)
        ).all()
    )
    assert len(stored()) == 3
    tx(housekeeping.prune, NOW)
    assert sorted(count for (count,) in stored()) == [1, 3]  # the 8-day-old minute went


def deliver(tx, ws, name, created_at, metrics, **columns):
    delivery_id = f"{name}-{U}"
    tx(lambda conn: add_delivery(conn, ws, delivery_id, None, created_at=created_at, **columns))
    for metric, at in metrics:
        tx(lambda conn, m=metric, t=at: record_metric(conn, ws, delivery_id, m, t, {}, now=NOW))


def template(tx, ws) -> int:
    definition = Definition(
        name="Welcome", trigger_name="welcome", channel="email", contents=(("", {}),)
    )
    return tx(transactional_messages.create, ws, definition, 0)["id"]


def campaign(tx, ws) -> int:
    values = {
        "workspace_id": ws,
        "kind": "broadcast",
        "name": "Sale",
        "description": "",
        "state": "running",
        "trigger_kind": "api",
        "definition": "{}",
        "tags": "[]",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return tx(lambda conn: conn.execute(insert(campaigns).values(values)).inserted_primary_key[0])


def test_messages_per_day_by_the_day_each_metric_was_first_reached(tx, query, workspace):
    ws = workspace.workspace_id
    deliver(tx, ws, "a", NOW - DAY, [("sent", NOW - DAY), ("delivered", NOW - DAY + 5)])
    deliver(tx, ws, "b", NOW, [("sent", NOW), ("opened", NOW), ("opened", NOW + 1)])
    deliver(tx, ws, "c", NOW, [("sent", NOW), ("bounced", NOW)])
    old = [("sent", NOW - 31 * DAY), ("clicked", NOW), ("clicked", NOW + 1)]
    deliver(tx, ws, "old", NOW - 31 * DAY, old)
    found = query(dashboard.message_days, ws, "", NOW)
    assert len(found["starts"]) == 30 and found["starts"][-1] == TODAY
    assert found["starts"][0] == TODAY - 29 * DAY
    assert set(found["series"]) == set(dashboard.SHOWN)
    assert found["series"]["sent"][-2:] == [1, 2]
    assert found["series"]["delivered"][-2:] == [1, 0]
    assert found["series"]["opened"][-1] == 1  # once per message
    assert found["series"]["bounced"][-1] == 1
    # every message: by the day of the metric, whenever the message was created
    assert sum(found["series"]["clicked"]) == 1 and found["series"]["clicked"][-1] == 1


def test_messages_per_day_of_one_transactional_message_or_broadcast(
    tx, query, workspace, other_workspace
):
    ws = workspace.workspace_id
    message_id, broadcast_id = template(tx, ws), campaign(tx, ws)
    deliver(tx, ws, "t", NOW, [("sent", NOW)], transactional_message_id=message_id)
    early = [("sent", NOW - 40 * DAY), ("opened", NOW)]
    deliver(tx, ws, "t0", NOW - 40 * DAY, early, transactional_message_id=message_id)
    deliver(tx, ws, "b1", NOW, [("sent", NOW)], broadcast_id=broadcast_id)
    deliver(tx, ws, "b2", NOW, [("sent", NOW)], broadcast_id=broadcast_id)
    sent = lambda source: query(dashboard.message_days, ws, source, NOW)["series"]["sent"][-1]  # noqa: E731
    assert sent("") == 3
    assert sent(f"transactional:{message_id}") == 1
    # one source: its messages created in the window only
    opened = query(dashboard.message_days, ws, f"transactional:{message_id}", NOW)["series"]
    assert sum(opened["opened"]) == 0
    assert sent(f"campaign:{broadcast_id}") == 2
    empty = query(dashboard.message_days, other_workspace.workspace_id, "", NOW)
    assert all(value == 0 for values in empty["series"].values() for value in values)
    other = other_workspace.workspace_id
    for source in (f"transactional:{message_id}", f"campaign:{broadcast_id}"):
        with pytest.raises(ApiError) as refused:
            query(dashboard.message_days, other, source, NOW)
        assert refused.value.status == 404
    with pytest.raises(ApiError) as refused:
        query(dashboard.message_days, ws, "segment:1", NOW)
    assert refused.value.status == 400


COLUMNS = ("workspace_id", "delivery_id", "metric", "timestamp", "data")


def test_the_migration_counts_the_stored_events_and_messages_in(database_url, tmp_path):
    """0019 on a store that has events and messages: events of the last 8 days (events,
    page and screen views) are counted per workspace and minute, older ones and other
    types not; messages created in the last 32 days per day of their first metric."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with fresh_database(backend, tmp_path) as url:
        store = open_database(url)
        try:
            config = migrate.alembic_config()
            with store.writer.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "0018_ui_activity")
            ws = new_workspace(store, "before").workspace_id
            now = int(time.time())
            minute = now - now % 60
            with store.writer.begin() as conn:
                for kind, moment in [
                    ("event", minute),
                    ("page", minute + 1),
                    ("identify", minute),
                    ("event", minute - 9 * 86400),
                ]:
                    row = {"workspace_id": ws, "type": kind, "name": "n", "timestamp": moment}
                    conn.execute(insert(events).values({**row, "received_at": now, "data": "{}"}))
                for name, created, metrics in [
                    ("new", now, [("sent", now), ("opened", now), ("opened", now + 1)]),
                    ("old", now - 40 * DAY, [("sent", now - 40 * DAY), ("clicked", now)]),
                ]:
                    add_delivery(conn, ws, f"{name}-{U}", None, created_at=created)
                    for metric, at in metrics:
                        values = (ws, f"{name}-{U}", metric, at, "{}")
                        row = dict(zip(COLUMNS, values, strict=True))
                        conn.execute(insert(delivery_metrics).values(row))
            migrate.upgrade(store)
            with store.reader.connect() as conn:
                minutes = (event_minutes.c.workspace_id, event_minutes.c.minute)
                counted = conn.execute(select(*minutes, event_minutes.c.count)).all()
                days = (delivery_days.c.metric, delivery_days.c.day)
                per_day = conn.execute(select(*days, delivery_days.c.count)).all()
            assert [tuple(row) for row in counted] == [(ws, minute, 2)]
            today = now - now % DAY
            assert sorted(tuple(row) for row in per_day) == [
                ("opened", today, 1),
                ("sent", today, 1),
            ]
        finally:
            store.dispose()
