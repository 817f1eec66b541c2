"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.api.http import Request, Response, json_response
from tidings.api.openapi import document
from tidings.errors import ApiError
from tidings.segments import dirty

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            marked, queued = await app.read(dirty.backlog)
        except Exception as exc:
            raise ApiError(
                503, f"database unreachable: {exc.__class__.__name__}", code="unavailable"
            ) from exc
        return json_response(
            {
                "status": "ready",
                "pending_writes": app.writer.pending,
                "segment_people_pending": marked,
                "segment_builds_pending": queued,
            }
        )

    async def metrics(request: Request) -> Response:
        marked, queued = await app.read(dirty.backlog)
        gauges = {
            "tidings_pending_writes": float(app.writer.pending),
            "tidings_commit_batches_total": float(app.writer.batches),
            "tidings_committed_writes_total": float(app.writer.jobs),
            "tidings_segment_people_pending": float(marked),
            "tidings_segment_builds_pending": float(queued),
        }
        body = app.metrics.render(gauges).encode()
        return Response(200, body, [(b"content-type", b"text/plain; version=0.0.4")])

    async def openapi(request: Request) -> Response:
        return json_response(document(router))

    router.add("GET", "/healthz", healthz, "ops")
    router.add("GET", "/readyz", readyz, "ops")
    router.add("GET", "/metrics", metrics, "ops")
    router.add("GET", "/openapi.json", openapi, "ops")
