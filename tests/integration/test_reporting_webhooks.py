"""Metrics fan-out (blocked addresses, webhook posts) and the webhook poster."""

import msgspec
import pytest
from sqlalchemy import update

from tests.factories import add_delivery, blocked, webhook_bodies
from tests.leases import age_leases
from tests.webhook_receiver import receive, verify
from tidings.clock import FixedClock
from tidings.db.schema import webhook_posts
from tidings.errors import ApiError
from tidings.fetch import Allowlist
from tidings.jobs.lease import RetryPolicy
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.reporting import metrics, webhooks
from tidings.reporting import webhook_posts as webhook_queue
from tidings.reporting.poster import WebhookPoster

NOW = 1_700_000_000


@pytest.fixture(scope="module")
def db(isolated_db):
    """A database of this module's own: the API test server's poster (on the shared
    one) must not take these posts, and these posters must not take its."""
    return isolated_db


@pytest.fixture(autouse=True)
def empty_queue(db):
    """Each test's posters see only its own posts: earlier tests' are set aside."""
    with db.writer.begin() as conn:
        conn.execute(
            update(webhook_posts).where(webhook_posts.c.state == "queued").values(state="failed")
        )


LOCAL = Allowlist.parse("127.0.0.1/32")


def add_webhook(tx, ws, endpoint="http://127.0.0.1:9/hook", **fields):
    body = {"endpoint": endpoint, "events": ["email_sent", "email_opened"], **fields}
    return tx(webhooks.create, ws, webhooks.parse(body, partial=False), NOW)


def person(tx, ws, ident="p1", email="p@example.com"):
    return tx(
        service.identify, ws, classify(ident), service.parse_identify({"email": email}, NOW), NOW
    )


def uid(ws, name):
    """Delivery ids are unique across workspaces: each test's are its own."""
    return f"w{ws}-{name}"


def deliver(tx, ws, delivery_id, person_pk, **columns):
    tx(lambda conn: add_delivery(conn, ws, uid(ws, delivery_id), person_pk, **columns))


def record(tx, ws, delivery_id, metric, at=NOW, **extra):
    tx(
        lambda conn: metrics.record_metric(
            conn, ws, uid(ws, delivery_id), metric, at, extra, now=at
        )
    )


def test_a_subscribed_event_queues_one_post_in_the_reference_format(tx, query, workspace):
    ws = workspace.workspace_id
    hook = add_webhook(tx, ws)
    p = person(tx, ws)
    deliver(tx, ws, "d1", p.pk, subject="Hi", transactional_message_id=7)
    record(tx, ws, "d1", "sent")
    record(tx, ws, "d1", "delivered")  # not subscribed
    [(webhook_id, state, body)] = query(webhook_bodies, ws)
    assert (webhook_id, state) == (hook["id"], "queued")
    assert len(body.pop("event_id")) == 26
    assert body == {
        "object_type": "email",
        "metric": "sent",
        "timestamp": NOW,
        "data": {
            "delivery_id": uid(ws, "d1"),
            "customer_id": "p1",
            "identifiers": {"id": "p1", "email": "p@example.com", "cio_id": p.cio_id},
            "transactional_message_id": 7,
            "recipient": "a@example.com",
            "subject": "Hi",
        },
    }


def test_without_full_resolution_only_the_first_occurrence_is_posted(tx, query, workspace):
    ws = workspace.workspace_id
    first_only = add_webhook(tx, ws, full_resolution=False)
    every = add_webhook(tx, ws, full_resolution=True)
    deliver(tx, ws, "d1", None)
    for at in (NOW, NOW + 1, NOW + 2):
        record(tx, ws, "d1", "opened", at)
    posts = query(webhook_bodies, ws)
    assert [w for w, _, _ in posts].count(first_only["id"]) == 1
    assert [b["timestamp"] for w, _, b in posts if w == every["id"]] == [NOW, NOW + 1, NOW + 2]


