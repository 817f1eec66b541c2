"""App API (`/v1/...`, `Authorization: Bearer <app key>`): reads of what Track wrote,
and segments (manual, and dynamic ones with `conditions`: our extension).

Handlers parse the request, call one read (or, for segment changes, one write
through the group-commit writer) and shape the answer. Every lookup is scoped
to the authenticated workspace, so another workspace's ids are plain 404s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings import paging
from tidings.api.http import Request, Response, json_response, no_content
from tidings.paging import QUERY as PAGE
from tidings.people import activities, read
from tidings.segments import membership as dynamic
from tidings.segments import search
from tidings.segments import service as segments

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    _register_customers(router, app)
    _register_segments(router, app)


def _register_customers(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def person(request: Request) -> tuple[int, str, str]:
        id_type = read.parse_id_type(request.query)
        return request.workspace.id, request.params["customer_id"], id_type

    async def by_email(request: Request) -> Response:
        email = request.query.get("email", "")
        return json_response(await app.read(read.by_email, request.workspace.id, email))

    async def attributes(request: Request) -> Response:
        return json_response(await app.read(read.attributes_of, *person(request)))

    async def attributes_of_many(request: Request) -> Response:
        id_type = read.parse_id_type(request.query)
        ids = read.parse_bulk_ids(request.json_object())
        result = await app.read(read.attributes_of_many, request.workspace.id, ids, id_type)
        return json_response(result)

    async def segments_of(request: Request) -> Response:
        return json_response(await app.read(segments.segments_of, *person(request)))

    async def activities_of(request: Request) -> Response:
        query = activities.parse_query(request.query)
        return json_response(await app.read(activities.activities_of, *person(request), query))

    async def relationships_of(request: Request) -> Response:
        page = paging.parse_page(
            request.query, default=read.RELATIONSHIPS_LIMIT, maximum=read.RELATIONSHIPS_MAX
        )
        return json_response(await app.read(read.relationships_of, *person(request), page))

    async def search_customers(request: Request) -> Response:
        condition = search.parse_search(request.json_object())
        page = paging.parse_page(
            request.query, default=search.SEARCH_LIMIT, maximum=search.SEARCH_MAX
        )
        found = await app.read(search.search, request.workspace.id, condition, page, app.now())
        return json_response(found)

    customer, id_type = "/v1/customers/{customer_id}", ("id_type",)
    router.add("GET", "/v1/customers", by_email, "app", query=["email"])
    router.add("POST", "/v1/customers", search_customers, "app", query=PAGE)
    router.add("POST", "/v1/customers/attributes", attributes_of_many, "app", query=id_type)
    router.add("GET", customer + "/attributes", attributes, "app", query=id_type)
    router.add("GET", customer + "/segments", segments_of, "app", query=id_type)
    router.add(
        "GET", customer + "/activities", activities_of, "app", query=(*id_type, *activities.QUERY)
    )
    router.add("GET", customer + "/relationships", relationships_of, "app", query=(*id_type, *PAGE))


def _register_segments(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def segment(request: Request) -> tuple[int, int]:
        return request.workspace.id, segments.parse_segment_id(request.params["segment_id"])

    async def create(request: Request) -> Response:
        body = request.json_object()
        created = await app.write(dynamic.create_segment, request.workspace.id, body, app.now())
        return json_response({"segment": created})

    async def change(request: Request) -> Response:
        body = request.json_object()
        updated = await app.write(dynamic.update_segment, *segment(request), body, app.now())
        return json_response({"segment": updated})

    async def list_all(request: Request) -> Response:
        return json_response({"segments": await app.read(segments.list_all, request.workspace.id)})

    async def get(request: Request) -> Response:
        return json_response({"segment": await app.read(segments.get, *segment(request))})

    async def delete(request: Request) -> Response:
        await app.write(segments.delete_manual, *segment(request))
        return no_content()

    async def customer_count(request: Request) -> Response:
        workspace_id, segment_id = segment(request)
        count = await app.read(segments.customer_count, workspace_id, segment_id)
        return json_response({"segment_id": segment_id, "count": count})

    async def membership(request: Request) -> Response:
        page = paging.parse_page(
            request.query, default=segments.MEMBERSHIP_LIMIT, maximum=segments.MEMBERSHIP_MAX
        )
        return json_response(await app.read(segments.membership, *segment(request), page))

    one = "/v1/segments/{segment_id}"
    router.add("POST", "/v1/segments", create, "app")
    router.add("GET", "/v1/segments", list_all, "app")
    router.add("GET", one, get, "app")
    router.add("PUT", one, change, "app")  # our extension
    router.add("DELETE", one, delete, "app")
    router.add("GET", one + "/customer_count", customer_count, "app")
    router.add("GET", one + "/membership", membership, "app", query=PAGE)
