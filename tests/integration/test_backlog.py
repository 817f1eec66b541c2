"""The workers' backlog shown by /readyz and /metrics: due counts and lag."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from tidings.campaigns import definitions, journeys, store
from tidings.db.schema import deliveries, jobs, reporting_webhooks, webhook_posts
from tidings.runtime.backlog import backlog

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def db(isolated_db):
    """Counts are global: a database of this module's own."""
    return isolated_db


def test_due_work_and_how_long_the_oldest_has_waited(tx, query, workspace):
    ws = workspace.workspace_id

    def seed(conn):
        for n, (state, due) in enumerate(
            [
                ("queued", NOW - 30),
                ("queued", NOW - 5),
                ("queued", NOW + 60),
                ("sending", NOW - 1),
                ("sent", NOW - 99),
            ]
        ):
            conn.execute(
                insert(deliveries).values(
                    id=f"d{n}",
                    workspace_id=ws,
                    channel="email",
                    recipient="a@x.test",
                    created_at=NOW - 100,
                    state=state,
                    due_at=due,
                )
            )
        for state, run_at in (("queued", NOW - 7), ("queued", NOW + 7), ("done", NOW - 70)):
            conn.execute(
                insert(jobs).values(
                    workspace_id=ws,
                    kind="export",
                    payload="{}",
                    state=state,
                    attempts=0,
                    max_attempts=5,
                    run_at=run_at,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        webhook = conn.execute(
            insert(reporting_webhooks).values(
                workspace_id=ws,
                name="w",
                endpoint="https://example.test/",
                disabled=0,
                full_resolution=1,
                with_content=0,
                events="[]",
                signing_key="k",
                created_at=NOW,
                updated_at=NOW,
            )
        ).inserted_primary_key[0]
        document = {"name": "c", "trigger": {"event": {"name": "e"}}, "state": "running"}
        campaign_id = store.create(conn, ws, definitions.parse(document), NOW)
        journeys.start(conn, ws, campaign_id, None, "a", NOW - 40, due_at=NOW - 12)
        journeys.start(conn, ws, campaign_id, None, "b", NOW - 40, due_at=NOW + 50)
        conn.execute(
            insert(webhook_posts).values(
                workspace_id=ws,
                webhook_id=webhook,
                body="{}",
                state="queued",
                attempts=0,
                due_at=NOW - 3,
                created_at=NOW,
            )
        )

    empty = query(backlog, NOW)
    assert empty["deliveries_due"] == 0 and empty["deliveries_lag_seconds"] == 0
    tx(seed)
    shown = query(backlog, NOW)
    assert {k: v for k, v in shown.items() if not k.startswith("segment_")} == {
        "jobs_due": 1,
        "jobs_lag_seconds": 7,
        "deliveries_due": 2,
        "deliveries_sending": 1,
        "deliveries_lag_seconds": 30,
        "webhook_posts_due": 1,
        "webhook_posts_lag_seconds": 3,
        "journeys_due": 1,
        "journeys_lag_seconds": 12,
    }