def test_disabled_other_channel_and_other_workspace_webhooks_get_nothing(
    tx, query, workspace, other_workspace
):
    ws, other = workspace.workspace_id, other_workspace.workspace_id
    add_webhook(tx, ws, disabled=True)
    add_webhook(tx, ws, events=["sms_sent"])
    add_webhook(tx, other)
    deliver(tx, ws, "d1", None)
    record(tx, ws, "d1", "sent")
    assert query(webhook_bodies, ws) == [] and query(webhook_bodies, other) == []


def test_bare_metric_names_cover_every_channel_and_suppressed_is_dropped(tx, query, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws, events=["clicked", "dropped"])
    deliver(tx, ws, "s1", None, channel="sms", recipient="+15550001")
    deliver(
        tx,
        ws,
        "p1",
        None,
        channel="push",
        recipient="tok",
        payload='{"type":"push","platform":"ios"}',
    )
    record(tx, ws, "s1", "clicked", href="https://x.test", link_id=1)
    record(tx, ws, "p1", "suppressed")
    (_, _, sms), (_, _, push) = query(webhook_bodies, ws)
    assert (sms["object_type"], sms["metric"]) == ("sms", "clicked")
    assert sms["data"]["href"] == "https://x.test" and sms["data"]["recipient"] == "+15550001"
    assert (push["object_type"], push["metric"]) == ("push", "dropped")
    assert push["data"]["recipients"] == [{"device_id": "tok", "device_platform": "ios"}]
    assert push["data"]["failure_message"] == "dropped"


def test_content_only_in_sent_events_of_with_content_webhooks(tx, query, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws, with_content=True)
    add_webhook(tx, ws, with_content=False)
    payload = msgspec.json.encode({"type": "email", "html": "<p>Body</p>"}).decode()
    deliver(tx, ws, "d1", None, payload=payload)
    record(tx, ws, "d1", "sent")
    record(tx, ws, "d1", "opened")
    datas = [b["data"] for _, _, b in query(webhook_bodies, ws)]
    assert [d.get("content") for d in datas] == ["<p>Body</p>", None, None, None]


