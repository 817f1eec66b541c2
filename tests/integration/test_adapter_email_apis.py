"""The HTTP email adapters (SES, SendGrid, Postmark, Mailgun) against fakes that speak
each provider's protocol (tests/fakes/esp.py): the request as the provider checks it,
and success, transient and permanent outcomes."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.esp import FakeEsp, FakeMailgun, FakePostmark, FakeSendgrid, FakeSes
from tidings.providers import mailgun, postmark, sendgrid, ses
from tidings.providers.adapters import FACTORIES, Services, check_config
from tidings.providers.base import Attachment, Email, Permanent, Sent, Sms, Transient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Case:
    kind: str
    fake: type[FakeEsp]
    config: Callable[[Any], dict[str, Any]]
    delivery_of: Callable[[dict[str, Any]], str]  # the delivery id a sent message carries

    def __str__(self) -> str:
        return self.kind


CASES = [
    Case(
        "ses",
        FakeSes,
        lambda f: {
            "region": f.region,
            "access_key_id": f.access_key_id,
            "secret_access_key": f.secret_access_key,
            "base_url": f.base_url,
            "configuration_set": "events",
        },
        lambda m: m["EmailTags"][0]["Value"],
    ),
    Case(
        "sendgrid",
        FakeSendgrid,
        lambda f: {"api_key": f.api_key, "base_url": f.base_url},
        lambda m: m["personalizations"][0]["custom_args"]["tidings_delivery_id"],
    ),
    Case(
        "postmark",
        FakePostmark,
        lambda f: {"server_token": f.server_token, "base_url": f.base_url},
        lambda m: m["Metadata"]["tidings_delivery_id"],
    ),
    Case(
        "mailgun",
        FakeMailgun,
        lambda f: {"api_key": f.api_key, "domain": f.domain, "base_url": f.base_url},
        lambda m: m["form"]["v:tidings_delivery_id"][0],
    ),
]


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def fake(case: Case) -> Iterator[Any]:
    with case.fake.running() as server:
        yield server


def adapter_for(case: Case, config: dict[str, Any]) -> Any:
    check_config(case.kind, config)
    return FACTORIES[case.kind](config, 1, "email", Services(write=print, clock=None))


def email(**overrides: Any) -> Email:
    fields: dict[str, Any] = {
        "message_id": "<d1@tidings.test>",
        "from_": "Shop <shop@example.com>",
        "to": ["Ann <ann@example.org>"],
        "subject": "Your order",
        "html": "<p>Shipped</p>",
        "unsubscribe_url": "https://t.example/u/d1",
        **overrides,
    }
    return Email(**fields)


async def test_a_message_is_sent_with_the_delivery_in_its_metadata(case: Case, fake: Any) -> None:
    adapter = adapter_for(case, case.config(fake))
    outcomes = [await adapter.send(f"dlv-{n}", email()) for n in (1, 2)]
    await adapter.close()
    assert [type(o) for o in outcomes] == [Sent, Sent]
    assert [o.provider_message_id for o in outcomes] == [m["message_id"] for m in fake.messages]
    assert [case.delivery_of(m) for m in fake.messages] == ["dlv-1", "dlv-2"]
    assert fake.connections == 1  # the client is pooled


async def test_ses_sends_the_raw_message_signed_with_sigv4() -> None:
    with FakeSes.running() as fake:
        adapter = adapter_for(CASES[0], CASES[0].config(fake))
        message = email(
            cc=["c@example.org"], bcc=["hidden@example.org"], headers={"X-Campaign": "7"}
        )
        assert isinstance(await adapter.send("dlv-1", message), Sent)
        await adapter.close()
    (sent,) = fake.messages
    assert sent["Destination"] == {
        "ToAddresses": ["ann@example.org"],
        "CcAddresses": ["c@example.org"],
        "BccAddresses": ["hidden@example.org"],
    }
    assert sent["FromEmailAddress"] == "shop@example.com"
    assert sent["ConfigurationSetName"] == "events"
    raw = sent["raw"]
    assert raw["X-Tidings-Delivery-Id"] == "dlv-1"
    assert raw["Message-ID"] == "<d1@tidings.test>"
    assert raw["List-Unsubscribe"] == "<https://t.example/u/d1>"
    assert raw["X-Campaign"] == "7" and raw["Bcc"] is None
    assert "Shipped" in raw.get_body(("html",)).get_content()
    authorization = fake.requests[0].headers["authorization"]
    assert "/eu-west-1/ses/aws4_request" in authorization
    assert "SignedHeaders=content-type;host;x-amz-date," in authorization


async def test_sendgrid_sends_its_json_shape() -> None:
    with FakeSendgrid.running() as fake:
        adapter = adapter_for(CASES[1], CASES[1].config(fake))
        attachment = Attachment("a.txt", "text/plain", base64.b64encode(b"hi").decode())
        message = email(reply_to="help@example.com", text="Shipped", attachments=[attachment])
        assert isinstance(await adapter.send("dlv-1", message), Sent)
        await adapter.close()
    (sent,) = fake.messages
    assert sent["from"] == {"email": "shop@example.com", "name": "Shop"}
    assert sent["personalizations"][0]["to"] == [{"email": "ann@example.org", "name": "Ann"}]
    assert sent["reply_to"] == {"email": "help@example.com"}
    assert [c["type"] for c in sent["content"]] == ["text/plain", "text/html"]
    assert sent["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent["attachments"][0] == {
        "content": "aGk=",
        "filename": "a.txt",
        "type": "text/plain",
        "disposition": "attachment",
    }


async def test_postmark_sends_its_json_shape() -> None:
    with FakePostmark.running() as fake:
        config = {**CASES[2].config(fake), "message_stream": "broadcasts"}
        adapter = adapter_for(CASES[2], config)
        assert isinstance(await adapter.send("dlv-1", email(cc=["c@example.org"])), Sent)
        await adapter.close()
    (sent,) = fake.messages
    assert (sent["From"], sent["To"], sent["Cc"]) == (
        "Shop <shop@example.com>",
        "Ann <ann@example.org>",
        "c@example.org",
    )
    assert sent["MessageStream"] == "broadcasts"
    assert sent["HtmlBody"] == "<p>Shipped</p>" and "Shipped" in sent["TextBody"]
    assert {"Name": "List-Unsubscribe", "Value": "<https://t.example/u/d1>"} in sent["Headers"]


async def test_mailgun_sends_a_multipart_form() -> None:
    with FakeMailgun.running() as fake:
        adapter = adapter_for(CASES[3], CASES[3].config(fake))
        attachment = Attachment("a.txt", "text/plain", base64.b64encode(b"hi").decode())
        message = email(to=["a@example.org", "b@example.org"], attachments=[attachment])
        assert isinstance(await adapter.send("dlv-1", message), Sent)
        await adapter.close()
    (sent,) = fake.messages
    form = sent["form"]
    assert form["to"] == ["a@example.org", "b@example.org"]
    assert form["html"] == ["<p>Shipped</p>"]
    assert form["h:List-Unsubscribe"] == ["<https://t.example/u/d1>"]
    assert sent["files"] == [("a.txt", "text/plain", b"hi")]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_are_transient(
    case: Case, fake: Any, status: int
) -> None:
    adapter = adapter_for(case, case.config(fake))
    fake.fail_next(1, status)
    outcome = await adapter.send("dlv-1", email())
    retried = await adapter.send("dlv-1", email())
    await adapter.close()
    assert isinstance(outcome, Transient) and f"{case.kind} {status}" in outcome.reason
    assert isinstance(retried, Sent)


async def test_a_bad_address_is_permanent(case: Case, fake: Any) -> None:
    adapter = adapter_for(case, case.config(fake))
    outcome = await adapter.send("dlv-1", email(to=["nobody-at-example.org <x@y>"]))
    await adapter.close()
    assert isinstance(outcome, Permanent) and f"{case.kind} 4" in outcome.reason
    assert fake.messages == []


async def test_wrong_credentials_are_transient(case: Case, fake: Any) -> None:
    config = case.config(fake)
    secret = {"ses": "secret_access_key", "sendgrid": "api_key", "postmark": "server_token"}
    config[secret.get(case.kind, "api_key")] = "wrong"
    adapter = adapter_for(case, config)
    outcome = await adapter.send("dlv-1", email())
    await adapter.close()
    assert isinstance(outcome, Transient) and f"{case.kind} 40" in outcome.reason


async def test_unreachable_is_transient(case: Case) -> None:
    with case.fake.running() as gone:
        config = case.config(gone)
    adapter = adapter_for(case, config)
    outcome = await adapter.send("dlv-1", email())
    await adapter.close()
    assert isinstance(outcome, Transient) and "unreachable" in outcome.reason


async def test_other_channels_and_no_recipient_are_permanent(case: Case, fake: Any) -> None:
    adapter = adapter_for(case, case.config(fake))
    sms = await adapter.send("dlv-1", Sms(to="+15557654321", body="x"))
    nobody = await adapter.send("dlv-2", email(to=[]))
    await adapter.close()
    assert isinstance(sms, Permanent) and isinstance(nobody, Permanent)
    assert fake.requests == []


async def test_postmark_inactive_recipient_is_permanent_and_a_paused_account_transient() -> None:
    import httpx

    with FakePostmark.running() as fake:
        adapter = adapter_for(CASES[2], CASES[2].config(fake))
        inactive = await adapter.send("dlv-1", email(to=["inactive@example.org"]))
        await adapter.close()
    assert isinstance(inactive, Permanent) and "406" in inactive.reason
    paused = httpx.Response(422, json={"ErrorCode": 405, "Message": "Not allowed to send"})
    assert isinstance(postmark.classify(paused), Transient)


def test_ses_throttling_reported_as_400_is_transient() -> None:
    import httpx

    throttled = httpx.Response(
        400,
        json={"message": "Maximum sending rate exceeded."},
        headers={"x-amzn-ErrorType": "LimitExceededException:"},
    )
    rejected = httpx.Response(
        400,
        json={"message": "Email address is not verified."},
        headers={"x-amzn-ErrorType": "MessageRejected:"},
    )
    assert isinstance(ses.classify(throttled), Transient)
    assert isinstance(ses.classify(rejected), Permanent)


@pytest.mark.parametrize(
    ("module", "bad", "message"),
    [
        (ses, {"access_key_id": "a", "secret_access_key": "s"}, "missing required field `region`"),
        (ses, {"region": "r", "access_key_id": "", "secret_access_key": "s"}, "must not be empty"),
        (
            ses,
            {"region": "r", "access_key_id": "a", "secret_access_key": "s", "sns_certificate": "x"},
            "PEM",
        ),
        (sendgrid, {"api_key": "k", "base_url": "ftp://x"}, "base_url"),
        (sendgrid, {"api_key": "k", "webhook_public_key": "bm9wZQ=="}, "webhook_public_key"),
        (postmark, {"server_token": "t", "webhook_username": "u"}, "webhook_password"),
        (mailgun, {"api_key": "k", "domain": "a/b"}, "domain"),
        (mailgun, {"api_key": "k", "domain": "d", "timeout": 0}, "timeout"),
        (mailgun, {"api_key": "k", "domain": "d", "sender": "x"}, "unknown field `sender`"),
    ],
)
def test_bad_config_is_refused(module: Any, bad: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ValueError, match=f"{module.__name__.rsplit('.', 1)[1]} provider config"
    ) as info:
        module.check(bad)
    assert message in str(info.value)
