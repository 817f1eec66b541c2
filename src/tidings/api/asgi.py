"""The ASGI application: what happens to every request, whatever its route.

Every request goes through `Tidings.__call__`: route on the raw path,
authenticate for the route's surface, read the body (up to the route's
limit), call the handler with the `Context`, turn any `ApiError` into that
surface's error body, count it, log one line. What the process starts and
stops around the requests (the writer, the background workers) is the
`Lifecycle` that `create_app` hands in.

The web UI (`tidings.ui`) is a `Site` mounted beside the APIs: the paths it
owns (none of which an API serves) go to it whole, counted and logged here
like any other request; it authenticates with its own session cookies, and
the API routes never look at cookies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from tidings.api import pipelines
from tidings.api.context import Context
from tidings.api.errors import error_response
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Auth, Endpoint, Router, check_query
from tidings.config import Settings
from tidings.db.remote_writer import RemoteWriter
from tidings.db.writer import Writer
from tidings.errors import ApiError
from tidings.ops.logging import RequestLog
from tidings.workspaces.service import Workspace

MAX_BODY = 4 * 1024 * 1024
log = logging.getLogger("tidings")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Lifecycle(Protocol):
    """What the server process runs besides the requests, started and stopped by
    the ASGI lifespan."""

    async def start(self) -> None: ...

    def close(self) -> None: ...


class Site(Protocol):
    """An ASGI application serving the paths it `owns` (the web UI)."""

    def owns(self, path: str) -> bool: ...

    def refused(self, path: str, error: ApiError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """The status, body and headers answering a request to `path` refused before
        it reached the site (`tidings.http_protocol`)."""
        ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class Tidings:
    """The ASGI application: the router, the handlers' `Context`, the access log."""

    def __init__(
        self,
        ctx: Context,
        router: Router,
        request_log: RequestLog,
        lifecycle: Lifecycle,
        site: Site | None = None,
    ) -> None:
        self.ctx = ctx
        self.router = router
        self.request_log = request_log
        self._lifecycle = lifecycle
        self._site = site

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def writer(self) -> Writer | RemoteWriter:
        return self.ctx.writer

    def public_url(self, request: Request) -> str:
        return self.ctx.public_url(request)

    def surface_of(self, path: str) -> str:
        """The surface whose error format answers a request to `path` refused before
        any handler ran (overload, read limits: tidings.http_protocol)."""
        if self._site is not None and self._site.owns(path):
            return "ui"
        return _guess_surface(path)

    def refusal(self, path: str, error: ApiError) -> Response:
        """The answer to a request to `path` refused before any handler ran: the web
        UI's error page for the UI's paths (a browser shows it), else the error body
        of the path's API surface."""
        if self._site is not None and self._site.owns(path):
            return Response(*self._site.refused(path, error))
        return error_response(_guess_surface(path), error)

    def close(self) -> None:
        """Commit whatever is still queued, then release the database."""
        self._lifecycle.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        if self._site is not None and self._site.owns(scope["path"]):
            await self._serve_site(self._site, scope, receive, send, started)
            return
        response, surface, route_name = await self._handle(scope, receive)
        await send(
            {"type": "http.response.start", "status": response.status, "headers": response.headers}
        )
        if response.stream is None:
            await send({"type": "http.response.body", "body": response.body})
        else:
            await _send_stream(response, send)
        elapsed = time.perf_counter() - started
        self.ctx.metrics.observe(surface, route_name, response.status, elapsed)
        self.request_log.line(scope, response.status, elapsed)

    async def _serve_site(
        self, site: Site, scope: Scope, receive: Receive, send: Send, started: float
    ) -> None:
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await site(scope, receive, sending)
        elapsed = time.perf_counter() - started
        self.ctx.metrics.observe("ui", "ui", status, elapsed)
        self.request_log.line(scope, status, elapsed)

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[Response, str, str]:
        surface, name = "unknown", "unmatched"
        try:
            request = Request(scope, b"")
            endpoint, params, known = self.router.match(request.method, request.segments)
            if endpoint is None:
                surface = _guess_surface(request.path)
                raise _unmatched(request, known)
            surface, name = endpoint.surface, endpoint.name
            request.params = params
            request.body = await _read_body(receive, self._body_limit(endpoint), request)
            request.workspace = await self._authenticate(endpoint.auth, request)
            check_query(endpoint, request)
            return await endpoint.handler(self.ctx, request), surface, name
        except ApiError as exc:
            return error_response(surface, exc), surface, name
        except UnicodeDecodeError:
            return error_response(surface, ApiError(400, "path is not valid UTF-8")), surface, name
        except Exception:
            log.exception("unhandled error")
            return json_response({"meta": {"error": "internal error"}}, 500), surface, name

    def _body_limit(self, endpoint: Endpoint) -> int:
        limit = endpoint.max_body
        if callable(limit):
            return limit(self.ctx.settings)
        return limit or MAX_BODY

    async def _authenticate(self, kind: Auth, request: Request) -> Workspace | None:
        auth = self.ctx.auth
        if kind == "track":
            return await auth.track(request)
        if kind == "app":
            return await auth.app(request)
        if kind == "cdp" and request.header("authorization"):
            return await auth.cdp(request)
        return None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._lifecycle.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _send_stream(response: Response, send: Send) -> None:
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


async def _read_body(receive: Receive, limit: int, request: Request) -> bytes:
    """The whole body, refused with a 413 once it passes `limit`: at once when its
    declared Content-Length does, else as soon as the bytes read do."""
    declared = request.header("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "request body too large", code="too_large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # a partial body is no body
            raise ApiError(400, "the client left before sending the whole body", code="incomplete")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request body too large", code="too_large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _unmatched(request: Request, path_known: bool) -> ApiError:
    """405 for another method of a served path, else 404."""
    if path_known:
        return ApiError(405, "method not allowed", code="method_not_allowed")
    shown = f"{request.method} {request.path[:200]}"
    message = f"not found: no route matches {shown} (GET /openapi.json lists them)"
    return ApiError(404, message, code="no_route")


def _guess_surface(path: str) -> str:
    if path.startswith("/api/v2"):
        return "track_v2"
    if path.startswith(("/api/", "/unsubscribe", "/push")):
        return "track"
    return "cdp" if path in pipelines.PATHS else "app"
