"""Collections (`/v1/collections...`, App API): create, read, list, update, delete, content.

Bodies are parsed and their rows validated here, outside the writer; the use
case then runs in one write (with the fetch job, for a `url`). A collection
may hold 10 MB of compact JSON, so the routes that take rows accept bodies
up to `MAX_BODY` (room for indentation); bigger bodies are a 413, rows over
the limits a 400 naming the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tidings.api.http import Request, Response, json_response, no_content
from tidings.collections import service
from tidings.collections.rows import MAX_BYTES

if TYPE_CHECKING:
    from tidings.app import Tidings

MAX_BODY = 2 * MAX_BYTES


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def one(request: Request) -> tuple[int, int]:
        return request.workspace.id, service.parse_collection_id(request.params["collection_id"])

    async def create(request: Request) -> Response:
        change = await _parsed(service.parse_create, request)
        created = await app.write(service.create, request.workspace.id, change, app.now())
        return json_response({"collection": created})

    async def list_all(request: Request) -> Response:
        found = await app.read(service.list_all, request.workspace.id)
        return json_response({"collections": found})

    async def get(request: Request) -> Response:
        return json_response({"collection": await app.read(service.get, *one(request))})

    async def update(request: Request) -> Response:
        change = await _parsed(service.parse_update, request)
        updated = await app.write(service.update_one, *one(request), change, app.now())
        return json_response({"collection": updated})

    async def delete(request: Request) -> Response:
        await app.write(service.delete_one, *one(request))
        return no_content()

    async def content(request: Request) -> Response:
        data = await app.read(service.content, *one(request))
        return Response(200, data.encode())

    async def replace_content(request: Request) -> Response:
        rows = await _parsed(service.parse_content, request, whole=True)
        updated = await app.write(service.replace_content, *one(request), rows, app.now())
        return json_response({"collection": updated})

    path = "/v1/collections/{collection_id}"
    router.add("GET", "/v1/collections", list_all, "app")
    router.add("POST", "/v1/collections", create, "app", max_body=MAX_BODY)
    router.add("GET", path, get, "app")
    router.add("PUT", path, update, "app", max_body=MAX_BODY)
    router.add("DELETE", path, delete, "app")
    router.add("GET", path + "/content", content, "app")
    router.add("PUT", path + "/content", replace_content, "app", max_body=MAX_BODY)


async def _parsed(parse: Callable[[Any], Any], request: Request, *, whole: bool = False) -> Any:
    """`parse` the JSON body (object, or any value if `whole`) on a thread: a body of
    10 MB takes a while to decode and check, and must not stall the event loop."""

    def run() -> Any:
        return parse(request.json() if whole else request.json_object())

    return await asyncio.to_thread(run)
