"""The Twilio adapter (SMS and WhatsApp) against a fake Twilio (tests/fakes/twilio.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.twilio import FakeTwilio
from tidings.providers import twilio
from tidings.providers.base import Email, Permanent, Sent, Sms, Transient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio.running(account_sid="AC123", auth_token="s3cret") as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(fake: FakeTwilio) -> None:
    fake.messages.clear()
    fake.requests.clear()


def config(fake: FakeTwilio, **extra: Any) -> dict[str, Any]:
    return {"account_sid": "AC123", "auth_token": "s3cret", "base_url": fake.base_url, **extra}


async def test_sms_is_sent_and_connections_are_reused(fake: FakeTwilio) -> None:
    adapter = twilio.from_config(config(fake, **{"from": "+15550001111"}))
    outcomes = [await adapter.send(f"d{n}", Sms(to="+15557654321", body=f"hi {n}")) for n in (1, 2)]
    await adapter.close()
    assert all(isinstance(o, Sent) and o.provider_message_id.startswith("SM") for o in outcomes)  # type: ignore[union-attr]
    assert fake.messages == [
        {"To": "+15557654321", "From": "+15550001111", "Body": "hi 1"},
        {"To": "+15557654321", "From": "+15550001111", "Body": "hi 2"},
    ]
    assert fake.connections == 1


async def test_whatsapp_prefixes_and_the_message_sender_wins(fake: FakeTwilio) -> None:
    adapter = twilio.from_config(config(fake, **{"from": "+15550001111"}))
    sms = Sms(to="+15557654321", from_="+15550002222", body="hola", whatsapp=True)
    assert isinstance(await adapter.send("d1", sms), Sent)
    await adapter.close()
    assert fake.messages[0]["To"] == "whatsapp:+15557654321"
    assert fake.messages[0]["From"] == "whatsapp:+15550002222"


async def test_messaging_service_and_status_callback(fake: FakeTwilio) -> None:
    adapter = twilio.from_config(
        config(fake, messaging_service_sid="MG1", status_callback="https://t.example/cb")
    )
    assert isinstance(await adapter.send("d1", Sms(to="+15557654321", body="x")), Sent)
    await adapter.close()
    assert fake.messages[0]["MessagingServiceSid"] == "MG1"
    assert fake.messages[0]["StatusCallback"] == "https://t.example/cb"


async def test_the_message_status_url_is_the_callback_unless_the_config_names_one(
    fake: FakeTwilio,
) -> None:
    sms = Sms(to="+15557654321", from_="+15550001111", body="x", status_url="https://t/w/d1")
    adapter = twilio.from_config(config(fake))
    assert isinstance(await adapter.send("d1", sms), Sent)
    await adapter.close()
    adapter = twilio.from_config(config(fake, status_callback="https://mine.example/cb"))
    assert isinstance(await adapter.send("d1", sms), Sent)
    await adapter.close()
    assert [m["StatusCallback"] for m in fake.messages] == [
        "https://t/w/d1",
        "https://mine.example/cb",
    ]


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, 21610, Permanent),  # the recipient replied STOP
        (400, 21408, Permanent),  # region not enabled
        (404, 20404, Permanent),
        (429, 20429, Transient),
        (500, 20500, Transient),
        (503, 20503, Transient),
    ],
)
async def test_errors_are_classified(fake: FakeTwilio, status: int, code: int, kind: type) -> None:
    adapter = twilio.from_config(config(fake, **{"from": "+15550001111"}))
    fake.fail_next(1, status, code=code)
    outcome = await adapter.send("d1", Sms(to="+15557654321", body="x"))
    await adapter.close()
    assert isinstance(outcome, kind) and f"twilio {status}: {code}" in outcome.reason


async def test_an_invalid_number_is_permanent(fake: FakeTwilio) -> None:
    adapter = twilio.from_config(config(fake, **{"from": "+15550001111"}))
    outcome = await adapter.send("d1", Sms(to="555-CALL-ME", body="x"))
    await adapter.close()
    assert isinstance(outcome, Permanent) and "21211" in outcome.reason


async def test_wrong_credentials_are_transient(fake: FakeTwilio) -> None:
    adapter = twilio.from_config(config(fake, auth_token="wrong", **{"from": "+15550001111"}))
    outcome = await adapter.send("d1", Sms(to="+15557654321", body="x"))
    await adapter.close()
    assert isinstance(outcome, Transient) and "20003" in outcome.reason


async def test_unreachable_is_transient() -> None:
    with FakeTwilio.running() as gone:
        base_url = gone.base_url
    adapter = twilio.from_config(
        {"account_sid": "AC1", "auth_token": "t", "base_url": base_url, "from": "+15550001111"}
    )
    outcome = await adapter.send("d1", Sms(to="+15557654321", body="x"))
    await adapter.close()
    assert isinstance(outcome, Transient) and "unreachable" in outcome.reason


async def test_no_sender_and_wrong_channel_are_permanent(fake: FakeTwilio) -> None:
    adapter = twilio.from_config(config(fake))
    no_sender = await adapter.send("d1", Sms(to="+15557654321", body="x"))
    email = await adapter.send("d2", Email(message_id="<a@b>", from_="a@b.c", to=["d@e.f"]))
    await adapter.close()
    assert isinstance(no_sender, Permanent) and isinstance(email, Permanent)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"auth_token": "t"}, "missing required field `account_sid`"),
        ({"account_sid": "", "auth_token": "t"}, "must not be empty"),
        ({"account_sid": "A", "auth_token": "t", "base_url": "ftp://x"}, "base_url"),
        ({"account_sid": "A", "auth_token": "t", "timeout": "soon"}, "$.timeout"),
        ({"account_sid": "A", "auth_token": "t", "sender": "x"}, "unknown field `sender`"),
    ],
)
def test_bad_config_is_refused(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="twilio provider config") as info:
        twilio.from_config(bad)
    assert message in str(info.value)
