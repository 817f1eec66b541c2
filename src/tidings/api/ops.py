"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.openapi import document
from tidings.api.routing import Route
from tidings.errors import ApiError
from tidings.ingest_log import partitions
from tidings.runtime.backlog import backlog


async def healthz(ctx: Context, request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(ctx: Context, request: Request) -> Response:
    try:
        waiting = await ctx.read(backlog, ctx.now())
    except Exception as exc:
        raise ApiError(
            503, f"database unreachable: {exc.__class__.__name__}", code="unavailable"
        ) from exc
    if ctx.log is not None and not ctx.log.connected:  # ingest would answer 503 too
        raise ApiError(503, "ingest log unreachable", code="unavailable")
    return json_response({"status": "ready", "pending_writes": ctx.writer.pending, **waiting})


async def metrics(ctx: Context, request: Request) -> Response:
    waiting = await ctx.read(backlog, ctx.now())
    gauges = {
        "tidings_pending_writes": float(ctx.writer.pending),
        "tidings_commit_batches_total": float(ctx.writer.batches),
        "tidings_committed_writes_total": float(ctx.writer.jobs),
        **{f"tidings_{name}": float(value) for name, value in waiting.items()},
    }
    body = (ctx.metrics.render(gauges) + await _ingest_log(ctx)).encode()
    return Response(200, body, [(b"content-type", b"text/plain; version=0.0.4")])


async def _ingest_log(ctx: Context) -> str:
    """The ingest log's lag per partition, apply counts and oldest unapplied message."""
    if ctx.log is None:
        return ""
    offsets = await ctx.read(partitions.offsets, ctx.log.settings.stream)
    lines = await ctx.log.metrics(offsets, ctx.clock.now())
    return "".join(line + "\n" for line in lines)


async def openapi(ctx: Context, request: Request) -> Response:
    return json_response(document(ctx.routes))


ROUTES = (
    Route("GET", "/healthz", healthz, "ops"),
    Route("GET", "/readyz", readyz, "ops"),
    Route("GET", "/metrics", metrics, "ops"),
    Route("GET", "/openapi.json", openapi, "ops"),
)
