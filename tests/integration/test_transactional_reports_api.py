"""A transactional message's messages and link metrics, and what uses a sender identity,
over HTTP on both stores: Customer.io's shapes, filters and paging, 404s for an
unknown id or one of another workspace.

Deliveries and their metrics are written as messaging records them (the factories
and `record_metric`); the rest goes through the App API. The application runs in
this process (`test_campaign_api`'s client).
"""

from __future__ import annotations

import time
from typing import Any

from tests.factories import add_delivery
from tests.integration import test_campaign_api as campaign_api
from tests.integration.test_campaign_api import Api
from tidings.reporting.metrics import record_metric

# The fixtures of the in-process application (module-scoped: one per module).
client, api, other_api = campaign_api.client, campaign_api.api, campaign_api.other_api

NOW = int(time.time())
HOUR = 3600
DOCS = {"href": "https://example.com/docs", "link_id": 1}
PRICING = {"href": "https://example.com/pricing", "link_id": 2}


def transactional(api: Api, name: str, **fields: Any) -> int:
    body = {"name": name, "trigger_name": name, "contents": {"": fields}}
    made: dict[str, Any] = api("POST", "/v1/transactional", json=body)["message"]
    return int(made["id"])


def sent(tx, ws: int, delivery_id: str, tid: int, created: int, *metrics: tuple) -> None:
    tx(
        lambda conn: add_delivery(
            conn, ws, delivery_id, None, created_at=created, transactional_message_id=tid
        )
    )
    tx(record_metric, ws, delivery_id, "sent", created, {})
    for name, at, extra in metrics:
        tx(record_metric, ws, delivery_id, name, at, extra)


def ids(found: dict[str, Any]) -> list[str]:
    return [m["id"] for m in found["messages"]]


def test_a_transactional_messages_deliveries(api, other_api, tx) -> None:
    ws = api.creds.workspace_id
    tid, other = transactional(api, "welcome"), transactional(api, "reset")
    sent(tx, ws, f"t{ws}-1", tid, NOW - 3 * HOUR, ("opened", NOW - 2 * HOUR, {}))
    sent(tx, ws, f"t{ws}-2", tid, NOW - 2 * HOUR)
    sent(tx, ws, f"t{ws}-3", tid, NOW - HOUR, ("opened", NOW - 60, {}))
    sent(tx, ws, f"t{ws}-4", other, NOW - HOUR)
    path = f"/v1/transactional/{tid}/messages"
    everything = api("GET", path)
    assert ids(everything) == [f"t{ws}-3", f"t{ws}-2", f"t{ws}-1"] and everything["next"] == ""
    first = everything["messages"][2]
    assert first["transactional_message_id"] == tid and first["type"] == "email"
    assert first["metrics"] == {"sent": NOW - 3 * HOUR, "opened": NOW - 2 * HOUR}
    # Customer.io's filters and paging (those customerio-node sends).
    assert ids(api("GET", path, params={"metric": "opened"})) == [f"t{ws}-3", f"t{ws}-1"]
    window = {"start_ts": NOW - 150 * 60, "end_ts": NOW - 90 * 60}
    assert ids(api("GET", path, params=window)) == [f"t{ws}-2"]
    page = api("GET", path, params={"limit": 2, "get_tracked_responses": "true"})
    assert ids(page) == [f"t{ws}-3", f"t{ws}-2"] and page["next"]
    rest = api("GET", path, params={"limit": 2, "start": page["next"]})
    assert ids(rest) == [f"t{ws}-1"] and rest["next"] == ""
    assert api.error("GET", path, params={"metric": "read"}).startswith("metric must be one of")
    assert api.error("GET", path, params={"campaign_id": 1}).startswith("unsupported query")
    assert api.error("GET", "/v1/transactional/999999/messages", 404) == (
        "transactional message not found"
    )
    assert other_api.error("GET", path, 404) == "transactional message not found"


