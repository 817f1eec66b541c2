"""Campaign and broadcast reports through the official Node client (customerio-node 5.2).

Each of the client's report methods is called unchanged through `node/run.mjs`.
The campaign, the broadcast and their deliveries, metrics and journeys are
written straight into the server's database, as other API tests write rows
no public API creates; the campaigns are drafts, so the server's own journey
worker leaves them alone.

Times: the first mail goes out at noon UTC two days ago, the second 14 hours
later (02:00 UTC the next day), which is still the first day in New York.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import insert, select

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk
from tests.factories import add_delivery
from tidings.campaigns import definitions, store
from tidings.db.schema import campaign_actions, journeys
from tidings.reporting.metrics import record_metric

pytestmark = requires("customerio-node")

HOUR, DAY = 3600, 86_400
T0 = int(time.time()) // DAY * DAY - 2 * DAY + 12 * HOUR
T1 = T0 + 14 * HOUR
MAIL = {"email": {"from": "a@example.com", "subject": "Hi", "body": "<p>hi</p>"}}


@pytest.fixture
def sdk(node, server, api):
    return Sdk(node, server, api.creds)


def make(tx, ws: int, document: dict[str, Any]) -> tuple[int, int]:
    """A campaign or broadcast (a draft) and its message action's id."""
    campaign_id = tx(store.create, ws, definitions.parse({**document, "state": "draft"}), T0)
    query = select(campaign_actions.c.id).where(campaign_actions.c.campaign_id == campaign_id)
    return campaign_id, tx(lambda conn: conn.execute(query).scalar_one())


def mail(tx, ws: int, delivery_id: str, created: int, **parents: Any) -> None:
    columns = {"created_at": created, "source": "campaign", **parents}
    tx(lambda conn: add_delivery(conn, ws, delivery_id, None, **columns))
    tx(record_metric, ws, delivery_id, "sent", created, {})


def journey(tx, ws: int, campaign_id: int, key: str, **columns: Any) -> None:
    values = {
        "workspace_id": ws,
        "campaign_id": campaign_id,
        "entry_key": key,
        "state": "finished",
        "context": "{}",
        "started_at": T0,
        "activated_at": T0,
        "created_at": T0,
        "updated_at": T0,
        **columns,
    }
    tx(lambda conn: conn.execute(insert(journeys).values(values)))


@pytest.fixture
def reported(tx, api):
    """A campaign with two mails, clicks and journeys; a broadcast with one mail."""
    ws = api.creds.workspace_id
    campaign_id, action_id = make(
        tx, ws, {"name": "Welcome", "trigger": {"event": {"name": "go"}}, "workflow": [MAIL]}
    )
    parents = {"campaign_id": campaign_id, "action_id": action_id, "journey_id": 1}
    mail(tx, ws, f"n{ws}-1", T0, **parents)
    mail(tx, ws, f"n{ws}-2", T1, **parents)
    click = {"href": "https://example.com/docs", "link_id": 1}
    tx(record_metric, ws, f"n{ws}-1", "clicked", T0 + 60, click)
    tx(record_metric, ws, f"n{ws}-1", "clicked", T0 + 120, click)
    journey(tx, ws, campaign_id, "1", messaged_at=T0)
    journey(tx, ws, campaign_id, "2", state="exited", exit_reason="filtered", activated_at=None)
    broadcast_id, broadcast_action = make(
        tx, ws, {"name": "Launch", "kind": "broadcast", "workflow": [MAIL]}
    )
    broadcast = {"broadcast_id": broadcast_id, "action_id": broadcast_action, "trigger_id": 3}
    mail(tx, ws, f"n{ws}-3", T1, **broadcast)
    tx(record_metric, ws, f"n{ws}-3", "clicked", T1 + 60, {"href": "https://example.com/x"})
    return campaign_id, action_id, broadcast_id, broadcast_action


