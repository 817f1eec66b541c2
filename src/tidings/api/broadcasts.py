"""API-triggered broadcasts (App API): Customer.io's reads and action edits, our
definition extensions.

Customer.io's routes: `GET /v1/broadcasts[/{id}]`, `GET /v1/broadcasts/{id}/actions`
(`start`, `limit`), `GET|PUT /v1/broadcasts/{id}/actions/{action_id}` and
`.../language/{language}`. Our extensions: `POST /v1/broadcasts` and `PUT
/v1/broadcasts/{id}` (a broadcast document, `docs/campaigns.md`). Triggering
one (`POST /v1/campaigns/{id}/triggers`) is not served here.
"""

from __future__ import annotations

from tidings import paging
from tidings.api.campaigns import actions_page, edit_action, show_action
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.campaigns import service, store, views

KIND = "broadcast"


def _broadcast(request: Request) -> tuple[int, int]:
    return request.workspace.id, store.parse_id(request.params["broadcast_id"], KIND)


def _action(request: Request) -> tuple[int, int, str, int]:
    workspace_id, broadcast_id = _broadcast(request)
    return workspace_id, broadcast_id, KIND, store.parse_id(request.params["action_id"], "action")


async def list_broadcasts(ctx: Context, request: Request) -> Response:
    found = await ctx.read(views.list_all, request.workspace.id, KIND)
    return json_response({"broadcasts": found})


async def create_broadcast(ctx: Context, request: Request) -> Response:
    broadcast = service.parse_document(request.json_object(required=True), KIND)
    made = await ctx.write(service.create, request.workspace.id, broadcast, ctx.now())
    return json_response({"broadcast": made})


async def get_broadcast(ctx: Context, request: Request) -> Response:
    return json_response({"broadcast": await ctx.read(views.get, *_broadcast(request), KIND)})


async def replace_broadcast(ctx: Context, request: Request) -> Response:
    broadcast = service.parse_document(request.json_object(required=True), KIND)
    done = await ctx.write(service.replace, *_broadcast(request), broadcast, ctx.now())
    return json_response({"broadcast": done})


async def list_actions(ctx: Context, request: Request) -> Response:
    return await actions_page(ctx, request, *_broadcast(request), KIND)


async def get_action(ctx: Context, request: Request) -> Response:
    return await show_action(ctx, request, *_action(request))


async def update_action(ctx: Context, request: Request) -> Response:
    return await edit_action(ctx, request, *_action(request))


BROADCAST = "/v1/broadcasts/{broadcast_id}"
ACTION = BROADCAST + "/actions/{action_id}"

ROUTES = (
    Route("GET", "/v1/broadcasts", list_broadcasts, "app"),
    Route("POST", "/v1/broadcasts", create_broadcast, "app"),
    Route("GET", BROADCAST, get_broadcast, "app"),
    Route("PUT", BROADCAST, replace_broadcast, "app"),
    Route("GET", BROADCAST + "/actions", list_actions, "app", query=paging.QUERY),
    Route("GET", ACTION, get_action, "app"),
    Route("PUT", ACTION, update_action, "app"),
    Route("GET", ACTION + "/language/{language}", get_action, "app"),
    Route("PUT", ACTION + "/language/{language}", update_action, "app"),
)
