"""App API (`/v1/...`, `Authorization: Bearer <app key>`): reads of what Track wrote,
and segments (manual, and dynamic ones with `conditions`: our extension).

Handlers parse the request, call one read (or, for segment changes, one write
through the group-commit writer) and shape the answer. Every lookup is scoped
to the authenticated workspace, so another workspace's ids are plain 404s.
"""

from __future__ import annotations

from tidings import paging
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content
from tidings.api.routing import Route
from tidings.paging import QUERY as PAGE
from tidings.people import activities, read
from tidings.segments import membership as dynamic
from tidings.segments import search
from tidings.segments import service as segments
from tidings.subscriptions import center

# Customers


def _person(request: Request) -> tuple[int, str, str]:
    id_type = read.parse_id_type(request.query)
    return request.workspace.id, request.params["customer_id"], id_type


async def by_email(ctx: Context, request: Request) -> Response:
    email = request.query.get("email", "")
    return json_response(await ctx.read(read.by_email, request.workspace.id, email))


async def attributes(ctx: Context, request: Request) -> Response:
    found = await ctx.read(read.attributes_of, *_person(request), center.computed)
    return json_response(found)


async def attributes_of_many(ctx: Context, request: Request) -> Response:
    id_type = read.parse_id_type(request.query)
    ids = read.parse_bulk_ids(request.json_object())
    args = (request.workspace.id, ids, id_type, center.computed)
    result = await ctx.read(read.attributes_of_many, *args)
    return json_response(result)


async def segments_of(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(segments.segments_of, *_person(request)))


async def activities_of(ctx: Context, request: Request) -> Response:
    query = activities.parse_query(request.query)
    return json_response(await ctx.read(activities.activities_of, *_person(request), query))


async def workspace_activities(ctx: Context, request: Request) -> Response:
    query, raw, id_type = activities.parse_workspace_query(request.query)
    found = await ctx.read(
        activities.workspace_activities, request.workspace.id, query, raw, id_type
    )
    return json_response(found)


async def relationships_of(ctx: Context, request: Request) -> Response:
    page = paging.parse_page(
        request.query, default=read.RELATIONSHIPS_LIMIT, maximum=read.RELATIONSHIPS_MAX
    )
    return json_response(await ctx.read(read.relationships_of, *_person(request), page))


async def search_customers(ctx: Context, request: Request) -> Response:
    condition = search.parse_search(request.json_object())
    page = paging.parse_page(request.query, default=search.SEARCH_LIMIT, maximum=search.SEARCH_MAX)
    found = await ctx.read(search.search, request.workspace.id, condition, page, ctx.now())
    return json_response(found)


# Segments


def _segment(request: Request) -> tuple[int, int]:
    return request.workspace.id, segments.parse_segment_id(request.params["segment_id"])


async def create_segment(ctx: Context, request: Request) -> Response:
    body = request.json_object()
    created = await ctx.write(dynamic.create_segment, request.workspace.id, body, ctx.now())
    return json_response({"segment": created})


async def change_segment(ctx: Context, request: Request) -> Response:
    body = request.json_object()
    updated = await ctx.write(dynamic.update_segment, *_segment(request), body, ctx.now())
    return json_response({"segment": updated})


async def list_segments(ctx: Context, request: Request) -> Response:
    return json_response({"segments": await ctx.read(segments.list_all, request.workspace.id)})


async def get_segment(ctx: Context, request: Request) -> Response:
    return json_response({"segment": await ctx.read(segments.get, *_segment(request))})


async def delete_segment(ctx: Context, request: Request) -> Response:
    await ctx.write(segments.delete_manual, *_segment(request))
    return no_content()


async def customer_count(ctx: Context, request: Request) -> Response:
    workspace_id, segment_id = _segment(request)
    count = await ctx.read(segments.customer_count, workspace_id, segment_id)
    return json_response({"segment_id": segment_id, "count": count})


async def membership(ctx: Context, request: Request) -> Response:
    page = paging.parse_page(
        request.query, default=segments.MEMBERSHIP_LIMIT, maximum=segments.MEMBERSHIP_MAX
    )
    return json_response(await ctx.read(segments.membership, *_segment(request), page))


CUSTOMER = "/v1/customers/{customer_id}"
ID_TYPE = ("id_type",)
SEGMENT = "/v1/segments/{segment_id}"

ROUTES = (
    Route("GET", "/v1/customers", by_email, "app", query=["email"]),
    Route("POST", "/v1/customers", search_customers, "app", query=PAGE),
    Route("POST", "/v1/customers/attributes", attributes_of_many, "app", query=ID_TYPE),
    Route("GET", CUSTOMER + "/attributes", attributes, "app", query=ID_TYPE),
    Route("GET", CUSTOMER + "/segments", segments_of, "app", query=ID_TYPE),
    Route(
        "GET", CUSTOMER + "/activities", activities_of, "app", query=(*ID_TYPE, *activities.QUERY)
    ),
    Route("GET", CUSTOMER + "/relationships", relationships_of, "app", query=(*ID_TYPE, *PAGE)),
    Route("GET", "/v1/activities", workspace_activities, "app", query=activities.WORKSPACE_QUERY),
    Route("POST", "/v1/segments", create_segment, "app"),
    Route("GET", "/v1/segments", list_segments, "app"),
    Route("GET", SEGMENT, get_segment, "app"),
    Route("PUT", SEGMENT, change_segment, "app"),  # our extension
    Route("DELETE", SEGMENT, delete_segment, "app"),
    Route("GET", SEGMENT + "/customer_count", customer_count, "app"),
    Route("GET", SEGMENT + "/membership", membership, "app", query=PAGE),
)
