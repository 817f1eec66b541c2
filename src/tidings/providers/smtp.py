"""SMTP (aiosmtplib): a small pool of sessions reused across sends.

Config keys: `host` (required), `port` (default 587, or 465 with `tls`, 25
with `none`), `username` and `password` (both or neither), `security`
(`starttls` (default; required, not opportunistic) | `tls` | `none`),
`timeout` (seconds per SMTP command, default 30), `local_hostname` (for EHLO
and a Message-ID the payload lacks), `max_connections` (default 4), `verify`
(true | false | path of a CA file).

Each send is one SMTP transaction on an idle session, or on a new one while
fewer than `max_connections` are open. A session the server closed while idle
is noticed at MAIL FROM (nothing was sent yet), so the message goes out on a
fresh session at once. Classification:

- 2xx after DATA: `Sent`, with the id from the reply when it has one
  ("queued as X", "Ok X");
- every recipient refused: `Permanent` if every refusal is 5xx, otherwise
  `Transient`;
- some recipients refused, others accepted: `Sent`. The message went out to
  the accepted ones, and retrying would send it to them twice; the refused
  addresses are logged;
- a 4xx reply to MAIL or DATA: `Transient`; a 5xx reply: `Permanent`;
- `security: starttls` and a server that does not offer STARTTLS: `Permanent`,
  naming the setting (retrying cannot help: the configuration must change);
- connection failures, disconnects, timeouts, refused login: `Transient`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Literal

import aiosmtplib
import msgspec

from tidings.providers import mime
from tidings.providers.base import Email, Outbound, Outcome, Permanent, Sent, Transient
from tidings.providers.options import parse, tls_context

log = logging.getLogger(__name__)
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_PROVIDER_ID = (
    re.compile(r"queued as ([^\s;,]+)", re.IGNORECASE),
    re.compile(r"^(?:\d\.\d{1,3}\.\d{1,3}\s+)?ok:?\s+<?([^\s<>]+)>?$", re.IGNORECASE),
)


class SmtpConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str
    port: int | None = None
    username: str | None = None
    password: str | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    timeout: float = 30.0
    local_hostname: str | None = None
    max_connections: int = 4
    verify: bool | str = True


def from_config(config: dict[str, Any]) -> SmtpAdapter:
    return SmtpAdapter(check(config))


def check(config: dict[str, Any]) -> SmtpConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("smtp", config, SmtpConfig)
    if (settings.username is None) != (settings.password is None):
        raise ValueError("smtp provider config: give both username and password, or neither")
    if not 1 <= settings.max_connections <= 100:
        raise ValueError("smtp provider config: max_connections must be between 1 and 100")
    if settings.timeout <= 0:
        raise ValueError("smtp provider config: timeout must be positive")
    return settings


class _Envelope(msgspec.Struct, frozen=True):
    sender: str
    recipients: list[str]
    data: bytes
    utf8: bool


NO_STARTTLS = (
    "the SMTP server does not offer STARTTLS, which security: starttls (the default)"
    " requires; set security: none (plain) or tls (TLS from the first byte)"
)


class _NoStartTls(Exception):
    """`security: starttls` and the server does not offer it: a configuration error."""


class _StaleSession(Exception):
    """The server had closed an idle session; nothing was sent on it."""


class SmtpAdapter:
    def __init__(self, settings: SmtpConfig) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._tls = tls_context(settings.verify) if settings.security != "none" else None
        self.connections_opened = 0  # for tests and metrics

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Email):
            return Permanent(f"the smtp provider sends email, not {type(message).__name__}")
        try:
            envelope = _envelope(delivery_id, message, self.settings.local_hostname)
        except ValueError as exc:
            return Permanent(f"message cannot be built: {exc}")
        if not envelope.recipients:
            return Permanent("no recipients")
        async with self._slots:
            return await self._deliver(envelope)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for session in idle:
            await _quit(session)

    async def _deliver(self, envelope: _Envelope) -> Outcome:
        while True:
            reused = bool(self._idle)
            try:
                session = self._idle.pop() if reused else await self._connect()
            except _NoStartTls:
                return Permanent(NO_STARTTLS)
            except aiosmtplib.SMTPResponseException as exc:
                return Transient(f"smtp session refused: {exc.code} {exc.message}")
            except (aiosmtplib.SMTPException, OSError) as exc:
                return Transient(f"smtp connection failed: {_describe(exc)}")
            try:
                outcome = await _transaction(session, envelope)
            except _StaleSession:
                await _quit(session)
                if reused:
                    continue
                return Transient("smtp server closed the connection")
            except (aiosmtplib.SMTPException, OSError) as exc:
                await _quit(session)
                return Transient(f"smtp failed: {_describe(exc)}")
            except BaseException:
                # Cancelled mid-exchange (the worker's send timeout): the session is
                # in an unknown state, so close it rather than keep or leak it.
                session.close()
                raise
            self._release(session)
            return outcome

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        session = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port or _DEFAULT_PORTS[s.security],
            use_tls=s.security == "tls",
            start_tls=False,  # below, where a server without it is told apart
            timeout=s.timeout,
            local_hostname=s.local_hostname,
            tls_context=self._tls,
        )
        await session.connect()
        try:
            await self._secure(session)
        except BaseException:
            session.close()
            raise
        self.connections_opened += 1
        return session

    async def _secure(self, session: aiosmtplib.SMTP) -> None:
        """STARTTLS when required (`_NoStartTls` if not offered), then login; the
        extensions (SMTPUTF8) are learnt before MAIL."""
        s = self.settings
        if session.is_ehlo_or_helo_needed:
            await session.ehlo()
        if s.security == "starttls":
            if not session.supports_extension("starttls"):
                raise _NoStartTls
            await session.starttls()
        if s.username is not None:
            await session.login(s.username, s.password or "")
        if session.is_ehlo_or_helo_needed:
            await session.ehlo()

    def _release(self, session: aiosmtplib.SMTP) -> None:
        if session.is_connected:
            self._idle.append(session)


def _envelope(delivery_id: str, email: Email, local_hostname: str | None) -> _Envelope:
    data = mime.build(delivery_id, email, domain=local_hostname)
    recipients = mime.envelope_recipients(email)
    return _Envelope(mime.envelope_sender(email), recipients, data, mime.needs_smtputf8(email))


async def _transaction(session: aiosmtplib.SMTP, envelope: _Envelope) -> Outcome:
    """One MAIL/RCPT/DATA exchange; protocol errors other than replies propagate."""
    options, encoding = ([], "ascii")
    if envelope.utf8:
        if not session.supports_extension("smtputf8"):
            return Permanent("an address needs SMTPUTF8, which the server does not offer")
        options, encoding = (["SMTPUTF8"], "utf-8")
    try:
        await session.mail(envelope.sender, options=options, encoding=encoding)
    except aiosmtplib.SMTPServerDisconnected as exc:
        raise _StaleSession from exc
    except aiosmtplib.SMTPResponseException as exc:
        return await _refused(session, "sender", exc)
    refused = await _recipients(session, envelope, encoding)
    if len(refused) == len(envelope.recipients):
        return await _all_refused(session, refused)
    try:
        reply = await session.data(envelope.data)
    except aiosmtplib.SMTPResponseException as exc:
        return await _refused(session, "message", exc)
    if refused:
        log.warning("smtp: message sent, but recipients refused: %s", refused)
    return Sent(provider_message_id(reply.message))


async def _recipients(
    session: aiosmtplib.SMTP, envelope: _Envelope, encoding: str
) -> dict[str, str]:
    refused: dict[str, str] = {}
    for recipient in envelope.recipients:
        try:
            await session.rcpt(recipient, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            refused[recipient] = f"{exc.code} {exc.message}"
    return refused


async def _all_refused(session: aiosmtplib.SMTP, refused: dict[str, str]) -> Outcome:
    await _reset(session)
    reason = "recipients refused: " + "; ".join(f"{r}: {why}" for r, why in refused.items())
    if all(why.startswith("5") for why in refused.values()):
        return Permanent(reason)
    return Transient(reason)


async def _refused(
    session: aiosmtplib.SMTP, what: str, exc: aiosmtplib.SMTPResponseException
) -> Outcome:
    await _reset(session)
    reason = f"{what} refused: {exc.code} {exc.message}"
    return Permanent(reason) if 500 <= exc.code < 600 else Transient(reason)


async def _reset(session: aiosmtplib.SMTP) -> None:
    """RSET after a refusal so the session can be reused; a failed RSET closes it."""
    try:
        await session.rset()
    except (aiosmtplib.SMTPException, OSError):
        session.close()


async def _quit(session: aiosmtplib.SMTP) -> None:
    try:
        await session.quit()
    except (aiosmtplib.SMTPException, OSError):
        session.close()


def provider_message_id(reply: str) -> str | None:
    """The provider's id for the message in a DATA reply, if it names one."""
    text = reply.strip()
    for pattern in _PROVIDER_ID:
        if match := pattern.search(text):
            return match.group(1)
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
