"""A real SMTP server (aiosmtpd, in a thread) that keeps what it receives.

    with FakeSmtp.running() as smtp:
        ... send to 127.0.0.1:smtp.port ...
        [mail] = smtp.wait_for(1)
        mail.message["Subject"], mail.rcpt_tos, mail.peer

Options: `credentials=(user, password)` checks AUTH (required over TLS); `tls=ctx` offers
STARTTLS (required before MAIL with `require_starttls`), `implicit_tls=ctx`
speaks TLS from the first byte. Scripting: `fail_next(n, reply, stage=...)`
answers the next n MAIL/RCPT/DATA commands with `reply`; `refuse(address,
reply)` refuses one recipient for good; `drop_connections()` closes every
open session from the server side, as an idle timeout would.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple[str, int]  # the client's address: one per connection
    mail_options: list[str]
    authenticated: bool
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Script:
    stage: str
    reply: str
    remaining: int


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    scripts: list[_Script] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    sessions: list[SMTP] = field(default_factory=list)
    queued: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def scripted(self, stage: str) -> str | None:
        for script in self.scripts:
            if script.stage == stage and script.remaining > 0:
                script.remaining -= 1
                return script.reply
        return None

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list:
        session.host_name = hostname
        if server not in self.sessions:
            self.sessions.append(server)
        return responses

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if reply := self.scripted("mail"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if reply := self.refused.get(address) or self.scripted("rcpt"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if reply := self.scripted("data"):
            return reply
        assert isinstance(envelope.original_content, bytes)
        mail = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=envelope.original_content,
            peer=tuple(session.peer),  # type: ignore[arg-type]
            mail_options=list(envelope.mail_options),
            authenticated=bool(session.authenticated),
            tls=session.ssl is not None or _over_tls(server),
        )
        with self.changed:
            self.queued += 1
            self.received.append(mail)
            self.changed.notify_all()
        return f"250 2.0.0 Ok: queued as FAKE{self.queued}"


class _Controller(Controller):
    """aiosmtpd's Controller on port 0: learns its port before its readiness probe."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtp:
    def __init__(self, handler: _Handler, controller: _Controller) -> None:
        self._handler = handler
        self._controller = controller
        self.host = "127.0.0.1"

    @classmethod
    @contextmanager
    def running(
        cls,
        *,
        credentials: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> Iterator[FakeSmtp]:
        handler = _Handler()
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True, "server_hostname": "fake-smtp.test"}
        if credentials:
            # Without TLS, AUTH is offered but not required (aiosmtpd warns about
            # requiring it in clear text): check `Received.authenticated`.
            secure = tls is not None or implicit_tls is not None
            kwargs.update(
                authenticator=_authenticator(credentials),
                auth_required=secure,
                auth_require_tls=secure,
            )
        if tls:
            kwargs.update(tls_context=tls, require_starttls=require_starttls)
        controller = _Controller(
            handler, hostname="127.0.0.1", port=0, ssl_context=implicit_tls, **kwargs
        )
        controller.start()
        try:
            yield cls(handler, controller)
        finally:
            controller.stop()

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def received(self) -> list[Received]:
        return list(self._handler.received)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """The first `count` messages, waiting until they arrived (or AssertionError)."""
        deadline = time.monotonic() + timeout
        with self._handler.changed:
            while len(self._handler.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self._handler.received)} of {count} messages arrived"
                self._handler.changed.wait(left)
            return list(self._handler.received[:count])

    def fail_next(self, count: int, reply: str, *, stage: str = "data") -> None:
        """Answer the next `count` commands of `stage` (mail | rcpt | data) with `reply`."""
        self._handler.scripts.append(_Script(stage, reply, count))

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        self._handler.refused[address] = reply

    def drop_connections(self) -> None:
        """Close every open session from the server's side, and wait until they are closed."""

        async def drop() -> None:
            for server in self._handler.sessions:
                if server.transport is not None:
                    server.transport.close()
            self._handler.sessions.clear()
            await asyncio.sleep(0)  # let the transports run their close callbacks

        asyncio.run_coroutine_threadsafe(drop(), self._controller.loop).result(timeout=10)

    @property
    def sessions_opened(self) -> int:
        """Distinct client connections that delivered at least one message."""
        return len({mail.peer for mail in self._handler.received})


def _over_tls(server: SMTP) -> bool:
    return server.transport is not None and bool(server.transport.get_extra_info("sslcontext"))


def _authenticator(credentials: tuple[str, str]) -> Any:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == credentials
        )
        return AuthResult(success=ok, handled=False)

    return authenticate
