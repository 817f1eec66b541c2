"""Serve a request handler with hypercorn (HTTP/1.1 and HTTP/2, TLS optional) in a thread.

    async def handle(request: Request) -> Reply: ...
    with serve(handle, ca=test_ca) as base_url:   # "https://127.0.0.1:PORT"
        ...

The listening socket is bound (port 0) before the thread starts, so clients
can connect at once; `serve` returns when hypercorn has run the app's
lifespan startup, and stops the server when the block ends.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from tests.fakes.tls import TestCA


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    http_version: str
    client: tuple[str, int]  # the peer: one per connection

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


Handler = Callable[[Request], Awaitable[Reply]]


def asgi_app(handle: Handler, started: threading.Event) -> Any:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, started)
        elif scope["type"] == "http":
            request = await _read(scope, receive)
            reply = await handle(request)
            await _write(send, reply)

    return app


async def _lifespan(receive: Any, send: Any, started: threading.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            started.set()
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read(scope: dict, receive: Any) -> Request:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    client = tuple(scope.get("client") or ("", 0))
    return Request(scope["method"], scope["path"], headers, body, scope["http_version"], client)


async def _write(send: Any, reply: Reply) -> None:
    body = reply.encoded()
    headers = {"content-type": "application/json", **reply.headers} if body else reply.headers
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serve(handle: Handler, *, ca: TestCA | None = None) -> Iterator[str]:
    """Serve `handle` on 127.0.0.1; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1
    if ca is not None:
        config.certfile, config.keyfile = ca.cert_file, ca.key_file
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=_run, args=(loop, asgi_app(handle, started), config, stop), daemon=True
    )
    thread.start()
    try:
        if not started.wait(15):
            raise RuntimeError("fake server did not start")
        yield f"{'https' if ca else 'http'}://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)


def _run(loop: asyncio.AbstractEventLoop, app: Any, config: Config, stop: asyncio.Event) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(hypercorn_serve(app, config, shutdown_trigger=stop.wait))
    finally:
        loop.close()
