"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.api.http import Request, Response, json_response
from tidings.api.openapi import document
from tidings.errors import ApiError
from tidings.runtime.backlog import backlog

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            waiting = await app.read(backlog, app.now())
        except Exception as exc:
            raise ApiError(
                503, f"database unreachable: {exc.__class__.__name__}", code="unavailable"
            ) from exc
        return json_response({"status": "ready", "pending_writes": app.writer.pending, **waiting})

    async def metrics(request: Request) -> Response:
        waiting = await app.read(backlog, app.now())
        gauges = {
            "tidings_pending_writes": float(app.writer.pending),
            "tidings_commit_batches_total": float(app.writer.batches),
            "tidings_committed_writes_total": float(app.writer.jobs),
            **{f"tidings_{name}": float(value) for name, value in waiting.items()},
        }
        body = app.metrics.render(gauges).encode()
        return Response(200, body, [(b"content-type", b"text/plain; version=0.0.4")])

    async def openapi(request: Request) -> Response:
        return json_response(document(router))

    router.add("GET", "/healthz", healthz, "ops")
    router.add("GET", "/readyz", readyz, "ops")
    router.add("GET", "/metrics", metrics, "ops")
    router.add("GET", "/openapi.json", openapi, "ops")
