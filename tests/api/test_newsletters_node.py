"""Newsletters through the official Node client (customerio-node 5.2), unchanged, and
the routes' error form over HTTP.

Every newsletter method of `APIClient` is called through `node/run.mjs`
against the TLS server, whose own worker sends the newsletter; the tests poll
for its messages with a deadline.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk
from tests.support import eventually
from tidings.db.schema import captured_messages

PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
MAIL = {
    "name": "Weekly",
    "type": "email",
    "recipients": PRO,
    "from": "news@example.com",
    "subject": "Hi {{ customer.first_name }}",
    "body": '<p><a href="https://example.com/x">x</a></p>',
}

needs_node = requires("customerio-node")


@pytest.fixture
def sdk(node, server, api):
    return Sdk(node, server, api.creds)


def errors(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    [item] = response.json()["errors"]
    return str(item["detail"])


@needs_node
def test_every_newsletter_method_of_the_node_client(sdk):
    sdk.ok(
        sdk.track(
            "identify", "ann", {"email": "ann@example.com", "plan": "pro", "first_name": "A"}
        ),
        sdk.track("identify", "cy", {"email": "cy@example.com", "plan": "pro", "language": "fr"}),
        sdk.track("identify", "bob", {"email": "bob@example.com", "plan": "free"}),
    )
    (made,) = sdk.ok(sdk.app("createNewsletter", MAIL))
    newsletter = made["newsletter"]
    nid, [cid] = newsletter["id"], newsletter["content_ids"]
    got, listed, contents, content, edited = sdk.ok(
        sdk.app("getNewsletter", nid),
        sdk.app("listNewsletters", {"limit": 10, "sort": "desc"}),
        sdk.app("getNewsletterContents", nid),
        sdk.app("getNewsletterContent", nid, cid),
        sdk.app("updateNewsletterContent", nid, cid, {"preheader_text": "Read"}),
    )
    assert got["newsletter"]["state"] == "draft" and listed["newsletters"][0]["id"] == nid
    assert [c["id"] for c in contents["contents"]] == [cid] and listed["next"] == ""
    assert content["content"]["subject"] == MAIL["subject"]
    assert edited["content"]["preheader_text"] == "Read"

    french, read_fr, put_fr, extra, _ = sdk.ok(
        sdk.app("createNewsletterLanguage", nid, {"language": "fr", "subject": "Salut"}),
        sdk.app("getNewsletterLanguage", nid, "fr"),
        sdk.app("updateNewsletterLanguage", nid, "fr", {"body": "<p>Bonjour</p>"}),
        sdk.app("createNewsletterLanguage", nid, {"language": "de"}),
        sdk.app("deleteNewsletterLanguage", nid, "de"),
    )
    assert french["content"]["language"] == "fr" and read_fr["content"]["subject"] == "Salut"
    assert put_fr["content"]["body"] == "<p>Bonjour</p>"
    assert (
        extra["content"]["id"]
        not in sdk.ok(sdk.app("getNewsletter", nid))[0]["newsletter"]["content_ids"]
    )

    with_group, groups = sdk.ok(
        sdk.app("createNewsletterTestGroup", nid), sdk.app("getNewsletterTestGroups", nid)
    )
    assert len(with_group["newsletter"]["content_ids"]) == 3
    group = groups["test_groups"][1]["id"]
    tg_made, tg_read, tg_put, _ = sdk.ok(
        sdk.app("createNewsletterTestGroupLanguage", nid, group, {"language": "it"}),
        sdk.app("getNewsletterTestGroupLanguage", nid, group, "it"),
        sdk.app("updateNewsletterTestGroupLanguage", nid, group, "it", {"subject": "Ciao"}),
        sdk.app("deleteNewsletterTestGroupLanguage", nid, group, "it"),
    )
    assert tg_made["content"]["test_group_id"] == group
    assert tg_read["content"]["id"] == tg_made["content"]["id"]
    assert tg_put["content"]["subject"] == "Ciao"

    later = int(time.time()) + 3600
    scheduled, descheduled = sdk.ok(
        sdk.app("scheduleNewsletter", nid, {"scheduled_at": later, "timezone": "UTC"}),
        sdk.app("scheduleNewsletter", nid, {"scheduled_at": 0}),
    )
    assert scheduled["newsletter"]["scheduled_at"] == later
    assert descheduled["newsletter"]["state"] == "draft"
    rate = {"rate_limit_email_rate": 100, "rate_limit_time_period": 60, "rate_limit_spread": True}
    (sent,) = sdk.ok(sdk.app("sendNewsletter", nid, rate))
    assert sent["newsletter"]["state"] == "sent" and sent["newsletter"]["sent_at"]

    def two_messages() -> dict[str, Any]:
        (found,) = sdk.ok(sdk.app("getNewsletterMessages", nid, {"limit": 10, "type": "email"}))
        assert len(found["messages"]) == 2
        return found

    messages = eventually(two_messages, timeout=30)
    assert {m["newsletter_id"] for m in messages["messages"]} == {nid}
    assert {m["recipient"] for m in messages["messages"]} == {"ann@example.com", "cy@example.com"}
    some_content = messages["messages"][0]["content_id"]
    metrics, links, content_metrics, content_links, export = sdk.ok(
        sdk.app("getNewsletterMetrics", nid, {"period": "days", "steps": 2}),
        sdk.app("getNewsletterMetricsLinks", nid, {"period": "days", "unique": True}),
        sdk.app("getNewsletterContentMetrics", nid, some_content, {"period": "hours"}),
        sdk.app("getNewsletterContentMetricsLinks", nid, some_content),
        sdk.app("createDeliveriesExport", nid),
    )
    assert sum(metrics["metric"]["series"]["created"]) == 2
    assert len(metrics["metric"]["series"]["created"]) == 2
    assert metrics["metric"]["totals"]["created"] == 2  # a Tidings extension at this level
    assert links == {"links": []}
    assert content_metrics["metric"]["totals"]["created"] >= 1
    assert content_links == {"links": []}
    assert export["export"]["type"] == "deliveries"

    deleted, gone = sdk.run(sdk.app("deleteNewsletter", nid), sdk.app("getNewsletter", nid))
    assert deleted["ok"] and gone["error"]["statusCode"] == 404
    assert '"detail":"newsletter not found"' in gone["error"]["body"]


@needs_node
def test_node_sees_the_newsletter_errors(sdk, node, server, other_api):
    (made,) = sdk.ok(sdk.app("createNewsletter", MAIL))
    nid = made["newsletter"]["id"]
    outcomes = sdk.run(
        sdk.app("createNewsletter", {**MAIL, "type": "fax"}),
        sdk.app("getNewsletterContent", nid, 999_999_999),
        sdk.app("scheduleNewsletter", nid, {"scheduled_at": 1}),
        Sdk(node, server, other_api.creds).app("getNewsletter", nid),
    )
    assert [o["error"]["statusCode"] for o in outcomes] == [400, 404, 400, 404]
    assert "type must be one of" in outcomes[0]["error"]["body"]


def test_errors_are_the_newsletters_form(api, other_api):
    assert "name must be" in errors(
        api.app("POST", "/v1/newsletters", json={**MAIL, "name": ""}), 400
    )
    made = api.app("POST", "/v1/newsletters", json=MAIL).json()["newsletter"]
    path = f"/v1/newsletters/{made['id']}"
    assert errors(other_api.app("GET", path), 404) == "newsletter not found"
    assert errors(api.app("GET", "/v1/newsletters/12x"), 404) == "newsletter not found"
    assert "type" in errors(api.app("GET", f"{path}/metrics?type=email"), 400)
    assert "sort" in errors(api.app("GET", "/v1/newsletters?sort=up"), 400)
    assert errors(api.app("POST", f"{path}/send", json={"rate_limit_email_rate": 5}), 400)
    assert errors(api.app("GET", f"{path}/test_group/3/language/fr"), 404) == "test group not found"
    bad_key = api.app("GET", "/v1/newsletters", headers={"Authorization": "Bearer nope"})
    assert errors(bad_key, 401).startswith("unauthorized")
    response = api.app("POST", f"{path}/send")  # no body: no rate limit
    assert response.status_code == 200, response.text
    assert errors(api.app("POST", f"{path}/send", json={}), 400).endswith("was sent already")


@needs_node
def test_node_sets_senders_and_the_layout_by_id(sdk, api, db, workspace):
    def made(path: str, body: dict[str, Any], key: str) -> int:
        response = api.app("POST", path, json=body)
        assert response.status_code == 200, response.text
        return int(response.json()[key]["id"])

    news = made(
        "/v1/sender_identities", {"email": "news@example.com", "name": "News"}, "sender_identity"
    )
    desk = made("/v1/sender_identities", {"email": "desk@example.com"}, "sender_identity")
    frame = made("/v1/layouts", {"name": "frame", "body": "<i>{{ content }}</i>"}, "layout")
    sdk.ok(sdk.track("identify", "dee", {"email": "dee@example.com", "plan": "pro"}))
    no_from = {k: v for k, v in MAIL.items() if k != "from"}
    (created,) = sdk.ok(sdk.app("createNewsletter", {**no_from, "layout_id": frame}))
    nid, [cid] = created["newsletter"]["id"], created["newsletter"]["content_ids"]
    edited, french, french_put = sdk.ok(
        sdk.app("updateNewsletterContent", nid, cid, {"reply_to_id": desk}),
        sdk.app("createNewsletterLanguage", nid, {"language": "fr"}),
        sdk.app("updateNewsletterLanguage", nid, "fr", {"from_id": desk}),
    )
    content = edited["content"]
    assert (content["from_id"], content["from"]) == (news, "News <news@example.com>")
    assert (content["reply_to_id"], content["reply_to"]) == (desk, "desk@example.com")
    assert (content["layout_id"], content["layout"]) == (frame, "frame")
    assert french["content"]["from_id"] == news and french_put["content"]["from_id"] == desk
    refused = sdk.run(
        sdk.app("updateNewsletterContent", nid, cid, {"from_id": 999_999_999}),
        sdk.app("createNewsletter", {**MAIL, "from_id": news}),
    )
    assert [r["error"]["statusCode"] for r in refused] == [400, 400]
    assert "from_id 999999999 is not a sender identity" in refused[0]["error"]["body"]
    sdk.ok(sdk.app("sendNewsletter", nid))

    def sent() -> str:
        with db.reader.connect() as conn:
            found = conn.execute(
                select(captured_messages.c.message).where(
                    captured_messages.c.workspace_id == workspace.workspace_id
                )
            ).scalar()
        assert found is not None
        return str(json.loads(found)["mime"])

    mime = eventually(sent, timeout=30)
    assert "From: News <news@example.com>" in mime and "Reply-To: desk@example.com" in mime
    assert "<i>" in mime


def test_the_ab_test_routes(api):
    test = {"sample_percent": 20, "winner_metric": "clicked", "send_winner": True}
    created = api.app("POST", "/v1/newsletters", json={**MAIL, "ab_test": test})
    assert created.status_code == 200, created.text
    newsletter = created.json()["newsletter"]
    assert newsletter["ab_test"]["sample_percent"] == 20
    assert newsletter["ab_test"]["state"] == "draft"
    path = f"/v1/newsletters/{newsletter['id']}"
    put = api.app("PUT", f"{path}/ab_test", json={"sample_percent": 50})
    assert put.status_code == 200, put.text
    assert put.json()["newsletter"]["ab_test"]["winner_metric"] == "opened"
    bad = api.app("PUT", f"{path}/ab_test", json={"sample_percent": 500})
    assert "sample_percent" in errors(bad, 400)
    removed = api.app("DELETE", f"{path}/ab_test")
    assert removed.status_code == 200 and removed.json()["newsletter"]["ab_test"] is None
    api.app("PUT", f"{path}/ab_test", json={"sample_percent": 50})
    assert api.app("POST", f"{path}/send").status_code == 200
    sent = api.app("GET", path).json()["newsletter"]["ab_test"]
    assert sent["state"] == "testing" and sent["test_ends_at"] > newsletter["created"]
    assert errors(api.app("DELETE", f"{path}/ab_test"), 400).endswith("was sent already")
