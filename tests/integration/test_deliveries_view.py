"""Deliveries as the UI shows them (`reporting.delivery_view`): the status, channel,
template and campaign filters over the App API's listing, pages over equal creation
times, a delivery's page (rendered message, provider answer, history) and its HTML."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert

from tests.factories import add_delivery
from tidings.db.schema import campaigns
from tidings.errors import ApiError
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.providers import base
from tidings.reporting import delivery_view, messages
from tidings.reporting.metrics import record_metric
from tidings.templates import transactional_messages
from tidings.templates.definitions import Definition

NOW = 1_700_000_000
U = uuid.uuid4().hex[:8]  # delivery ids are unique across the shared database


def email(subject: str, html: str = "<p>hi</p>") -> str:
    message = base.Email(
        message_id="<m@x>", from_="shop@x.test", to=["ann@x.test"], subject=subject, html=html
    )
    return base.encode(message).decode()


def listed(query, ws, status="", **filters):
    q = delivery_view.status_query(messages.parse_query(filters), status)
    found = query(delivery_view.browse, ws, q, NOW)
    return [(m["id"], m["state"]) for m in found["messages"]], found["next"]


def deliver(tx, ws, delivery_id, person_pk, **columns):
    tx(lambda conn: add_delivery(conn, ws, delivery_id, person_pk, **columns))


def metric(tx, ws, delivery_id, name, at, data):
    tx(lambda conn: record_metric(conn, ws, delivery_id, name, at, data, now=NOW))


def template(tx, ws) -> int:
    definition = Definition(
        name="Welcome", trigger_name="welcome", channel="email", contents=(("", {}),)
    )
    return tx(transactional_messages.create, ws, definition, 0)["id"]


def campaign(tx, ws, kind: str, name: str) -> int:
    values = {
        "workspace_id": ws,
        "kind": kind,
        "name": name,
        "description": "",
        "state": "running",
        "trigger_kind": "api",
        "definition": "{}",
        "tags": "[]",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return tx(lambda conn: conn.execute(insert(campaigns).values(values)).inserted_primary_key[0])


def test_filters_by_status_channel_template_and_campaign(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    welcome = template(tx, ws)
    blast = campaign(tx, ws, "broadcast", "Winter sale")
    news = campaign(tx, ws, "newsletter", "December news")
    add = lambda did, **c: deliver(tx, ws, did, None, **c)  # noqa: E731
    add(U + "d-queued", state="queued", created_at=NOW - 5, transactional_message_id=welcome)
    add(U + "d-sent", state="sent", created_at=NOW - 4, broadcast_id=blast)
    add(U + "d-failed", state="failed", created_at=NOW - 3, channel="sms", recipient="+15550100")
    add(U + "d-draft", state="draft", created_at=NOW - 2, newsletter_id=news)
    add(U + "d-opened", state="sent", created_at=NOW - 1, newsletter_id=news)
    metric(tx, ws, U + "d-opened", "opened", NOW, {})
    deliver(tx, other_workspace.workspace_id, U + "d-elsewhere", None, created_at=NOW)
    assert listed(query, ws)[0] == [
        (U + "d-opened", "sent"),
        (U + "d-failed", "failed"),
        (U + "d-sent", "sent"),
        (U + "d-queued", "queued"),
    ]
    assert listed(query, ws, "sent")[0] == [(U + "d-opened", "sent"), (U + "d-sent", "sent")]
    assert listed(query, ws, "opened")[0] == [(U + "d-opened", "sent")]
    assert listed(query, ws, "draft")[0] == [(U + "d-draft", "draft")]
    assert listed(query, ws, type="sms")[0] == [(U + "d-failed", "failed")]
    assert listed(query, ws, transactional_id=str(welcome))[0] == [(U + "d-queued", "queued")]
    assert listed(query, ws, campaign_id=str(blast))[0] == [(U + "d-sent", "sent")]
    assert listed(query, ws, newsletter_id=str(news))[0] == [(U + "d-opened", "sent")]
    assert listed(query, ws, "unknown-status")[0] == listed(query, ws)[0]  # ignored
    offered = query(delivery_view.sources, ws)
    assert offered == {
        "templates": [(welcome, "Welcome")],
        "campaigns": [(blast, "Winter sale")],
        "newsletters": [(news, "December news")],
    }


def test_pages_over_equal_creation_times(tx, query, workspace):
    ws = workspace.workspace_id
    for n in range(5):
        deliver(tx, ws, f"{U}same-{n}", None, created_at=NOW, state="sent")
    seen, start = [], ""
    while True:
        ids, start = listed(query, ws, limit="2", start=start)
        seen += [i for i, _ in ids]
        if not start:
            break
    assert seen == [f"{U}same-{n}" for n in reversed(range(5))]


def test_a_deliverys_page_shows_the_message_the_answer_and_the_history(tx, query, workspace):
    ws = workspace.workspace_id
    tx(
        service.identify,
        ws,
        classify("ann"),
        service.parse_identify({"email": "ann@x.test"}, NOW),
        NOW,
    )
    person = query(lambda conn: conn.exec_driver_sql("SELECT max(id) FROM people").scalar())
    welcome = template(tx, ws)
    payload = email("Your order", "<p>Thanks</p><script>alert(1)</script>")
    deliver(
        tx,
        ws,
        U + "d-1",
        person,
        state="sent",
        payload=payload,
        subject="Your order",
        transactional_message_id=welcome,
        provider_message_id="<abc@smtp.test>",
        attempts=2,
        sent_at=NOW + 2,
        failure_message=None,
    )
    metric(tx, ws, U + "d-1", "sent", NOW + 2, {})
    metric(tx, ws, U + "d-1", "bounced", NOW + 9, {"reason": "mailbox full"})
    found = query(delivery_view.detail, ws, U + "d-1")
    assert found["state"] == "sent" and found["attempts"] == 2
    assert found["provider_message_id"] == "<abc@smtp.test>"
    assert found["message"]["customer_identifiers"]["id"] == "ann"
    assert found["names"] == {"template": "Welcome"}
    assert found["rendered"]["kind"] == "email"
    assert found["rendered"]["fields"]["subject"] == "Your order"
    assert found["history"] == [
        {"metric": "sent", "timestamp": NOW + 2, "data": {}},
        {"metric": "bounced", "timestamp": NOW + 9, "data": {"reason": "mailbox full"}},
    ]
    assert query(delivery_view.html_body, ws, U + "d-1") == "<p>Thanks</p><script>alert(1)</script>"


def test_another_workspaces_delivery_is_not_found(tx, query, workspace, other_workspace):
    deliver(tx, other_workspace.workspace_id, U + "d-theirs", None, payload=email("x"))
    with pytest.raises(ApiError) as caught:
        query(delivery_view.detail, workspace.workspace_id, U + "d-theirs")
    assert caught.value.status == 404
    with pytest.raises(ApiError):
        query(delivery_view.html_body, workspace.workspace_id, U + "d-theirs")


def test_a_message_not_retained_shows_none(tx, query, workspace):
    ws = workspace.workspace_id
    deliver(tx, ws, U + "d-gone", None, state="sent", payload=None)
    assert query(delivery_view.detail, ws, U + "d-gone")["rendered"] is None
    with pytest.raises(ApiError):
        query(delivery_view.html_body, ws, U + "d-gone")


def test_a_metric_or_channel_filter_looks_at_a_bounded_window(tx, query, workspace, monkeypatch):
    ws = workspace.workspace_id
    monkeypatch.setattr(delivery_view, "SCAN_ROWS", 3)
    deliver(tx, ws, U + "w-old", None, state="sent", created_at=NOW - 50, channel="sms")
    for n in range(4):  # w-2 and w-3 share a second
        deliver(tx, ws, f"{U}w-{n}", None, state="sent", created_at=NOW - 10 + min(n, 2))
    found = query(delivery_view.browse, ws, messages.parse_query({"type": "sms"}), NOW)
    assert found["messages"] == [] and found["window_ended"]
    q = messages.parse_query({"type": "sms", "start": found["next"]})
    found = query(delivery_view.browse, ws, q, NOW)
    assert [m["id"] for m in found["messages"]] == [U + "w-old"]
    assert found["next"] == "" and not found["window_ended"]
    q = messages.parse_query({"type": "email"})
    found = query(delivery_view.browse, ws, q, NOW)
    assert [m["id"] for m in found["messages"]] == [f"{U}w-{n}" for n in (3, 2, 1)]
    assert found["window_ended"]  # w-0 is further back
    q = messages.parse_query({"type": "email", "start": found["next"]})
    assert [m["id"] for m in query(delivery_view.browse, ws, q, NOW)["messages"]] == [U + "w-0"]