def test_campaign_reports(sdk, reported):
    campaign_id, action_id, _, _ = reported
    v2 = {"version": "2", "res": "days", "start": T0, "end": T1}
    metrics, new_york, v1, action, links, action_links, funnel, listed = sdk.ok(
        sdk.app("getCampaignMetrics", campaign_id, {**v2, "type": "email"}),
        sdk.app("getCampaignMetrics", campaign_id, {**v2, "tz": "America/New_York"}),
        sdk.app("getCampaignMetrics", campaign_id),
        sdk.app("getCampaignActionMetrics", campaign_id, action_id, {**v2, "res": "hourly"}),
        sdk.app("getCampaignMetricsLinks", campaign_id, {"period": "days", "steps": 3}),
        sdk.app("getCampaignActionMetricsLinks", campaign_id, action_id, {"unique": True}),
        sdk.app("getCampaignJourneyMetrics", campaign_id, {"start": T0, "end": T1, "res": "days"}),
        sdk.app("getCampaignMessages", campaign_id, {"limit": 1, "get_tracked_responses": True}),
    )
    assert metrics["metric"]["series"]["sent"] == [1, 1]
    assert new_york["metric"]["series"]["sent"] == [2]
    assert len(v1["metric"]["series"]["sent"]) == 45 and sum(v1["metric"]["series"]["sent"]) == 2
    # Lifetime totals beside the series, at the campaign level too (a Tidings extension).
    assert metrics["metric"]["totals"]["sent"] == v1["metric"]["totals"]["sent"] == 2
    assert v1["metric"]["totals"]["clicked"] == 1 and v1["metric"]["totals"]["attempted"] == 0
    assert len(action["metric"]["series"]["sent"]) == 15
    assert action["metric"]["totals"]["sent"] == 2
    assert links["links"] == [
        {
            "link": {"id": 1, "href": "https://example.com/docs"},
            "metric": {"series": {"clicked": [2, 0, 0]}},
        }
    ]
    assert sum(action_links["links"][0]["metric"]["series"]["clicked"]) == 1
    assert funnel["journey_metric"]["started"] == [2, 0]
    assert funnel["journey_metric"]["never_activated"] == [1, 0]
    assert funnel["journey_metric"]["finished"] == [1, 0]
    [message] = listed["messages"]
    assert (message["campaign_id"], message["action_id"], message["journey_id"]) == (
        campaign_id,
        action_id,
        "1",
    )
    assert listed["next"]


def test_broadcast_reports(sdk, reported):
    campaign_id, _, broadcast_id, action_id = reported
    metrics, links, action, action_links, listed = sdk.ok(
        sdk.app(
            "getBroadcastMetrics", broadcast_id, {"period": "days", "steps": 3, "type": "email"}
        ),
        sdk.app("getBroadcastMetricsLinks", broadcast_id, {"period": "days", "unique": False}),
        sdk.app("getBroadcastActionMetrics", broadcast_id, action_id, {"period": "days"}),
        sdk.app("getBroadcastActionMetricsLinks", broadcast_id, action_id, {"steps": 1}),
        sdk.app("getBroadcastMessages", broadcast_id, {"metric": "clicked", "type": "email"}),
    )
    assert metrics["metric"]["series"]["sent"] == [0, 1, 0]
    assert (metrics["metric"]["totals"]["sent"], metrics["metric"]["totals"]["clicked"]) == (1, 1)
    assert [entry["link"] for entry in links["links"]] == [
        {"id": None, "href": "https://example.com/x"}
    ]
    assert action["metric"]["totals"]["clicked"] == 1
    assert action_links["links"][0]["metric"]["series"]["clicked"] == [1, 0]  # steps=1: 2 days
    [message] = listed["messages"]
    assert (message["broadcast_id"], message["trigger_id"], message["campaign_id"]) == (
        broadcast_id,
        3,
        None,
    )


def test_refusals(sdk, reported):
    campaign_id, action_id, broadcast_id, _ = reported
    outcomes = sdk.run(
        sdk.app("getCampaignMetrics", 999_999_999),
        sdk.app("getBroadcastMetrics", campaign_id),
        sdk.app("getCampaignActionMetrics", broadcast_id, action_id),
        sdk.app("getCampaignMetrics", campaign_id, {"version": "2", "tz": "Nowhere/Land"}),
        sdk.app("getCampaignMetrics", campaign_id, {"res": "days"}),
        sdk.app("getCampaignJourneyMetrics", campaign_id, {"start": T1, "end": T0, "res": "days"}),
    )
    assert [o["error"]["statusCode"] for o in outcomes] == [404, 404, 404, 400, 400, 400]
    assert [o["error"]["message"] for o in outcomes[:3]] == [
        "campaign not found",
        "broadcast not found",
        "action not found",
    ]
    assert "tz" in outcomes[3]["error"]["message"]
    assert "res" in outcomes[4]["error"]["message"]


def test_other_workspaces_see_nothing(node, server, other_api, reported):
    other = Sdk(node, server, other_api.creds)
    campaign_id, _, broadcast_id, _ = reported
    outcomes = other.run(
        other.app("getCampaignMetrics", campaign_id),
        other.app("getCampaignMessages", campaign_id),
        other.app("getBroadcastMetricsLinks", broadcast_id),
    )
    assert [o["error"]["statusCode"] for o in outcomes] == [404, 404, 404]
