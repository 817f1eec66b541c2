"""The FCM HTTP v1 adapter against a fake FCM and token endpoint (tests/fakes/fcm.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.fcm import FakeFcm
from tidings.clock import FixedClock
from tidings.providers import fcm
from tidings.providers.base import Permanent, Push, Sent, Sms, Transient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[FakeFcm]:
    with FakeFcm.running() as server:
        yield server


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(time.time())


def push(token: str = "device-1", **fields: Any) -> Push:
    return Push(token=token, platform="android", **fields)


async def test_sends_a_notification_with_data(fake: FakeFcm, clock: FixedClock) -> None:
    adapter = fcm.from_config(fake.service_account(), clock=clock)
    message = push(
        title="Hi",
        message="Your order shipped",
        image_url="https://e.com/i.png",
        link="app://orders/1",
        sound="default",
        custom_data={"order": "1"},
    )
    outcome = await adapter.send("d1", message)
    await adapter.close()
    assert isinstance(outcome, Sent) and outcome.provider_message_id.startswith(  # type: ignore[union-attr]
        "projects/fake-project/messages/0:"
    )
    assert fake.sent == [
        {
            "token": "device-1",
            "notification": {
                "title": "Hi",
                "body": "Your order shipped",
                "image": "https://e.com/i.png",
            },
            "data": {"order": "1", "link": "app://orders/1"},
            "android": {"notification": {"sound": "default"}},
            "apns": {"payload": {"aps": {"sound": "default"}}},
        }
    ]


async def test_one_token_for_many_sends_refreshed_before_expiry(
    fake: FakeFcm, clock: FixedClock
) -> None:
    adapter = fcm.from_config(fake.service_account(), clock=clock)
    await asyncio.gather(*(adapter.send(f"d{n}", push()) for n in range(5)))
    assert len(fake.token_requests) == 1
    clock.advance(3600 - 61)
    assert isinstance(await adapter.send("d6", push()), Sent)
    assert len(fake.token_requests) == 1
    clock.advance(2)  # within a minute of expiry: replaced
    assert isinstance(await adapter.send("d7", push()), Sent)
    await adapter.close()
    assert len(fake.token_requests) == 2 and len(fake.sent) == 7
    first = fake.token_requests[0]
    assert first["iss"] == "tidings@fake-project.iam.gserviceaccount.com"
    assert first["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert first["aud"] == fake.token_uri


async def test_a_rejected_access_token_is_dropped(fake: FakeFcm, clock: FixedClock) -> None:
    adapter = fcm.from_config(fake.service_account(), clock=clock)
    assert isinstance(await adapter.send("d1", push()), Sent)
    fake.revoke_access_tokens()
    rejected = await adapter.send("d2", push())
    retried = await adapter.send("d2", push())
    await adapter.close()
    assert isinstance(rejected, Transient) and "401" in rejected.reason
    assert isinstance(retried, Sent) and len(fake.token_requests) == 2


async def test_a_refused_assertion_is_transient(fake: FakeFcm, clock: FixedClock) -> None:
    adapter = fcm.from_config(fake.service_account(), clock=clock)
    fake.fail_token_requests(1)
    refused = await adapter.send("d1", push())
    later = await adapter.send("d1", push())
    await adapter.close()
    assert isinstance(refused, Transient) and "Invalid JWT Signature" in refused.reason
    assert isinstance(later, Sent)


async def test_a_key_of_another_account_is_refused_by_the_token_endpoint(
    fake: FakeFcm, clock: FixedClock
) -> None:
    with FakeFcm.running() as other:
        config = {**fake.service_account(), "private_key": other.service_account()["private_key"]}
    adapter = fcm.from_config(config, clock=clock)
    outcome = await adapter.send("d1", push())
    await adapter.close()
    assert isinstance(outcome, Transient) and "Signature verification failed" in outcome.reason
    assert fake.sent == []


async def test_unregistered_token_is_permanent(fake: FakeFcm, clock: FixedClock) -> None:
    fake.unregister("gone")
    adapter = fcm.from_config(fake.service_account(), clock=clock)
    outcome = await adapter.send("d1", push("gone"))
    await adapter.close()
    assert isinstance(outcome, Permanent) and "UNREGISTERED" in outcome.reason


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "INVALID_ARGUMENT", Permanent),
        (403, "SENDER_ID_MISMATCH", Permanent),
        (429, "QUOTA_EXCEEDED", Transient),
        (500, "INTERNAL", Transient),
        (503, "UNAVAILABLE", Transient),
        (401, "THIRD_PARTY_AUTH_ERROR", Transient),
    ],
)
async def test_errors_are_classified(
    fake: FakeFcm, clock: FixedClock, status: int, code: str, kind: type
) -> None:
    adapter = fcm.from_config(fake.service_account(), clock=clock)
    fake.fail_next(1, status, code)
    outcome = await adapter.send("d1", push())
    await adapter.close()
    assert isinstance(outcome, kind) and f"fcm {status} {code}" in outcome.reason


async def test_custom_payload_overrides_and_data_becomes_strings(
    fake: FakeFcm, clock: FixedClock
) -> None:
    payload = {
        "message": {
            "notification": {"title": "Custom"},
            "data": {"n": 1, "nested": {"a": True}},
            "android": {"priority": "high"},
            "token": "not-this-one",
        }
    }
    adapter = fcm.from_config(fake.service_account(), clock=clock)
    outcome = await adapter.send("d1", push(title="Hi", message="Body", custom_payload=payload))
    await adapter.close()
    assert isinstance(outcome, Sent)
    assert fake.sent == [
        {
            "token": "device-1",
            "notification": {"title": "Custom", "body": "Body"},
            "data": {"n": "1", "nested": '{"a":true}'},
            "android": {"priority": "high"},
        }
    ]


async def test_unreachable_and_wrong_channel(clock: FixedClock) -> None:
    with FakeFcm.running() as gone:
        config = gone.service_account()
    adapter = fcm.from_config(config, clock=clock)
    unreachable = await adapter.send("d1", push())
    sms = await adapter.send("d2", Sms(to="+15550100"))
    await adapter.close()
    assert isinstance(unreachable, Transient) and "unreachable" in unreachable.reason
    assert isinstance(sms, Permanent)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"project_id": None}, "missing required field `project_id`"),
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"}, "PEM"),
        ({"client_email": ""}, "must not be empty"),
        ({"token_uri": "file:///etc/passwd"}, "must be an http(s) URL"),
    ],
)
def test_bad_config_is_refused(fake: FakeFcm, change: dict[str, Any], message: str) -> None:
    config = {k: v for k, v in {**fake.service_account(), **change}.items() if v is not None}
    with pytest.raises(ValueError, match="fcm provider config") as info:
        fcm.from_config(config)
    assert message in str(info.value)
