"""The data index (`/v1/data_index/attributes` and `/events`, App API): describe
attribute and event names, 1 to 100 at a time; 204 as Customer.io answers.
The rules: `tidings.workspaces.data_index`."""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, no_content
from tidings.api.routing import Route
from tidings.workspaces import data_index


async def attributes(ctx: Context, request: Request) -> Response:
    entries = data_index.parse("attribute", request.json_object())
    await ctx.write(data_index.update, request.workspace.id, entries, ctx.now())
    return no_content()


async def events(ctx: Context, request: Request) -> Response:
    entries = data_index.parse("event", request.json_object())
    await ctx.write(data_index.update, request.workspace.id, entries, ctx.now())
    return no_content()


ROUTES = (
    Route("POST", "/v1/data_index/attributes", attributes, "app"),
    Route("POST", "/v1/data_index/events", events, "app"),
)
