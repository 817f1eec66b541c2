"""Exports (`/v1/exports...`, App API): create, read, list, and a link to download.

A customers or deliveries export is validated here, then created with its job in one write;
the CSV is built in the background (`tidings.exports.job`). The download URL
points at this server's `GET /downloads/{token}` and is valid 15 minutes.
"""

from __future__ import annotations

from tidings.api import downloads
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.exports import service


def _export(request: Request) -> tuple[int, int]:
    return request.workspace.id, service.parse_export_id(request.params["export_id"])


async def create_customers(ctx: Context, request: Request) -> Response:
    # The schema requires a body: a request that lost its filter must not export everyone.
    spec = service.parse_customers_request(request.json_object(required=True))
    created = await ctx.write(
        service.create_customers_export, request.workspace.id, spec, ctx.now()
    )
    return json_response({"export": created})


async def create_deliveries(ctx: Context, request: Request) -> Response:
    spec = service.parse_deliveries_request(request.json_object(), request.workspace.id, ctx.now())
    created = await ctx.write(
        service.create_deliveries_export, request.workspace.id, spec, ctx.now()
    )
    return json_response({"export": created})


async def list_all(ctx: Context, request: Request) -> Response:
    # Customer.io answered `{"exports": null}` for a workspace without exports
    # (BEHAVIOUR.md 5.8); we send `[]`, what its schema documents, so clients
    # can iterate without a null check.
    return json_response({"exports": await ctx.read(service.list_all, request.workspace.id)})


async def get(ctx: Context, request: Request) -> Response:
    return json_response({"export": await ctx.read(service.get, *_export(request))})


async def download(ctx: Context, request: Request) -> Response:
    token = await ctx.write(service.create_download, *_export(request), ctx.now())
    return json_response({"url": downloads.url_for(ctx.public_url(request), token)})


ONE = "/v1/exports/{export_id}"

ROUTES = (
    Route("POST", "/v1/exports/customers", create_customers, "app"),
    Route("POST", "/v1/exports/deliveries", create_deliveries, "app"),
    Route("GET", "/v1/exports", list_all, "app"),
    Route("GET", ONE, get, "app"),
    Route("GET", ONE + "/download", download, "app"),
)
