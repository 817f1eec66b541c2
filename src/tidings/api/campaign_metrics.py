"""Reports on campaigns and broadcasts through the App API: delivery metrics,
link metrics, journey metrics and messages (BEHAVIOUR.md 5.6, CAMPAIGNS.md 7).

Each route declares the query parameters customerio-node 5.2 sends for it
(`campaigns/report_query.py` says what they mean).
"""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.campaigns import metrics
from tidings.campaigns import report_query as ask
from tidings.reporting import messages


def _kind(request: Request) -> str:
    return "broadcast" if "broadcast_id" in request.params else "campaign"


def _owner_id(request: Request) -> str:
    return request.params.get("broadcast_id") or request.params["campaign_id"]


async def delivery_metrics(ctx: Context, request: Request) -> Response:
    window = ask.parse_window(request.query, ctx.now())
    channels = ask.parse_type(request.query)
    found = await ctx.read(
        metrics.delivery_report,
        request.workspace.id,
        _kind(request),
        _owner_id(request),
        request.params.get("action_id"),
        window,
        channels,
    )
    return json_response(found)


async def link_metrics(ctx: Context, request: Request) -> Response:
    window = ask.parse_link_window(request.query, ctx.now())
    found = await ctx.read(
        metrics.link_report,
        request.workspace.id,
        _kind(request),
        _owner_id(request),
        request.params.get("action_id"),
        window,
        ask.parse_unique(request.query),
    )
    return json_response(found)


async def journey_metrics(ctx: Context, request: Request) -> Response:
    window = ask.parse_journey_window(request.query)
    found = await ctx.read(
        metrics.journey_report, request.workspace.id, request.params["campaign_id"], window
    )
    return json_response(found)


async def messages_of(ctx: Context, request: Request) -> Response:
    query = messages.parse_query(request.query)
    found = await ctx.read(
        metrics.message_report,
        request.workspace.id,
        _kind(request),
        _owner_id(request),
        query,
        ctx.now(),
    )
    return json_response(found)


_CAMPAIGN = "/v1/campaigns/{campaign_id}"
_BROADCAST = "/v1/broadcasts/{broadcast_id}"

ROUTES = tuple(
    route
    for base in (_CAMPAIGN, _BROADCAST)
    for route in (
        Route("GET", f"{base}/metrics", delivery_metrics, "app", query=ask.METRICS_QUERY),
        Route("GET", f"{base}/metrics/links", link_metrics, "app", query=ask.LINKS_QUERY),
        Route(
            "GET",
            f"{base}/actions/{{action_id}}/metrics",
            delivery_metrics,
            "app",
            query=ask.ACTION_QUERY,
        ),
        Route(
            "GET",
            f"{base}/actions/{{action_id}}/metrics/links",
            link_metrics,
            "app",
            query=ask.LINKS_QUERY,
        ),
        Route("GET", f"{base}/messages", messages_of, "app", query=ask.MESSAGES_QUERY),
    )
) + (
    Route(
        "GET",
        f"{_CAMPAIGN}/journey_metrics",
        journey_metrics,
        "app",
        query=ask.JOURNEY_QUERY,
    ),
)
