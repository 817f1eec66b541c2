"""Messages (deliveries) through the App API: `/v1/messages`, a person's
messages, and a transactional message's metrics, link metrics and messages
(BEHAVIOUR.md 5.7). Each route declares the query parameters customerio-node
5.2 sends for it."""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.campaigns import report_query as ask
from tidings.people import read
from tidings.reporting import archived, messages
from tidings.reporting import transactional_metrics as reports
from tidings.reporting.messages import QUERY


async def list_all(ctx: Context, request: Request) -> Response:
    query = messages.parse_query(request.query)
    found = await ctx.read(messages.list_messages, request.workspace.id, query, ctx.now())
    return json_response(found)


async def get(ctx: Context, request: Request) -> Response:
    message_id = request.params["message_id"]
    return json_response(await ctx.read(messages.get_message, request.workspace.id, message_id))


async def archived_message(ctx: Context, request: Request) -> Response:
    found = await ctx.read(
        archived.archived_message,
        request.workspace.id,
        request.params["message_id"],
        ctx.settings.message_archive_days,
        ctx.now(),
    )
    return json_response(found)


async def of_customer(ctx: Context, request: Request) -> Response:
    id_type = read.parse_id_type(request.query)
    query = messages.parse_query(request.query)
    found = await ctx.read(
        messages.messages_of,
        request.workspace.id,
        request.params["customer_id"],
        id_type,
        query,
        ctx.now(),
    )
    return json_response(found)


async def transactional_metrics(ctx: Context, request: Request) -> Response:
    period, steps = reports.parse_window(request.query)
    found = await ctx.read(
        reports.transactional_metrics,
        request.workspace.id,
        request.params["transactional_id"],
        period,
        steps,
        ctx.now(),
    )
    return json_response(found)


async def transactional_links(ctx: Context, request: Request) -> Response:
    period, steps = reports.parse_window(request.query)
    found = await ctx.read(
        reports.transactional_links,
        request.workspace.id,
        request.params["transactional_id"],
        period,
        steps,
        ask.parse_unique(request.query),
        ctx.now(),
    )
    return json_response(found)


async def transactional_messages(ctx: Context, request: Request) -> Response:
    query = messages.parse_query(request.query)
    found = await ctx.read(
        reports.transactional_deliveries,
        request.workspace.id,
        request.params["transactional_id"],
        query,
        ctx.now(),
    )
    return json_response(found)


TRANSACTIONAL = "/v1/transactional/{transactional_id}"

ROUTES = (
    Route("GET", "/v1/messages", list_all, "app", query=QUERY),
    Route("GET", "/v1/messages/{message_id}", get, "app"),
    Route("GET", "/v1/messages/{message_id}/archived_message", archived_message, "app"),
    Route(
        "GET", "/v1/customers/{customer_id}/messages", of_customer, "app", query=("id_type", *QUERY)
    ),
    Route(
        "GET", f"{TRANSACTIONAL}/metrics", transactional_metrics, "app", query=reports.WINDOW_QUERY
    ),
    Route(
        "GET",
        f"{TRANSACTIONAL}/metrics/links",
        transactional_links,
        "app",
        query=(*reports.WINDOW_QUERY, "unique"),
    ),
    Route(
        "GET",
        f"{TRANSACTIONAL}/messages",
        transactional_messages,
        "app",
        query=ask.MESSAGES_QUERY,
    ),
)
