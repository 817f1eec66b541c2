"""The SMTP adapter against a real SMTP server (tests/fakes/smtp.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.smtp import FakeSmtp
from tests.fakes.tls import TestCA
from tidings.providers import smtp
from tidings.providers.base import Email, Permanent, Sent, Sms, Transient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("smtp-ca"))


@pytest.fixture
def server() -> Iterator[FakeSmtp]:
    with FakeSmtp.running() as fake:
        yield fake


def email(n: int = 1, **fields: Any) -> Email:
    base: dict[str, Any] = {
        "message_id": f"<d{n}@tidings.test>",
        "from_": "Shop <shop@example.com>",
        "to": ["Ann <ann@example.com>"],
        "subject": f"Hello {n}",
        "html": f"<p>Hello {n}</p>",
    }
    return Email(**{**base, **fields})


def adapter(server: FakeSmtp, **config: Any) -> smtp.SmtpAdapter:
    return smtp.from_config(
        {"host": server.host, "port": server.port, "security": "none", **config}
    )


async def test_sends_and_reads_the_provider_id(server: FakeSmtp) -> None:
    a = adapter(server)
    outcome = await a.send("d1", email(cc=["Cy <cy@example.com>"], bcc=["bo@example.com"]))
    await a.close()
    assert outcome == Sent("FAKE1")
    [mail] = server.wait_for(1)
    assert mail.mail_from == "shop@example.com"
    assert mail.rcpt_tos == ["ann@example.com", "cy@example.com", "bo@example.com"]
    assert mail.message["Message-ID"] == "<d1@tidings.test>"
    assert "Bcc" not in mail.message and "bo@example.com" not in mail.data.decode()


async def test_many_sends_share_one_connection(server: FakeSmtp) -> None:
    a = adapter(server)
    outcomes = [await a.send(f"d{n}", email(n)) for n in range(5)]
    await a.close()
    assert outcomes == [Sent(f"FAKE{n}") for n in range(1, 6)]
    assert server.sessions_opened == 1 and a.connections_opened == 1


async def test_concurrent_sends_open_at_most_max_connections(server: FakeSmtp) -> None:
    a = adapter(server, max_connections=2)
    outcomes = await asyncio.gather(*(a.send(f"d{n}", email(n)) for n in range(8)))
    await a.close()
    assert all(isinstance(o, Sent) for o in outcomes)
    assert len(server.wait_for(8)) == 8
    assert a.connections_opened <= 2


async def test_reconnects_after_the_server_dropped_the_session(server: FakeSmtp) -> None:
    a = adapter(server)
    assert isinstance(await a.send("d1", email(1)), Sent)
    server.drop_connections()
    assert isinstance(await a.send("d2", email(2)), Sent)
    await a.close()
    first, second = server.wait_for(2)
    assert first.peer != second.peer and a.connections_opened == 2


@pytest.mark.parametrize(
    ("stage", "reply", "kind"),
    [
        ("data", "451 4.3.0 Try again later", Transient),
        ("data", "554 5.7.1 Message rejected", Permanent),
        ("mail", "452 4.3.1 Insufficient storage", Transient),
        ("mail", "550 5.7.1 Sender refused", Permanent),
        ("rcpt", "450 4.2.0 Mailbox busy", Transient),
        ("rcpt", "550 5.1.1 No such user", Permanent),
    ],
)
async def test_replies_are_classified(server: FakeSmtp, stage: str, reply: str, kind: type) -> None:
    a = adapter(server)
    server.fail_next(1, reply, stage=stage)
    outcome = await a.send("d1", email(1))
    assert isinstance(outcome, kind) and reply[:3] in outcome.reason
    assert await a.send("d2", email(2)) == Sent("FAKE1")  # the session survived the refusal
    await a.close()
    assert a.connections_opened == 1


async def test_partial_refusal_is_sent_to_the_others(server: FakeSmtp) -> None:
    server.refuse("gone@example.com")
    a = adapter(server)
    outcome = await a.send("d1", email(1, to=["gone@example.com", "ann@example.com"]))
    await a.close()
    assert outcome == Sent("FAKE1")
    assert server.wait_for(1)[0].rcpt_tos == ["ann@example.com"]


async def test_all_refused_mixing_4xx_and_5xx_is_transient(server: FakeSmtp) -> None:
    server.refuse("gone@example.com")
    server.refuse("busy@example.com", "452 4.2.2 Mailbox full")
    a = adapter(server)
    outcome = await a.send("d1", email(1, to=["gone@example.com", "busy@example.com"]))
    await a.close()
    assert isinstance(outcome, Transient) and "gone@example.com: 550" in outcome.reason


async def test_nothing_listening_is_transient() -> None:
    with FakeSmtp.running() as fake:
        port = fake.port
    a = smtp.from_config({"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5})
    outcome = await a.send("d1", email())
    assert isinstance(outcome, Transient) and "connection failed" in outcome.reason


async def test_auth_over_starttls(ca: TestCA) -> None:
    with FakeSmtp.running(
        credentials=("user", "s3cret"), tls=ca.server_context(), require_starttls=True
    ) as fake:
        config = {"host": "127.0.0.1", "port": fake.port, "verify": ca.ca_file}
        good = smtp.from_config({**config, "username": "user", "password": "s3cret"})
        assert isinstance(await good.send("d1", email()), Sent)
        await good.close()
        bad = smtp.from_config({**config, "username": "user", "password": "wrong"})
        refused = await bad.send("d2", email(2))
        [mail] = fake.wait_for(1)
    assert mail.authenticated and mail.tls
    assert isinstance(refused, Transient) and "535" in refused.reason


async def test_starttls_required_but_not_offered_is_permanent_and_names_the_setting(
    server: FakeSmtp,
) -> None:
    a = smtp.from_config({"host": server.host, "port": server.port})  # security: starttls
    outcome = await a.send("d1", email())
    await a.close()
    assert outcome == Permanent(smtp.NO_STARTTLS)
    assert "set security: none" in outcome.reason and "or tls" in outcome.reason
    assert server.received == []


async def test_implicit_tls_verifies_the_server(ca: TestCA) -> None:
    with FakeSmtp.running(implicit_tls=ca.server_context()) as fake:
        config = {"host": "127.0.0.1", "port": fake.port, "security": "tls"}
        trusted = smtp.from_config({**config, "verify": ca.ca_file})
        assert isinstance(await trusted.send("d1", email()), Sent)
        await trusted.close()
        untrusted = smtp.from_config(config)  # the system CAs do not know the test CA
        outcome = await untrusted.send("d2", email(2))
        assert fake.wait_for(1)[0].tls
    assert isinstance(outcome, Transient) and "connection failed" in outcome.reason


async def test_utf8_local_part_uses_smtputf8(server: FakeSmtp) -> None:
    a = adapter(server)
    outcome = await a.send("d1", email(to=["Zoë <zoë@exämple.com>"]))
    await a.close()
    assert isinstance(outcome, Sent)
    [mail] = server.wait_for(1)
    assert mail.rcpt_tos == ["zoë@xn--exmple-cua.com"] and "SMTPUTF8" in mail.mail_options


async def test_unbuildable_message_and_wrong_channel_are_permanent(server: FakeSmtp) -> None:
    a = adapter(server)
    bad_header = await a.send("d1", email(headers={"From": "evil@example.com"}))
    sms = await a.send("d2", Sms(to="+15550100"))
    assert isinstance(bad_header, Permanent) and "From" in bad_header.reason
    assert isinstance(sms, Permanent)
    assert server.received == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "missing required field `host`"),
        ({"host": "h", "security": "ssl"}, "$.security"),
        ({"host": "h", "username": "u"}, "both username and password"),
        ({"host": "h", "max_connections": 0}, "max_connections"),
        ({"host": "h", "port": "25"}, "$.port"),
        ({"host": "h", "colour": "red"}, "unknown field `colour`"),
        ({"host": "h", "verify": "/nonexistent/ca.pem"}, "CA file"),
    ],
)
def test_bad_config_is_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="smtp provider config|CA file") as info:
        smtp.from_config(config)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("2.0.0 Ok: queued as 4Bc1Xy", "4Bc1Xy"),
        ("Ok 0100018c-abcdef-000000", "0100018c-abcdef-000000"),
        ("OK", None),
        ("2.0.0 OK  1700000000 x.123 - gsmtp", None),
    ],
)
def test_provider_message_id(reply: str, expected: str | None) -> None:
    assert smtp.provider_message_id(reply) == expected


async def test_a_send_cancelled_mid_exchange_closes_its_session(
    server: FakeSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery worker cancels a send that outlives its timeout: the session it was
    using is closed, not returned to the pool in an unknown state nor leaked."""
    a = adapter(server)
    assert await a.send("d1", email(1)) == Sent("FAKE1")  # one pooled session
    [session] = a._idle
    started = asyncio.Event()

    async def hangs(session: Any, envelope: Any) -> None:
        started.set()
        await asyncio.Event().wait()  # a server that stopped answering mid-exchange

    monkeypatch.setattr(smtp, "_transaction", hangs)
    task = asyncio.create_task(a.send("d2", email(2)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a._idle == [] and not session.is_connected
    await a.close()
