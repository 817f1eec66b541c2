"""Campaigns (App API): Customer.io's reads and action edits, our definition extensions.

Customer.io's routes: `GET /v1/campaigns[/{id}]`, `GET /v1/campaigns/{id}/actions`
(`start`, `limit`), `GET|PUT /v1/campaigns/{id}/actions/{action_id}` and
`.../language/{language}`, `GET /v1/segments/{id}/used_by`. Our extensions:
`POST /v1/campaigns` (a campaign document, `docs/campaigns.md`), `PUT
/v1/campaigns/{id}` (replace it; a campaign as shown is taken back), `POST
/v1/campaigns/{id}/start|stop` and their aliases `resume|pause`. Broadcasts
have their own module (`api/broadcasts.py`); `/v1/campaigns/{id}/triggers`
is not served here.
"""

from __future__ import annotations

from tidings import paging
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.campaigns import service, store, views
from tidings.segments import service as segments
from tidings.templates.definitions import parse_language

KIND = "campaign"


def _campaign(request: Request) -> tuple[int, int]:
    return request.workspace.id, store.parse_id(request.params["campaign_id"])


def _action(request: Request) -> tuple[int, int, str, int]:
    workspace_id, campaign_id = _campaign(request)
    return workspace_id, campaign_id, KIND, store.parse_id(request.params["action_id"], "action")


async def list_campaigns(ctx: Context, request: Request) -> Response:
    found = await ctx.read(views.list_all, request.workspace.id, KIND)
    return json_response({"campaigns": found})


async def create_campaign(ctx: Context, request: Request) -> Response:
    campaign = service.parse_document(request.json_object(required=True), KIND)
    made = await ctx.write(service.create, request.workspace.id, campaign, ctx.now())
    return json_response({"campaign": made})


async def get_campaign(ctx: Context, request: Request) -> Response:
    return json_response({"campaign": await ctx.read(views.get, *_campaign(request), KIND)})


async def replace_campaign(ctx: Context, request: Request) -> Response:
    campaign = service.parse_document(request.json_object(required=True), KIND)
    done = await ctx.write(service.replace, *_campaign(request), campaign, ctx.now())
    return json_response({"campaign": done})


async def start(ctx: Context, request: Request) -> Response:
    done = await ctx.write(service.set_state, *_campaign(request), "running", ctx.now())
    return json_response({"campaign": done})


async def stop(ctx: Context, request: Request) -> Response:
    done = await ctx.write(service.set_state, *_campaign(request), "stopped", ctx.now())
    return json_response({"campaign": done})


async def list_actions(ctx: Context, request: Request) -> Response:
    return await actions_page(ctx, request, *_campaign(request), KIND)


async def actions_page(
    ctx: Context, request: Request, workspace_id: int, campaign_id: int, kind: str
) -> Response:
    page = paging.parse_page(request.query, default=views.ACTIONS_LIMIT, maximum=views.ACTIONS_MAX)
    return json_response(await ctx.read(views.actions_page, workspace_id, campaign_id, kind, page))


async def get_action(ctx: Context, request: Request) -> Response:
    return await show_action(ctx, request, *_action(request))


async def update_action(ctx: Context, request: Request) -> Response:
    return await edit_action(ctx, request, *_action(request))


async def show_action(
    ctx: Context, request: Request, workspace_id: int, campaign_id: int, kind: str, action_id: int
) -> Response:
    """`GET .../actions/{action_id}[/language/{language}]`, for campaigns and broadcasts."""
    language = parse_language(request.params.get("language"))
    found = await ctx.read(views.action, workspace_id, campaign_id, kind, action_id, language)
    return json_response({"action": found})


async def edit_action(
    ctx: Context, request: Request, workspace_id: int, campaign_id: int, kind: str, action_id: int
) -> Response:
    """`PUT .../actions/{action_id}[/language/{language}]`, for campaigns and broadcasts."""
    language = parse_language(request.params.get("language"))
    body = request.json_object()
    args = (workspace_id, campaign_id, kind, action_id, language, body, ctx.now())
    return json_response({"action": await ctx.write(service.update_action, *args)})


async def used_by(ctx: Context, request: Request) -> Response:
    segment_id = segments.parse_segment_id(request.params["segment_id"])
    return json_response(await ctx.read(views.used_by, request.workspace.id, segment_id))


CAMPAIGN = "/v1/campaigns/{campaign_id}"
ACTION = CAMPAIGN + "/actions/{action_id}"

ROUTES = (
    Route("GET", "/v1/campaigns", list_campaigns, "app"),
    Route("POST", "/v1/campaigns", create_campaign, "app"),
    Route("GET", CAMPAIGN, get_campaign, "app"),
    Route("PUT", CAMPAIGN, replace_campaign, "app"),
    Route("POST", CAMPAIGN + "/start", start, "app"),
    Route("POST", CAMPAIGN + "/resume", start, "app"),
    Route("POST", CAMPAIGN + "/stop", stop, "app"),
    Route("POST", CAMPAIGN + "/pause", stop, "app"),
    Route("GET", CAMPAIGN + "/actions", list_actions, "app", query=paging.QUERY),
    Route("GET", ACTION, get_action, "app"),
    Route("PUT", ACTION, update_action, "app"),
    Route("GET", ACTION + "/language/{language}", get_action, "app"),
    Route("PUT", ACTION + "/language/{language}", update_action, "app"),
    Route("GET", "/v1/segments/{segment_id}/used_by", used_by, "app"),
)
