"""Twilio status callbacks (`reporting.sms_status`): signed posts become SMS metrics, and
the reporting webhooks hear of them as `sms_*` events."""

import msgspec
import pytest
from sqlalchemy import insert, select, update

from tests.factories import add_delivery, recorded_metrics, webhook_bodies
from tests.fakes.twilio import sign
from tidings.db.schema import blocked_addresses, providers, webhook_posts
from tidings.errors import ApiError
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.reporting import sms_status, webhooks

NOW = 1_700_000_000
BASE = "https://t.example.com"
TOKEN = "s3cret"


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


def sms_delivery(tx, ws, name="d1", kind="twilio"):
    """A sent SMS of a person, in a workspace whose SMS goes through `kind`."""
    delivery_id = f"w{ws}-{name}"
    p = tx(service.identify, ws, classify("p1"), service.parse_identify({}, NOW), NOW)
    config = msgspec.json.encode({"account_sid": "AC1", "auth_token": TOKEN}).decode()
    row = {"workspace_id": ws, "channel": "sms", "kind": kind, "config": config, "updated_at": 0}
    tx(lambda conn: conn.execute(insert(providers).values(row)))
    tx(lambda conn: add_delivery(conn, ws, delivery_id, p.pk, channel="sms", recipient="+1555"))
    return delivery_id, p


def post(tx, delivery_id, status, *, token=TOKEN, error_code="", at=NOW + 10):
    url = sms_status.callback_url(BASE, delivery_id)
    form = {"MessageSid": "SM1", "MessageStatus": status, "ErrorCode": error_code, "To": "+1555"}
    return tx(
        sms_status.record_status, delivery_id, url, list(form.items()), sign(token, url, form), at
    )


def metrics_of(query, ws):
    return [(m, t, data) for _, m, t, data in query(recorded_metrics, ws)]


def test_delivered_is_recorded_once_and_posted_as_sms_delivered(tx, query, workspace):
    ws = workspace.workspace_id
    body = {"endpoint": "http://127.0.0.1:9/hook", "events": ["sms_delivered"]}
    tx(webhooks.create, ws, webhooks.parse(body, partial=False), NOW)
    delivery_id, p = sms_delivery(tx, ws)
    assert [post(tx, delivery_id, s) for s in ("queued", "sent", "delivered", "delivered")] == [
        None,
        None,
        "delivered",
        None,
    ]
    assert metrics_of(query, ws) == [("delivered", NOW + 10, {"provider_message_id": "SM1"})]
    [(_, _, event)] = query(webhook_bodies, ws)
    assert (event["object_type"], event["metric"]) == ("sms", "delivered")
    assert event["data"]["delivery_id"] == delivery_id
    assert event["data"]["recipient"] == "+1555"
    assert event["data"]["identifiers"]["cio_id"] == p.cio_id


def blocked(query, ws):
    """The workspace's blocked addresses, with their reasons."""
    rows = query(
        lambda c: c.execute(
            select(blocked_addresses.c.address, blocked_addresses.c.reason).where(
                blocked_addresses.c.workspace_id == ws
            )
        ).all()
    )
    return [tuple(row) for row in rows]


# Codes naming the number (Twilio's error dictionary): invalid, opted out, not mobile,
# blocked, unknown handset, landline.
NUMBER_CODES = ["21211", "21610", "21614", "30004", "30005", "30006"]
# Codes naming the moment or the message: handset off or out of coverage, queue overflow,
# content filtered, unknown error; and none at all.
OTHER_CODES = ["30003", "30001", "30007", "30008", ""]


@pytest.mark.parametrize("status", ["undelivered", "failed"])
@pytest.mark.parametrize("code", NUMBER_CODES)
def test_a_code_naming_the_number_bounces_and_blocks_it(tx, query, workspace, status, code):
    ws = workspace.workspace_id
    body = {"endpoint": "http://127.0.0.1:9/hook", "events": ["sms_bounced"]}
    tx(webhooks.create, ws, webhooks.parse(body, partial=False), NOW)
    delivery_id, _ = sms_delivery(tx, ws)
    assert post(tx, delivery_id, status, error_code=code) == "bounced"
    reason = f"twilio error {code}"
    assert metrics_of(query, ws) == [
        ("bounced", NOW + 10, {"provider_message_id": "SM1", "reason": reason})
    ]
    assert blocked(query, ws) == [("+1555", "bounced")]
    [(_, _, event)] = query(webhook_bodies, ws)
    assert (event["metric"], event["data"]["failure_message"]) == ("bounced", reason)


@pytest.mark.parametrize("status", ["undelivered", "failed"])
@pytest.mark.parametrize("code", OTHER_CODES)
def test_any_other_code_fails_the_message_and_blocks_nothing(tx, query, workspace, status, code):
    ws = workspace.workspace_id
    body = {"endpoint": "http://127.0.0.1:9/hook", "events": ["sms_failed"]}
    tx(webhooks.create, ws, webhooks.parse(body, partial=False), NOW)
    delivery_id, _ = sms_delivery(tx, ws)
    assert post(tx, delivery_id, status, error_code=code) == "failed"
    reason = f"twilio error {code or 'unknown'}"
    assert metrics_of(query, ws) == [
        ("failed", NOW + 10, {"provider_message_id": "SM1", "reason": reason})
    ]
    assert blocked(query, ws) == []
    [(_, _, event)] = query(webhook_bodies, ws)
    assert (event["metric"], event["data"]["failure_message"]) == ("failed", reason)


def test_a_bad_signature_or_a_channel_not_on_twilio_is_a_403(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    delivery_id, _ = sms_delivery(tx, ws)
    with pytest.raises(ApiError) as refused:
        post(tx, delivery_id, "delivered", token="not-the-token")
    assert refused.value.status == 403
    other, _ = sms_delivery(tx, other_workspace.workspace_id, kind="capture")
    with pytest.raises(ApiError) as refused:
        post(tx, other, "delivered")
    assert refused.value.status == 403
    assert metrics_of(query, ws) == []


def test_an_unknown_delivery_is_a_404(tx):
    with pytest.raises(ApiError) as refused:
        post(tx, "no-such-delivery", "delivered")
    assert refused.value.status == 404
