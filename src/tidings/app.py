"""The composition root: builds the ASGI application from `Settings`.

Every request goes through `Tidings.__call__`: route on the raw path,
authenticate for the route's surface, call the handler, turn any `ApiError`
into that surface's error body, count it, log one line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tidings.api import (
    app_api,
    collections,
    downloads,
    exports,
    imports,
    messages,
    ops,
    pipelines,
    reporting_webhooks,
    send,
    templates,
    track_v1,
    track_v2,
    tracking,
    unbuilt,
)
from tidings.api.auth import Authenticator
from tidings.api.errors import error_response
from tidings.api.http import Request, Response, Router, check_query, json_response
from tidings.clock import Clock, SystemClock
from tidings.config import Settings
from tidings.db.engine import Database, open_database
from tidings.db.remote_writer import RemoteWriter
from tidings.db.writer import Writer
from tidings.db.writer_service import WriterProcess
from tidings.db.writer_service import spawn as spawn_writer
from tidings.errors import ApiError
from tidings.ops.logging import RequestLog
from tidings.ops.prometheus import Metrics
from tidings.runtime import wiring
from tidings.runtime.workers import BackgroundWorkers, WorkerProcess, spawn_workers

MAX_BODY = 4 * 1024 * 1024
log = logging.getLogger("tidings")


class Tidings:
    """The ASGI application and everything a handler may use."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        wiring.wire()
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db: Database = open_database(settings.database_url)
        self.writer: Writer | RemoteWriter
        self._writer_process: WriterProcess | None = None
        if self.db.is_sqlite and (settings.writer_process or settings.writer_socket):
            self.writer = RemoteWriter(max_pending=settings.max_pending_writes)
        else:
            self.writer = Writer(
                self.db.writer,
                max_batch=settings.commit_max_batch,
                max_pending=settings.max_pending_writes,
            )
        self._readers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tidings-read")
        # The background workers: in a worker process of their own when the
        # settings say so (`spawns_worker_process`: on SQLite with the writer
        # process, started with it; on PostgreSQL with `worker_process`);
        # otherwise threads here that, on SQLite, write through the request
        # writer (one writing connection per process, so neither waits on the
        # other's lock).
        self.background: BackgroundWorkers | None = None
        self._worker_process: WorkerProcess | None = None
        if (
            settings.background_workers
            and isinstance(self.writer, Writer)
            and not settings.spawns_worker_process
        ):
            worker_write = self.writer.call if self.db.is_sqlite else None
            self.background = BackgroundWorkers(self.db, self.clock, settings, write=worker_write)
        self.auth = Authenticator(self.read)
        self.metrics = Metrics()
        self.request_log = RequestLog(settings.log_format, enabled=settings.access_log)
        self.router = Router()
        for module in (
            track_v1,
            track_v2,
            app_api,
            exports,
            imports,
            collections,
            templates,
            send,
            downloads,
            ops,
            pipelines,
            reporting_webhooks,
            messages,
            tracking,
        ):
            module.register(self.router, self)

    def public_url(self, request: Request) -> str:
        """The base URL clients reach this server at (setting, else the Host header)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = request.header("host") or f"{self.settings.host}:{self.settings.port}"
        return f"{request.scheme}://{host}"

    def now(self) -> int:
        return int(self.clock.now())

    def surface_of(self, path: str) -> str:
        """The surface whose error format answers a request to `path` refused before
        any handler ran (overload, read limits: tidings.http_protocol)."""
        return _guess_surface(path)

    async def write(self, fn: Any, *args: Any) -> Any:
        """Run a write use case; returns once it is committed."""
        return await self.writer.submit(fn, *args)

    async def write_many(self, fn: Any, item: Any) -> None:
        """Apply one item through a bulk use case `fn(conn, items)`, committed with its
        neighbours in one call."""
        await self.writer.submit_many(fn, item)

    async def read(self, fn: Any, *args: Any) -> Any:
        """Run `fn(conn, *args)` in a read transaction on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.db.read, fn, *args)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        response, surface, route_name = await self._handle(scope, receive)
        await send(
            {"type": "http.response.start", "status": response.status, "headers": response.headers}
        )
        if response.stream is None:
            await send({"type": "http.response.body", "body": response.body})
        else:
            await _send_stream(response, send)
        elapsed = time.perf_counter() - started
        self.metrics.observe(surface, route_name, response.status, elapsed)
        self.request_log.line(scope, response.status, elapsed)

    async def _handle(self, scope: dict[str, Any], receive: Any) -> tuple[Response, str, str]:
        surface, name = "unknown", "unmatched"
        try:
            request = Request(scope, b"")
            route, params, known = self.router.match(request.method, request.segments)
            if route is None:
                surface = _guess_surface(request.path)
                raise _unmatched(request, known)
            surface, name = route.surface, route.name
            request.params = params
            request.body = await _read_body(receive, route.max_body or MAX_BODY)
            request.workspace = await self._authenticate(route.auth, request)
            check_query(route, request)
            return await route.handler(request), surface, name
        except ApiError as exc:
            return error_response(surface, exc), surface, name
        except UnicodeDecodeError:
            return error_response(surface, ApiError(400, "path is not valid UTF-8")), surface, name
        except Exception:
            log.exception("unhandled error")
            return json_response({"meta": {"error": "internal error"}}, 500), surface, name

    async def _authenticate(self, kind: str, request: Request) -> Any:
        if kind == "track":
            return await self.auth.track(request)
        if kind == "app":
            return await self.auth.app(request)
        if kind == "cdp" and request.header("authorization"):
            return await self.auth.cdp(request)
        return None

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start_writer()
                if self.background is not None:
                    self.background.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_writer(self) -> None:
        if isinstance(self.writer, Writer):
            self.writer.start()
            if self.settings.spawns_worker_process:  # PostgreSQL: no writer socket to share
                self._worker_process = spawn_workers(self.settings)
            return
        path = self.settings.writer_socket
        if not path:
            max_batch = self.settings.commit_max_batch
            self._writer_process = await asyncio.get_running_loop().run_in_executor(
                None, lambda: spawn_writer(self.db.url, max_batch=max_batch)
            )
            path = self._writer_process.socket_path
        await self.writer.connect(path)
        if self.settings.spawns_worker_process:
            self._worker_process = spawn_workers(self.settings, path)

    def close(self) -> None:
        """Commit whatever is still queued, then release the database."""
        if self.background is not None:
            self.background.stop()
        if self._worker_process is not None:
            self._worker_process.stop()
        self.writer.stop()
        if self._writer_process is not None:
            self._writer_process.stop()
        self._readers.shutdown(wait=True)
        self.db.dispose()


