"""The APNs adapter against a fake APNs over HTTP/2 and TLS (tests/fakes/apns.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.apns import FakeApns
from tests.fakes.tls import TestCA
from tidings.clock import FixedClock
from tidings.providers import apns
from tidings.providers.base import Permanent, Push, Sent, Sms, Transient

pytestmark = pytest.mark.anyio

DEVICE = "a" * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("apns-ca"))


@pytest.fixture
def fake(ca: TestCA) -> Iterator[FakeApns]:
    with FakeApns.running(ca) as server:
        yield server


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(time.time())


def push(token: str = DEVICE, **fields: Any) -> Push:
    return Push(token=token, platform="ios", **fields)


async def test_sends_an_alert_with_a_stable_apns_id(
    fake: FakeApns, ca: TestCA, clock: FixedClock
) -> None:
    adapter = apns.from_config(fake.config(ca), clock=clock)
    message = push(
        title="Hi",
        message="Shipped",
        sound="default",
        link="app://orders/1",
        image_url="https://e.com/i.png",
        custom_data={"order": "1"},
    )
    outcome = await adapter.send("delivery-1", message)
    again = await adapter.send("delivery-1", message)
    await adapter.close()
    assert outcome == again == Sent(apns.apns_id("delivery-1"))
    [first, second] = fake.sent
    assert first.headers["apns-id"] == second.headers["apns-id"] == apns.apns_id("delivery-1")
    assert (first.headers["apns-topic"], first.headers["apns-push-type"]) == (
        "com.example.app",
        "alert",
    )
    assert first.headers["apns-priority"] == "10"
    assert first.payload == {
        "aps": {
            "alert": {"title": "Hi", "body": "Shipped"},
            "sound": "default",
            "mutable-content": 1,
        },
        "CIO": {"push": {"link": "app://orders/1", "image": "https://e.com/i.png"}},
        "order": "1",
    }
    assert apns.apns_id("delivery-2") != apns.apns_id("delivery-1")


async def test_one_http2_connection_and_one_token_for_many_sends(
    fake: FakeApns, ca: TestCA, clock: FixedClock
) -> None:
    adapter = apns.from_config(fake.config(ca), clock=clock)
    outcomes = await asyncio.gather(*(adapter.send(f"d{n}", push(title="x")) for n in range(10)))
    assert all(isinstance(o, Sent) for o in outcomes)
    assert fake.connections == 1 and len(fake.provider_tokens) == 1
    assert {r.http_version for r in fake.requests} == {"2"}
    clock.advance(49 * 60)
    assert isinstance(await adapter.send("d11", push(title="x")), Sent)
    assert len(fake.provider_tokens) == 1
    clock.advance(2 * 60)  # 51 minutes: a new token
    assert isinstance(await adapter.send("d12", push(title="x")), Sent)
    await adapter.close()
    assert len(fake.provider_tokens) == 2


async def test_an_expired_provider_token_is_replaced(
    fake: FakeApns, ca: TestCA, clock: FixedClock
) -> None:
    adapter = apns.from_config(fake.config(ca), clock=clock)
    assert isinstance(await adapter.send("d1", push(title="x")), Sent)
    fake.expire_provider_tokens()
    expired = await adapter.send("d2", push(title="x"))
    retried = await adapter.send("d2", push(title="x"))
    await adapter.close()
    assert expired == Transient("apns 403 ExpiredProviderToken")
    assert isinstance(retried, Sent) and len(fake.provider_tokens) == 2


async def test_a_key_apple_does_not_know_is_transient(
    fake: FakeApns, ca: TestCA, clock: FixedClock
) -> None:
    with FakeApns.running(ca) as other:
        config = {**fake.config(ca), "private_key": other.config(ca)["private_key"]}
    adapter = apns.from_config(config, clock=clock)
    outcome = await adapter.send("d1", push(title="x"))
    await adapter.close()
    assert outcome == Transient("apns 403 InvalidProviderToken") and fake.sent == []


@pytest.mark.parametrize(
    ("device", "script", "expected"),
    [
        ("b" * 64, None, Permanent("apns 410 Unregistered")),
        ("not-hex", None, Permanent("apns 400 BadDeviceToken")),
        (DEVICE, (413, "PayloadTooLarge"), Permanent("apns 413 PayloadTooLarge")),
        (DEVICE, (429, "TooManyRequests"), Transient("apns 429 TooManyRequests")),
        (DEVICE, (500, "InternalServerError"), Transient("apns 500 InternalServerError")),
        (DEVICE, (503, "ServiceUnavailable"), Transient("apns 503 ServiceUnavailable")),
    ],
)
async def test_answers_are_classified(
    fake: FakeApns,
    ca: TestCA,
    clock: FixedClock,
    device: str,
    script: tuple[int, str] | None,
    expected: Any,
) -> None:
    fake.unregister("b" * 64)
    if script:
        fake.fail_next(1, *script)
    adapter = apns.from_config(fake.config(ca), clock=clock)
    outcome = await adapter.send("d1", push(device, title="x"))
    await adapter.close()
    assert outcome == expected


async def test_wrong_topic_is_permanent(fake: FakeApns, ca: TestCA, clock: FixedClock) -> None:
    adapter = apns.from_config({**fake.config(ca), "topic": "com.other.app"}, clock=clock)
    outcome = await adapter.send("d1", push(title="x"))
    await adapter.close()
    assert outcome == Permanent("apns 400 DeviceTokenNotForTopic")


async def test_background_push_and_custom_payload(
    fake: FakeApns, ca: TestCA, clock: FixedClock
) -> None:
    adapter = apns.from_config(fake.config(ca), clock=clock)
    custom = {"aps": {"badge": 3}, "CIO": {"push": {"link": "app://x"}}, "extra": [1, 2]}
    assert isinstance(await adapter.send("d1", push(custom_payload=custom)), Sent)
    await adapter.close()
    [sent] = fake.sent
    assert (sent.headers["apns-push-type"], sent.headers["apns-priority"]) == ("background", "5")
    assert sent.payload == {
        "aps": {"content-available": 1, "badge": 3},
        "CIO": {"push": {"link": "app://x"}},
        "extra": [1, 2],
    }


async def test_untrusted_server_and_unreachable_are_transient(
    fake: FakeApns, ca: TestCA, clock: FixedClock
) -> None:
    untrusted = apns.from_config({**fake.config(ca), "verify": True}, clock=clock)
    tls_refused = await untrusted.send("d1", push(title="x"))
    await untrusted.close()
    with FakeApns.running(ca) as gone:
        config = gone.config(ca)
    unreachable = apns.from_config(config, clock=clock)
    refused = await unreachable.send("d1", push(title="x"))
    wrong_channel = await unreachable.send("d2", Sms(to="+15550100"))
    await unreachable.close()
    assert isinstance(tls_refused, Transient) and "unreachable" in tls_refused.reason
    assert isinstance(refused, Transient) and "unreachable" in refused.reason
    assert isinstance(wrong_channel, Permanent)


def test_environment_picks_apples_host(fake: FakeApns, ca: TestCA) -> None:
    config = {k: v for k, v in fake.config(ca).items() if k != "base_url"}
    assert apns.from_config(config).base == "https://api.push.apple.com"
    sandbox = apns.from_config({**config, "environment": "sandbox"})
    assert sandbox.base == "https://api.sandbox.push.apple.com"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topic": ""}, "must not be empty"),
        ({"environment": "staging"}, "$.environment"),
        ({"private_key": "nope"}, "not a PEM key"),
        ({"team": "x"}, "unknown field `team`"),
    ],
)
def test_bad_config_is_refused(
    fake: FakeApns, ca: TestCA, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="apns provider config") as info:
        apns.from_config({**fake.config(ca), **change})
    assert message in str(info.value)


def test_an_rsa_key_is_refused(ca: TestCA) -> None:
    from tests.fakes.fcm import FakeFcm

    rsa_pem = FakeFcm().service_account()["private_key"]
    config = {"key_id": "K", "team_id": "T", "topic": "t", "private_key": rsa_pem}
    with pytest.raises(ValueError, match="EC"):
        apns.from_config(config)
