"""ESP suppression (`/v1/esp/...`, App API): the addresses email is not sent to.

Shapes as Customer.io's: a listing is `{"category", "suppressions": [{email,
created, reason, status}]}` (the domain listing adds `next`), POST answers
`{}`, DELETE 204. The list and what it blocks: `tidings.sending.esp`.
"""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content
from tidings.api.routing import Route
from tidings.sending import esp


def _entry(request: Request) -> tuple[int, str, str]:
    reason = esp.parse_category(request.params["type"])
    return request.workspace.id, reason, esp.parse_email(request.params["email"])


async def search(ctx: Context, request: Request) -> Response:
    address = esp.parse_email(request.params["email"])
    return json_response(await ctx.read(esp.search, request.workspace.id, address))


async def by_category(ctx: Context, request: Request) -> Response:
    reason = esp.parse_category(request.params["type"])
    found = await ctx.read(esp.by_category, request.workspace.id, reason, request.query)
    return json_response(found)


async def by_domain(ctx: Context, request: Request) -> Response:
    domain = esp.parse_domain(request.params["domain"])
    reason = esp.parse_category(request.params["type"])
    ws = request.workspace.id
    return json_response(await ctx.read(esp.by_domain, ws, domain, reason, request.query))


async def suppress(ctx: Context, request: Request) -> Response:
    await ctx.write(esp.suppress, *_entry(request), ctx.now())
    return json_response({})


async def unsuppress(ctx: Context, request: Request) -> Response:
    await ctx.write(esp.unsuppress, *_entry(request))
    return no_content()


ONE = "/v1/esp/suppression/{type}/{email}"

ROUTES = (
    Route("GET", "/v1/esp/search_suppression/{email}", search, "app"),
    Route("GET", "/v1/esp/suppression/{type}", by_category, "app", query=esp.CATEGORY_QUERY),
    Route(
        "GET",
        "/v1/esp/domains/{domain}/suppression/{type}",
        by_domain,
        "app",
        query=esp.DOMAIN_QUERY,
    ),
    Route("POST", ONE, suppress, "app"),
    Route("DELETE", ONE, unsuppress, "app"),
)
