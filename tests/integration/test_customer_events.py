"""Reporting webhooks' customer_* events: (un)subscribes and subscription preferences."""

import pytest
from sqlalchemy import update

from tests.factories import add_delivery, webhook_bodies
from tidings.db.schema import webhook_posts
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.reporting import links, webhooks

NOW = 1_700_000_000
BASE = "https://t.example.com"
CUSTOMER_EVENTS = [
    "customer_subscribed",
    "customer_unsubscribed",
    "customer_cio_subscription_preferences_changed",
]


@pytest.fixture(scope="module")
def db(isolated_db):
    """This module's posts are its own: the API test server's poster must not take them."""
    return isolated_db


@pytest.fixture(autouse=True)
def empty_queue(db):
    with db.writer.begin() as conn:
        conn.execute(
            update(webhook_posts).where(webhook_posts.c.state == "queued").values(state="failed")
        )


def add_webhook(tx, ws, events=CUSTOMER_EVENTS, **fields):
    body = {"endpoint": "http://127.0.0.1:9/hook", "events": events, **fields}
    return tx(webhooks.create, ws, webhooks.parse(body, partial=False), NOW)


def identify(tx, ws, at=NOW, ident="p1", **attributes):
    request = service.parse_identify({"email": "p@example.com", **attributes, "_timestamp": at}, at)
    return tx(service.identify, ws, classify(ident), request, at)


def posted(query, ws):
    bodies = []
    for _, state, body in query(webhook_bodies, ws):
        assert state == "queued" and len(body.pop("event_id")) == 26
        bodies.append(body)
    return bodies


def customer_event(metric, at, p, **extra):
    return {
        "object_type": "customer",
        "metric": metric,
        "timestamp": at,
        "data": {
            "customer_id": "p1",
            "email_address": "p@example.com",
            "identifiers": {"id": "p1", "email": "p@example.com", "cio_id": p.cio_id},
            **extra,
        },
    }


def test_unsubscribing_through_track_identify_and_back_posts_both_events(tx, query, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws)
    p = identify(tx, ws)
    identify(tx, ws, NOW + 1, unsubscribed=True)
    identify(tx, ws, NOW + 2, unsubscribed="TRUE")  # still unsubscribed: nothing
    identify(tx, ws, NOW + 3, unsubscribed=False)
    assert posted(query, ws) == [
        customer_event("unsubscribed", NOW + 1, p),
        customer_event("subscribed", NOW + 3, p),
    ]


def test_a_new_person_who_is_not_unsubscribed_posts_nothing(tx, query, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws)
    identify(tx, ws, unsubscribed=False)
    assert posted(query, ws) == []


def test_unsubscribing_through_the_link_posts_the_customer_and_email_events(tx, query, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws, events=["customer_unsubscribed", "email_unsubscribed"])
    p = identify(tx, ws)
    tx(lambda conn: add_delivery(conn, ws, f"w{ws}-d1", p.pk))
    url = tx(links.unsubscribe_url, ws, f"w{ws}-d1", BASE, NOW)
    tx(links.unsubscribe, url.rsplit("/", 1)[1], NOW + 5)
    customer, email = posted(query, ws)
    assert customer == customer_event("unsubscribed", NOW + 5, p)
    assert (email["object_type"], email["metric"]) == ("email", "unsubscribed")


def test_preferences_changes_post_with_content_for_webhooks_that_want_it(tx, query, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws, events=["customer_cio_subscription_preferences_changed"])
    add_webhook(tx, ws, events=["customer_cio_subscription_preferences_changed"], with_content=True)
    p = identify(tx, ws)
    identify(tx, ws, NOW + 1, **{"cio_subscription_preferences.topics.topic_1": True})
    plain, with_content = posted(query, ws)
    assert plain == customer_event("cio_subscription_preferences_changed", NOW + 1, p)
    content = with_content["data"].pop("content")
    assert with_content == plain
    assert content.replace(" ", "") == '{"topics":{"topic_1":true}}'


def test_webhooks_that_do_not_want_customer_events_get_none(tx, query, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws, events=["email_sent"])
    add_webhook(tx, ws, events=["customer_subscribed"])
    identify(tx, ws, unsubscribed=True)
    assert posted(query, ws) == []