def test_a_transactional_messages_link_metrics(api, other_api, tx) -> None:
    ws = api.creds.workspace_id
    tid, other = transactional(api, "receipt"), transactional(api, "invoice")
    days_ago = NOW - 2 * 86_400
    sent(tx, ws, f"l{ws}-1", tid, days_ago, ("clicked", days_ago + 60, DOCS))
    tx(record_metric, ws, f"l{ws}-1", "clicked", NOW - 60, DOCS)
    tx(record_metric, ws, f"l{ws}-1", "clicked", NOW - 30, PRICING)
    sent(tx, ws, f"l{ws}-2", tid, NOW - HOUR, ("clicked", NOW - 50, {}))  # no URL: no link
    sent(tx, ws, f"l{ws}-3", other, NOW - HOUR, ("clicked", NOW - 40, DOCS))
    path = f"/v1/transactional/{tid}/metrics/links"
    links = api("GET", path, params={"period": "days", "steps": 3})["links"]
    assert links == [
        {"link": {"id": 1, "href": DOCS["href"]}, "metric": {"series": {"clicked": [1, 0, 1]}}},
        {"link": {"id": 2, "href": PRICING["href"]}, "metric": {"series": {"clicked": [0, 0, 1]}}},
    ]
    unique = api("GET", path, params={"period": "days", "steps": 3, "unique": "true"})["links"]
    assert unique[0]["metric"]["series"]["clicked"] == [1, 0, 0]  # each message once per link
    default = api("GET", path)["links"]
    assert len(default[0]["metric"]["series"]["clicked"]) == 45  # 45 days, as /metrics
    assert api("GET", f"/v1/transactional/{other}/metrics/links")["links"][0]["link"] == {
        "id": 1,
        "href": DOCS["href"],
    }
    assert api.error("GET", path, params={"unique": "yes"}) == "unique must be true or false"
    assert api.error("GET", path, params={"period": "years"}).startswith("period must be")
    assert other_api.error("GET", path, 404) == "transactional message not found"


def test_what_uses_a_sender_identity(api, other_api) -> None:
    news = api("POST", "/v1/sender_identities", json={"email": "News <news@acme.test>"})
    desk = api("POST", "/v1/sender_identities", json={"email": "desk@acme.test"})
    news_id, desk_id = news["sender_identity"]["id"], desk["sender_identity"]["id"]
    path = f"/v1/sender_identities/{news_id}/used_by"
    assert api("GET", path) == {
        "campaigns": [],
        "sent_newsletters": [],
        "draft_newsletters": [],
        "broadcasts": [],
        "transactional_messages": [],
    }
    mail = {"subject": "Hi", "body": "<p>hi</p>"}
    by_address = transactional(api, "hello", **{"from": "NEWS@acme.test", **mail})
    replying = transactional(
        api, "help", **{"from": "desk@acme.test", "reply_to": "News <news@acme.test>", **mail}
    )
    transactional(api, "other", **{"from": "desk@acme.test", **mail})
    campaign = campaign_from(api, "Welcome", "News <news@acme.test>")
    campaign_from(api, "Support", "desk@acme.test")
    broadcast = api(
        "POST",
        "/v1/broadcasts",
        json={"name": "Launch", "workflow": [{"email": {"from": "news@acme.test", **mail}}]},
    )["broadcast"]
    letter = {"type": "email", "recipients": {"segment": {"id": 1}}, **mail}
    draft = newsletter(api, {"name": "Draft", "from_id": news_id, **letter})
    sent_one = newsletter(api, {"name": "Sent", "from": "news@acme.test", **letter})
    api("POST", f"/v1/newsletters/{sent_one}/send")
    newsletter(api, {"name": "Desk", "from_id": desk_id, **letter})
    assert api("GET", path) == {
        "campaigns": [campaign],
        "sent_newsletters": [sent_one],
        "draft_newsletters": [draft],
        "broadcasts": [broadcast["id"]],
        "transactional_messages": [by_address, replying],
    }
    assert api.error("GET", "/v1/sender_identities/999999/used_by", 404) == (
        "sender identity not found"
    )
    assert other_api.error("GET", path, 404) == "sender identity not found"


def campaign_from(api: Api, name: str, sender: str) -> int:
    email = {"from": sender, "subject": "Hi", "body": "<p>hi</p>"}
    document = {"name": name, "trigger": {"event": {"name": "go"}}, "workflow": [{"email": email}]}
    made: dict[str, Any] = api("POST", "/v1/campaigns", json={"campaign": document})["campaign"]
    return int(made["id"])


def newsletter(api: Api, body: dict[str, Any]) -> int:
    return int(api("POST", "/v1/newsletters", json=body)["newsletter"]["id"])
