"""The App API's account-level reads: `GET /v1/workspaces` (the key's own workspace,
with usage counts) and `GET /v1/info/ip_addresses` (the addresses this
deployment sends from, as configured: `--sending-ips`)."""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.workspaces import listing


async def list_workspaces(ctx: Context, request: Request) -> Response:
    found = await ctx.read(listing.visible_to_key, request.workspace.id, ctx.now())
    return json_response(found)


async def ip_addresses(ctx: Context, request: Request) -> Response:
    return json_response({"ip_addresses": list(ctx.settings.sending_ips)})


ROUTES = (
    Route("GET", "/v1/workspaces", list_workspaces, "app"),
    Route("GET", "/v1/info/ip_addresses", ip_addresses, "app"),
)
