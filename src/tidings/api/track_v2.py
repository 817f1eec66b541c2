"""Track API v2 (`POST /api/v2/entity`, `POST /api/v2/batch`, HTTP Basic).

Errors use the v2 body `{"errors":[{reason, field, message}]}` (surface
`track_v2`, formatted by `api.errors`). A batch with some refused items
answers 207 with one error per refused item, tagged with its `batch_index`;
the other items are committed before the answer. A whole batch is one write
job, so one request is one transaction; a batch of person events only is
queued for a bulk write with its neighbours (`track_v2.apply.apply_queued`).
With the ingest log, each valid operation is published to its person's (or
object's) partition instead, and `200`/`207` answers once the log has them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, ok
from tidings.api.routing import Route
from tidings.errors import ApiError
from tidings.ingest_log import kinds
from tidings.ingest_log.records import Record
from tidings.track_v2 import apply, parse


async def entity(ctx: Context, request: Request) -> Response:
    parse.check_size(request.body, parse.ENTITY_LIMIT)
    body, now, workspace = request.json(), ctx.now(), request.workspace.id
    op = parse.parse_operation(body, now)
    published = partial(kinds.track_v2, workspace, [body], [op], now)
    await ctx.ingest(published, apply.run_operation, workspace, op)
    return ok()


async def batch(ctx: Context, request: Request) -> Response:
    parse.check_size(request.body, parse.BATCH_LIMIT)
    now = ctx.now()
    body = request.json()
    items = parse.parse_batch(body, now, len(request.body))
    errors = [(index, item) for index, item in enumerate(items) if isinstance(item, ApiError)]
    if len(errors) < len(items):
        published = partial(kinds.track_v2, request.workspace.id, body["batch"], items, now)
        errors = await _write(ctx, request.workspace.id, items, now, errors, published)
    return partial_failure(errors) if errors else ok()


async def _write(
    ctx: Context,
    workspace_id: int,
    items: list[apply.Item],
    now: int,
    errors: list[tuple[int, ApiError]],
    published: Callable[[], list[Record]],
) -> list[tuple[int, ApiError]]:
    """The batch's refused items, once the others are committed (or, with the ingest
    log, published: those refused when applied are recorded, not answered)."""
    if apply.only_events(items):  # shares its statements with concurrent batches
        queued = (workspace_id, apply.plain_events(items), now)
        await ctx.ingest(published, apply.apply_queued, queued, bulk=True)
        return errors
    refused = await ctx.ingest(published, apply.apply_batch, workspace_id, items, now)
    return errors if refused is None else refused


def partial_failure(errors: list[tuple[int, ApiError]]) -> Response:
    """207 with the refused items, in the v2 error shape plus `batch_index`."""
    body = [
        {"batch_index": index, "reason": exc.code, "field": exc.field, "message": exc.message}
        for index, exc in errors
    ]
    return json_response({"errors": body}, 207)


ROUTES = (
    Route("POST", "/api/v2/entity", entity, "track_v2"),
    Route("POST", "/api/v2/batch", batch, "track_v2"),
)
