"""Collections (`/v1/collections...`, App API): create, read, list, update, delete, content.

Bodies are parsed and their rows validated here, outside the writer; the use
case then runs in one write (with the fetch job, for a `url`). A collection
may hold 10 MB of compact JSON, so the routes that take rows accept bodies
up to `MAX_BODY` (room for indentation); bigger bodies are a 413, rows over
the limits a 400 naming the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content
from tidings.api.routing import Route
from tidings.collections import service
from tidings.collections.rows import MAX_BYTES

MAX_BODY = 2 * MAX_BYTES


def _one(request: Request) -> tuple[int, int]:
    return request.workspace.id, service.parse_collection_id(request.params["collection_id"])


async def create(ctx: Context, request: Request) -> Response:
    change = await _parsed(service.parse_create, request)
    created = await ctx.write(service.create, request.workspace.id, change, ctx.now())
    return json_response({"collection": created})


async def list_all(ctx: Context, request: Request) -> Response:
    found = await ctx.read(service.list_all, request.workspace.id)
    return json_response({"collections": found})


async def get(ctx: Context, request: Request) -> Response:
    return json_response({"collection": await ctx.read(service.get, *_one(request))})


async def update(ctx: Context, request: Request) -> Response:
    change = await _parsed(service.parse_update, request)
    updated = await ctx.write(service.update_one, *_one(request), change, ctx.now())
    return json_response({"collection": updated})


async def delete(ctx: Context, request: Request) -> Response:
    await ctx.write(service.delete_one, *_one(request))
    return no_content()


async def content(ctx: Context, request: Request) -> Response:
    data = await ctx.read(service.content, *_one(request))
    return Response(200, data.encode())


async def replace_content(ctx: Context, request: Request) -> Response:
    rows = await _parsed(service.parse_content, request, whole=True)
    updated = await ctx.write(service.replace_content, *_one(request), rows, ctx.now())
    return json_response({"collection": updated})


async def _parsed(parse: Callable[[Any], Any], request: Request, *, whole: bool = False) -> Any:
    """`parse` the JSON body (object, or any value if `whole`) on a thread: a body of
    10 MB takes a while to decode and check, and must not stall the event loop."""

    def run() -> Any:
        return parse(request.json() if whole else request.json_object())

    return await asyncio.to_thread(run)


ONE = "/v1/collections/{collection_id}"

ROUTES = (
    Route("GET", "/v1/collections", list_all, "app"),
    Route("POST", "/v1/collections", create, "app", max_body=MAX_BODY),
    Route("GET", ONE, get, "app"),
    Route("PUT", ONE, update, "app", max_body=MAX_BODY),
    Route("DELETE", ONE, delete, "app"),
    Route("GET", ONE + "/content", content, "app"),
    Route("PUT", ONE + "/content", replace_content, "app", max_body=MAX_BODY),
)
