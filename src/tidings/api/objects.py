"""Objects through the App API (`/v1/objects`, `/v1/object_types`): find, attributes,
the people related to one, the types (BEHAVIOUR.md 5.10; `objects/find.py`)."""

from __future__ import annotations

from tidings import paging
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.objects import find
from tidings.objects.store import ObjectRef
from tidings.people import object_people


def _object(request: Request) -> ObjectRef:
    id_type = find.parse_id_type(request.query)
    return find.ref_of(request.params["object_type_id"], request.params["object_id"], id_type)


async def find_objects(ctx: Context, request: Request) -> Response:
    type_id, matches = find.parse_search(request.json_object())
    page = paging.parse_page(request.query, default=find.DEFAULT_LIMIT, maximum=find.MAX_LIMIT)
    found = await ctx.read(find.find_objects, request.workspace.id, type_id, matches, page)
    return json_response(found)


async def attributes(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(find.attributes_of, request.workspace.id, _object(request)))


async def relationships(ctx: Context, request: Request) -> Response:
    ref = _object(request)
    page = paging.parse_page(
        request.query, default=object_people.DEFAULT_LIMIT, maximum=object_people.MAX_LIMIT
    )
    found = await ctx.read(object_people.people_of_object, request.workspace.id, ref, page)
    return json_response(found)


async def object_types(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(find.object_types, request.workspace.id))


OBJECT = "/v1/objects/{object_type_id}/{object_id}"

ROUTES = (
    Route("POST", "/v1/objects", find_objects, "app", query=paging.QUERY),
    Route("GET", OBJECT + "/attributes", attributes, "app", query=["id_type"]),
    Route("GET", OBJECT + "/relationships", relationships, "app", query=["id_type", *paging.QUERY]),
    Route("GET", "/v1/object_types", object_types, "app"),
)