def test_hard_bounces_and_complaints_block_the_address(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    deliver(tx, ws, "d1", None, recipient="Bounce@Example.com")
    deliver(tx, ws, "d2", None, recipient="spam@example.com")
    record(tx, ws, "d1", "bounced", reason="550 no such user")
    record(tx, ws, "d1", "spammed")  # the first reason stays
    record(tx, ws, "d2", "spammed")
    record(tx, ws, "elsewhere", "bounced", recipient="ext@example.com")
    record(tx, ws, "d2", "deferred")
    assert query(blocked, ws) == [
        ("bounce@example.com", "bounced", uid(ws, "d1")),
        ("ext@example.com", "bounced", uid(ws, "elsewhere")),
        ("spam@example.com", "spammed", uid(ws, "d2")),
    ]
    assert query(blocked, other_workspace.workspace_id) == []


@pytest.mark.parametrize(
    "body",
    [
        {"events": ["email_sent"]},
        {"endpoint": "ftp://x.test/", "events": ["email_sent"]},
        {"endpoint": "http://x.test/", "events": ["email_read"]},
        {"endpoint": "http://x.test/", "events": "email_sent"},
        {"endpoint": "http://x.test/", "events": [], "disabled": "no"},
    ],
)
def test_bad_webhooks_are_refused(body):
    with pytest.raises(ApiError) as caught:
        webhooks.parse(body, partial=False)
    assert caught.value.status == 400


# --- the poster ----------------------------------------------------------------


def poster(db, clock, allow=LOCAL):
    return WebhookPoster(db, clock, allow, retry=RetryPolicy(base=10, cap=3600))


def drain(p):
    while p.run_once():
        pass


def test_posts_are_signed_and_delivered_in_order(db, tx, workspace):
    ws = workspace.workspace_id
    with receive() as hook:
        created = add_webhook(tx, ws, hook.url, full_resolution=True)
        deliver(tx, ws, "d1", None)
        for at in range(NOW, NOW + 5):
            record(tx, ws, "d1", "opened", at)
        drain(poster(db, FixedClock(NOW + 10)))
        got = hook.accepted()
        assert [p.json()["timestamp"] for p in got] == list(range(NOW, NOW + 5))
        assert all(verify(p, created["signing_key"]) for p in got)
        assert all(p.headers["x-cio-timestamp"] == str(NOW + 10) for p in got)
        assert not verify(got[0], "another key")


def test_a_failing_post_holds_back_the_ones_behind_it_until_it_succeeds(db, tx, query, workspace):
    ws = workspace.workspace_id
    clock = FixedClock(NOW)
    with receive() as hook:
        hook.statuses = [503, 503]
        add_webhook(tx, ws, hook.url, full_resolution=True)
        deliver(tx, ws, "d1", None)
        record(tx, ws, "d1", "sent")
        record(tx, ws, "d1", "opened")
        p = poster(db, clock)
        drain(p)
        assert [x.json()["metric"] for x in hook.posts] == ["sent"]
        assert [s for _, s, _ in query(webhook_bodies, ws)] == ["queued", "queued"]
        clock.advance(10)  # backoff 10 s * jitter in [0.5, 1]
        drain(p)
        clock.advance(20)
        drain(p)
        assert [x.json()["metric"] for x in hook.posts] == ["sent", "sent", "sent", "opened"]
        assert [s for _, s, _ in query(webhook_bodies, ws)] == ["sent", "sent"]


def test_a_post_is_given_up_after_seven_days_and_the_queue_moves_on(db, tx, query, workspace):
    ws = workspace.workspace_id
    clock = FixedClock(NOW)
    with receive() as hook:
        hook.statuses = [500] * 1000
        add_webhook(tx, ws, hook.url)
        deliver(tx, ws, "d1", None)
        record(tx, ws, "d1", "sent")
        record(tx, ws, "d1", "opened", NOW + 86_400)
        p = poster(db, clock)
        while [s for _, s, _ in query(webhook_bodies, ws)][0] == "queued":
            clock.advance(3600)
            drain(p)
        assert NOW + 7 * 86_400 <= clock.now() <= NOW + 7 * 86_400 + 3600
        seen = [post.json()["metric"] for post in hook.posts]
        assert seen.count("sent") > 7 * 24 // 2 and "sent" not in seen[seen.count("sent") :]
        hook.statuses = []
        clock.advance(3600)
        drain(p)
        assert [s for _, s, _ in query(webhook_bodies, ws)] == ["failed", "sent"]
        assert hook.posts[-1].json()["metric"] == "opened"


def test_a_refused_address_fails_at_once(db, tx, query, workspace):
    ws = workspace.workspace_id
    with receive() as hook:
        add_webhook(tx, ws, hook.url)
        deliver(tx, ws, "d1", None)
        record(tx, ws, "d1", "sent")
        drain(poster(db, FixedClock(NOW), allow=Allowlist.parse("")))
        assert hook.posts == []
    assert [s for _, s, _ in query(webhook_bodies, ws)] == ["failed"]


def test_only_the_head_of_a_webhook_queue_is_claimable(db, tx, workspace):
    ws = workspace.workspace_id
    add_webhook(tx, ws, full_resolution=True)
    deliver(tx, ws, "d1", None)
    record(tx, ws, "d1", "opened")
    record(tx, ws, "d1", "opened")
    first = tx(webhook_queue.claim, NOW, 60)
    assert first is not None
    assert tx(webhook_queue.claim, NOW, 60) is None  # the second waits behind the leased first
    age_leases(db, webhook_queue.LEASES, 61, first.id)
    again = tx(webhook_queue.claim, NOW + 61, 60)  # the lease ran out
    assert again.id == first.id and again.attempt == 2
    assert not tx(webhook_queue.sent, first)  # the stale claim records nothing
    assert tx(webhook_queue.sent, again)
    assert tx(webhook_queue.claim, NOW + 61, 60).id > first.id


def test_deleting_a_webhook_drops_its_queue(db, tx, query, workspace):
    ws = workspace.workspace_id
    hook = add_webhook(tx, ws)
    deliver(tx, ws, "d1", None)
    record(tx, ws, "d1", "sent")
    tx(webhooks.remove, ws, hook["id"])
    assert query(webhook_bodies, ws) == []
    with pytest.raises(ApiError):
        tx(webhooks.remove, ws, hook["id"])
