"""HTTP/1.1 connections that admit bounded work, under uvicorn's httptools parser.

uvicorn reads pipelined requests into a per-connection queue before the app
sees any of them, so without bounds an overloaded server queues without limit
(memory grows, latency grows, the writer's own 429 never fires). Here:

- At most `max_in_flight` requests are admitted across the process (running or
  queued on their connection); the excess is answered at once, in order, with
  429 and `Retry-After`, in the error format of the request's surface (the
  web UI's paths: its HTML error page), without running its handler.
  `/healthz`, `/readyz` and `/metrics` are never refused.
- A connection is read ahead by at most `max_pipelined` requests: past that
  its socket is not read until answers go out, so memory stays flat. It is
  parsed a few requests per turn of the event loop, so the others (and a
  probe) are not kept waiting, and refusals queued on it are answered as
  soon as their turn comes, without a task each.
- Request headers past `max_header_bytes` are answered 431 and the connection
  closed, without reading the rest.
- Headers must arrive within `header_timeout` seconds of their first byte (of
  the connection, for the first request) and a body may pause at most
  `body_timeout` seconds between reads; otherwise 408 and close.
- At most `max_connections` connections are open: a new one past the cap
  closes the connection that has waited longest for a request, or is answered
  503 when every connection is busy.
- A request the parser refuses (a raw byte >= 0x80 in the URL, a garbage
  request line) is answered 400 in the error format of its path's surface, when
  the path can be read, after the answers owed before it, and the connection
  closed (uvicorn answers plain text at once).
- A TLS handshake on a plain port is logged with a hint naming the TLS port.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.flow_control import CLOSE_HEADER, FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from tidings.api.errors import error_response
from tidings.api.http import Response
from tidings.errors import ApiError

log = logging.getLogger("tidings.http")

# Data is parsed in pieces this big so that a connection stops being parsed
# soon after its pipeline fills up and the header size is known to a piece.
PIECE = 4096
# Requests parsed off one connection before the other connections (and a
# /healthz probe) get a turn of the event loop.
PER_TURN = 4
OPS_PATHS = frozenset({b"/healthz", b"/readyz", b"/metrics"})
# How long a refused connection is drained before it is closed, so the client
# reads the answer rather than a reset from the data it was still sending.
LINGER_SECONDS = 1.0
WARN_EVERY = 60.0  # seconds between two warnings of one kind (TLS on the plain port, ...)


@dataclass(frozen=True)
class HttpLimits:
    """The settings of the same names (tidings.config.Settings holds the defaults)."""

    max_in_flight: int
    max_pipelined: int
    max_header_bytes: int
    header_timeout: float
    body_timeout: float
    max_connections: int  # 0: from the descriptor limit (connection_cap)
    tls_port: int | None  # named in the hint when TLS reaches the plain port


def connection_cap(configured: int) -> int:
    """The configured cap, else one that leaves room below RLIMIT_NOFILE for the
    database, the writer's socket, logs and the listening sockets."""
    if configured > 0:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(soft // 2, soft - 256)


class HttpConfig(uvicorn.Config):
    """uvicorn's configuration with the limits the protocol enforces."""

    def __init__(self, app: Any, *, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(app, http=TidingsHttp, **kwargs)
        self.limits = limits
        self.connection_cap = connection_cap(limits.max_connections)


class _Shared:
    """What every connection of one server shares: admitted requests, and the
    connections waiting for a request, longest-waiting first."""

    def __init__(self) -> None:
        self.admitted = 0
        self.idle: dict[TidingsHttp, None] = {}
        # Whole refusals by (surface, message, close, head), for the date in `dated`.
        self.refusals: dict[tuple[str, str, bool, bool], bytes] = {}
        self.dated: list[tuple[bytes, bytes]] = []
        self.warned_at: dict[str, float] = {}
        self.watching = False

    def watch(
        self, loop: asyncio.AbstractEventLoop, connections: set[Any], limits: HttpLimits
    ) -> None:
        """Sweep the connections for reads past their time, a few times per timeout
        (cheaper than a timer per request)."""
        if not self.watching:
            self.watching = True
            every = min(1.0, max(0.05, min(limits.header_timeout, limits.body_timeout) / 4))
            loop.call_later(every, self.sweep, loop, connections, every)

    def sweep(self, loop: asyncio.AbstractEventLoop, connections: set[Any], every: float) -> None:
        now = loop.time()
        for connection in list(connections):
            if isinstance(connection, TidingsHttp):
                connection.check_time(now)
        loop.call_later(every, self.sweep, loop, connections, every)

    def now_and_then(self, kind: str) -> bool:
        """Whether to log a warning of this kind now: at most one a minute."""
        now = time.monotonic()
        if now - self.warned_at.get(kind, -WARN_EVERY) < WARN_EVERY:
            return False
        self.warned_at[kind] = now
        return True


_SHARED: weakref.WeakKeyDictionary[ServerState, _Shared] = weakref.WeakKeyDictionary()


def _shared(state: ServerState) -> _Shared:
    found = _SHARED.get(state)
    if found is None:
        found = _SHARED[state] = _Shared()
    return found


class _Flow(FlowControl):
    """uvicorn resumes reading whenever a handler reads its body; here only
    while the connection may read ahead."""

    def __init__(self, transport: asyncio.Transport, may_read: Callable[[], bool]) -> None:
        super().__init__(transport)
        self._may_read = may_read

    def resume_reading(self) -> None:
        if self._may_read():
            super().resume_reading()


class TidingsHttp(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, HttpConfig), "serve with tidings.server.config"
        self.limits = config.limits
        self.cap = config.connection_cap
        self.shared = _shared(server_state)
        self.shared.watch(self.loop, self.connections, self.limits)
        self.handler = self.app
        self.admitted_app = self._run_admitted
        self.surface_of: Callable[[str], str] = getattr(self.handler, "surface_of", _app)
        self.refused = False  # the request being parsed is refused
        self.reading: str | None = None  # "headers", "body" or None
        self.since = 0.0
        self.header_bytes = 0
        self.piece = 0
        self.fed: memoryview | None = None  # the piece being parsed
        self.ended_in_piece = 0  # requests that ended in it
        self.unfed = b""
        self.parsed = 0  # requests parsed in this turn (PER_TURN)
        self.first_data = True
        self.closing = False
        self.owed_400: ApiError | None = None  # a refused request's, once answers owed are out
        self.url = b""

    # Connections -------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _Flow(transport, self._may_read)
        if len(self.connections) > self.cap and not self._make_room():
            if self.shared.now_and_then("cap"):
                log.warning("refusing connections: %d open, the cap", self.cap)
            # No lingering: a flood of connections must not hold descriptors.
            busy = ApiError(
                503, "too many connections", code="overloaded", headers={"Retry-After": "1"}
            )
            self._answer_and_close(busy, linger=False)
            return
        self._expect("headers")
        self.shared.idle[self] = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        self.shared.idle.pop(self, None)
        queued = sum(1 for _, app in self.pipeline if app is self.admitted_app)
        self.shared.admitted -= queued
        self.pipeline.clear()
        super().connection_lost(exc)

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request, if any."""
        oldest = next(iter(self.shared.idle), None)
        if oldest is None:
            return False
        oldest.shared.idle.pop(oldest, None)
        oldest.transport.close()
        return True

    # Reading -----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # draining a refused connection
        if self.first_data:
            self.first_data = False
            if data[:1] == b"\x16" and self.scheme == "http":
                self._hint_tls()
                self.transport.close()
                return
        self.unfed = self.unfed + data if self.unfed else data
        self._feed()

    def _feed(self) -> None:
        data, pos = self.unfed, 0
        view = memoryview(data)
        self.parsed = 0
        while pos < len(data) and self._may_parse():
            piece = view[pos : pos + PIECE]
            pos += len(piece)
            if self.reading == "headers":
                self.header_bytes += len(piece)
            self.piece, self.fed, self.ended_in_piece = len(piece), piece, 0
            super().data_received(piece)  # type: ignore[arg-type]
            self.fed = None
            if self.reading == "headers" and self.header_bytes > self.limits.max_header_bytes:
                self._headers_too_large()
                return
        self.unfed = data[pos:] if pos < len(data) and not self._done() else b""
        if self.reading is None and not (self.unfed or self._answers_owed() or self._done()):
            self._wait_for_a_request()  # all answered at once (refused)
        if self.unfed:
            self.flow.pause_reading()
            if not self._held():  # else on_response_complete or resume_writing goes on
                self.loop.call_soon(self._next_turn)

    def _may_parse(self) -> bool:
        return self.parsed < PER_TURN and not self._held()

    def _held(self) -> bool:
        """Whether parsing waits: for answers to go out (the pipeline is full, or the
        client is not reading them), or for the connection to close."""
        return self._full() or self.flow.write_paused or self._done()

    def _done(self) -> bool:
        """Whether the connection is closing (a refusal may first drain it)."""
        return self.closing or self.transport.is_closing()

    def _next_turn(self) -> None:
        if self.unfed and not self._held():
            self._feed()
        self.flow.resume_reading()

    def _full(self) -> bool:
        return len(self.pipeline) >= self.limits.max_pipelined

    def _may_read(self) -> bool:
        return not (self.unfed or self._held())

    def resume_writing(self) -> None:
        super().resume_writing()
        self._next_turn()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.refused = False
        if self.reading != "headers":
            self._expect("headers")
        self.header_bytes = self.piece  # counted from the start of its piece, at most

    def on_headers_complete(self) -> None:
        self.parsed += 1
        self.shared.idle.pop(self, None)
        self._expect("body")
        reason = self._admit()
        if reason is not None:
            self._refuse(reason)
            return
        try:
            super().on_headers_complete()
        except BaseException:
            if self.app is self.admitted_app:
                self.shared.admitted -= 1
            raise

    def on_body(self, body: bytes) -> None:
        self.since = self.loop.time()
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._expect(None)
        self.ended_in_piece += 1
        if not self.refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, with the refusals next in line answered here and now."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._answer_queued_refusals()
        if self.transport.is_closing():
            return
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            task = self.loop.create_task(cycle.run_asgi(app))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
        elif self.owed_400 is not None:
            self._answer_and_close(self.owed_400)
            return
        else:
            self._wait_for_a_request()
        self._next_turn()

    def _wait_for_a_request(self) -> None:
        """No answer is owed: the keep-alive timeout runs, and the connection is among
        the idle ones closed first at the connection cap."""
        self.shared.idle[self] = None
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def _answer_queued_refusals(self) -> None:
        """Answer the refusals next in line: a task each would cost a turn of the
        event loop each, and the requests behind them would wait."""
        while self.pipeline and not self.transport.is_closing():
            refusal = self.pipeline[-1][1]
            if not isinstance(refusal, _Refusal):
                return
            self.pipeline.pop()
            refusal.answer(self)

    # Admission ---------------------------------------------------------------

    def _admit(self) -> str | None:
        """Why this request is refused, or None when `self.app` runs it."""
        if self.url.split(b"?", 1)[0] in OPS_PATHS:
            self.app = self.handler
            return None
        if self._full():
            return "too many pipelined requests on this connection"
        if self.shared.admitted >= self.limits.max_in_flight:
            return "server busy, retry shortly"
        self.shared.admitted += 1
        self.app = self.admitted_app
        return None

    def _refuse(self, reason: str) -> None:
        """Answer 429 without building the request (no scope, no cycle, no task):
        at once, or after the answers owed before it. The client not reading its
        answers stops the parsing (`_held`), so refusals cannot pile up unread."""
        self.refused = True
        keep_alive = self.parser.should_keep_alive()
        head = self.parser.get_method() == b"HEAD"
        refusal = _Refusal(self._refusal_bytes(reason, keep_alive, head), close=not keep_alive)
        if self._answers_owed():
            self.pipeline.appendleft((None, refusal))  # type: ignore[arg-type]
        else:
            refusal.answer(self)

    def _refusal_bytes(self, reason: str, keep_alive: bool, head: bool) -> bytes:
        """The whole 429, built once per surface, reason and form (and date)."""
        shared, defaults = self.shared, self.server_state.default_headers
        if shared.dated is not defaults:  # a new date: uvicorn's headers change each second
            shared.refusals.clear()
            shared.dated = defaults
        surface = self.surface_of(self._path())
        key = (surface, reason, keep_alive, head)
        data = shared.refusals.get(key)
        if data is None:
            response = self._refusal(ApiError(429, reason, code="overloaded"))
            data = _raw(response, defaults, close=not keep_alive)
            if head:
                data = data[: len(data) - len(response.body)]
            shared.refusals[key] = data
        return data

    def _refusal(self, error: ApiError) -> Response:
        """`error` answered as the surface of the path being parsed answers errors: the
        app's `refusal` (the web UI's error page for its paths), else the API's body;
        the App API's when the path is not known (a garbage request line)."""
        path = self._path()
        refusal = getattr(self.handler, "refusal", None)
        if not self.url:
            return error_response(_app(path), error)
        if refusal is not None:
            answer: Response = refusal(path, error)
            return answer
        return error_response(self.surface_of(path), error)

    def _path(self) -> str:
        """The path of the request being parsed ("/" before it is known)."""
        return self.url.split(b"?", 1)[0].decode("latin-1") or "/"

    async def _run_admitted(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.handler(scope, receive, send)
        finally:
            self.shared.admitted -= 1

    # Limits on reading -------------------------------------------------------

    def _expect(self, what: str | None) -> None:
        """Start timing the client for `what` ("headers", "body"), or stop (None).
        The server's sweep (`_Shared.sweep`) finds the ones past their time."""
        self.reading = what
        self.since = self.loop.time()

    def check_time(self, now: float) -> None:
        if self.reading is None or self.closing or self.transport.is_closing():
            return
        if self.flow.read_paused:
            self.since = now  # waiting on the server, not on the client
        elif self.reading == "headers":
            if now - self.since > self.limits.header_timeout:
                self._refuse_now(
                    ApiError(408, "request headers not received in time", code="timeout")
                )
        elif now - self.since > self.limits.body_timeout:
            self._body_timed_out()

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        if self.pipeline or cycle is None or cycle.response_started:
            self.transport.close()  # answers are owed first: no room for a 408
            return
        cycle.disconnected = True  # its handler sees the client gone
        cycle.message_event.set()
        self._answer_and_close(ApiError(408, "request body not received in time", code="timeout"))

    def _headers_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        error = ApiError(431, f"request headers larger than {limit} bytes", code="too_large")
        self._refuse_now(error)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refused, called where it catches
        the parser's error: in the surface's JSON error instead of plain text."""
        self.url = self.url or self._request_line_path()
        error = ApiError(400, _malformed(sys.exception()))
        if self._answers_owed():  # to the requests before it: they go out first
            self._expect(None)
            self.closing, self.owed_400 = True, error  # nothing more is read
        else:
            self._answer_and_close(error)

    def _request_line_path(self) -> bytes:
        """The path of the request the parser stopped in, read from its request line
        when that line starts the piece being parsed; else b"" (the App API's form).

        The parser reports the path only once its end is reached, so a bad byte in
        it (or a bad method before it) leaves `self.url` empty."""
        if self.fed is None or self.ended_in_piece:
            return b""  # pipelined behind a request in the same piece: not found cheaply
        line = bytes(self.fed).lstrip(b"\r\n").split(b"\n", 1)[0]
        return next((word for word in line.split(b" ") if word.startswith(b"/")), b"")

    def _refuse_now(self, error: ApiError) -> None:
        """Answer `error` and close, unless answers to earlier requests are still owed."""
        self._expect(None)
        if self._answers_owed():
            self.transport.close()
        else:
            self._answer_and_close(error)

    def _answers_owed(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _answer_and_close(self, error: ApiError, linger: bool = True) -> None:
        """Answer `error` and close; with `linger`, first drain what the client is
        still sending for a moment, so it reads the answer rather than a reset."""
        response = self._refusal(error)
        self.transport.write(_raw(response, self.server_state.default_headers, close=True))
        self.closing = True
        self.unfed = b""
        if linger and self.transport.can_write_eof():
            self.transport.write_eof()  # drain what the client still sends, then close
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _hint_tls(self) -> None:
        if not self.shared.now_and_then("tls"):
            return
        port = self.server[1] if self.server else "?"
        if self.limits.tls_port:
            log.warning(
                "TLS reached the plain port %s; use https on --tls-port %s",
                port,
                self.limits.tls_port,
            )
        else:
            log.warning(
                "TLS reached the plain port %s, which speaks http; use http:// "
                "or serve https as well with --tls-port",
                port,
            )


class _Refusal:
    """A refused request's whole answer, written when its turn comes."""

    __slots__ = ("close", "data")

    def __init__(self, data: bytes, *, close: bool) -> None:
        self.data = data
        self.close = close

    def answer(self, protocol: TidingsHttp) -> None:
        protocol.transport.write(self.data)
        protocol.server_state.total_requests += 1
        if self.close:
            protocol.transport.close()


def _raw(response: Response, defaults: list[tuple[bytes, bytes]], *, close: bool) -> bytes:
    """A whole HTTP/1.1 answer (`defaults`: uvicorn's date and server headers)."""
    headers = [
        *defaults,
        *response.headers,
        (b"content-length", str(len(response.body)).encode()),
    ]
    if close:
        headers.append(CLOSE_HEADER)
    lines = [STATUS_LINE[response.status]]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join([*lines, b"\r\n", response.body])


def _malformed(error: BaseException | None) -> str:
    if isinstance(error, httptools.HttpParserInvalidURLError):
        return "the request line holds a byte that is not allowed in a URL; percent-encode it"
    if isinstance(error, httptools.HttpParserInvalidMethodError):
        return "not an HTTP request line: expected METHOD /path HTTP/1.1"
    return f"malformed HTTP request: {error}" if error else "malformed HTTP request"


def _app(path: str) -> str:
    return "app"
