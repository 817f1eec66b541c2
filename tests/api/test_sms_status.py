"""End to end: an SMS sent through a fake Twilio (tests/fakes/twilio.py) names this
server's status callback, and Twilio's signed status posts become its metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import recorded_metrics
from tests.fakes.twilio import FakeTwilio
from tests.support import eventually
from tidings.templates import transactional_messages
from tidings.templates.definitions import Definition
from tidings.workspaces import channel_providers


@pytest.fixture
def twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio.running(account_sid="AC77", auth_token="t0ken") as fake:
        yield fake


def send_sms(api: Any, db: Any, fake: FakeTwilio) -> str:
    """The delivery id of an SMS the worker sent to `fake`."""
    config = {"account_sid": "AC77", "auth_token": "t0ken", "base_url": fake.base_url}
    config["from"] = "+15550001111"
    with db.writer.begin() as conn:
        channel_providers.put(conn, api.creds.workspace_id, "sms", "twilio", config, 0)
        contents = (("", {"body": "Your code is {{ trigger.code }}"}),)
        definition = Definition(
            name="Code", trigger_name="sms-status", channel="sms", contents=contents
        )
        if transactional_messages.by_trigger(conn, api.creds.workspace_id, "sms-status") is None:
            transactional_messages.create(conn, api.creds.workspace_id, definition, 0)
    sent = api.app(
        "POST",
        "/v1/send/sms",
        json={
            "identifiers": {"id": "sms-status"},
            "transactional_message_id": "sms-status",
            "to": "+15557654321",
            "message_data": {"code": "1234"},
        },
    )
    assert sent.status_code == 200, sent.text
    eventually(lambda: fake.messages, timeout=15)
    return str(sent.json()["delivery_id"])


def post(api: Any, url: str, form: dict[str, str], headers: dict[str, str]) -> int:
    return int(api.http.post(url, data=form, headers=headers).status_code)


def metrics_of(query: Any, workspace_id: int, delivery_id: str) -> list[tuple[str, dict]]:
    rows = query(recorded_metrics, workspace_id)
    return [(metric, data) for d, metric, _, data in rows if d == delivery_id]


def test_status_posts_become_metrics_once(api, db, query, twilio_server) -> None:
    delivery_id = send_sms(api, db, twilio_server)
    callback = twilio_server.messages[0]["StatusCallback"]
    assert callback == f"{api.server.url}/webhooks/twilio/{delivery_id}"
    for status in ("sent", "delivered", "delivered"):  # Twilio may repeat a status
        assert post(api, *twilio_server.status_post(0, status)) == 204
    sid = twilio_server.sids[0]
    assert ("delivered", {"provider_message_id": sid}) in metrics_of(
        query, api.creds.workspace_id, delivery_id
    )
    assert [m for m, _ in metrics_of(query, api.creds.workspace_id, delivery_id)].count(
        "delivered"
    ) == 1


def test_a_post_not_signed_with_the_auth_token_is_refused(api, db, query, twilio_server) -> None:
    delivery_id = send_sms(api, db, twilio_server)
    url, form, headers = twilio_server.status_post(0, "undelivered", "30005")
    assert post(api, url, form, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}) == 403
    assert post(api, url, {**form, "MessageStatus": "delivered"}, headers) == 403  # edited
    assert post(api, url, form, {}) == 403
    recorded = [m for m, _ in metrics_of(query, api.creds.workspace_id, delivery_id)]
    assert "bounced" not in recorded and "delivered" not in recorded
    assert post(api, url, form, headers) == 204
    assert (
        "bounced",
        {"provider_message_id": twilio_server.sids[0]} | {"reason": "twilio error 30005"},
    ) in metrics_of(query, api.creds.workspace_id, delivery_id)


def test_an_unknown_delivery_is_a_404(api, twilio_server) -> None:
    url = f"{api.server.url}/webhooks/twilio/no-such-delivery"
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    headers = {"X-Twilio-Signature": "AAAA"}
    assert post(api, url, form, headers) == 404