async def _send_stream(response: Response, send: Any) -> None:
    assert response.stream is not None
    try:
        async for chunk in response.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except Exception:
        # The status line is gone already: cut the response short so the client
        # sees an incomplete body rather than a silently truncated file.
        log.exception("streaming a response failed")
        raise
    await send({"type": "http.response.body", "body": b""})


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # a partial body is no body
            raise ApiError(400, "the client left before sending the whole body", code="incomplete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request body too large", code="too_large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _unmatched(request: Request, path_known: bool) -> ApiError:
    """405 for another method of a served path, 501 for a Customer.io feature not
    built yet (`api/unbuilt.py`), else 404."""
    if path_known:
        return ApiError(405, "method not allowed", code="method_not_allowed")
    feature = unbuilt.feature_of(request.segments)
    if feature is not None:
        return unbuilt.not_implemented(feature)
    shown = f"{request.method} {request.path[:200]}"
    message = f"not found: no route matches {shown} (GET /openapi.json lists them)"
    return ApiError(404, message, code="no_route")


def _guess_surface(path: str) -> str:
    if path.startswith("/api/v2"):
        return "track_v2"
    if path.startswith(("/api/", "/unsubscribe", "/push")):
        return "track"
    return "cdp" if path in pipelines.PATHS else "app"


def create_app(settings: Settings, *, clock: Clock | None = None) -> Tidings:
    return Tidings(settings, clock=clock)
