"""Message resources (App API): transactional messages, snippets, sender identities, layouts.

Customer.io's routes: `GET /v1/transactional[/{id}[/contents|/language/{lang}]]`,
`PUT /v1/transactional/{id}/content/{content_id}` and `.../language/{lang}`,
`GET/POST/PUT /v1/snippets`, `GET/DELETE /v1/snippets/{name}`,
`GET /v1/sender_identities[/{id}]`. Our extensions to create them:
`POST /v1/transactional`, `DELETE /v1/transactional/{id}`,
`POST /v1/sender_identities`, `DELETE /v1/sender_identities/{id}`,
`GET/POST /v1/layouts`, `GET/PUT/DELETE /v1/layouts/{name}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.api.http import Request, Response, json_response, no_content
from tidings.numbers import path_id
from tidings.templates import definitions, layouts, senders, snippets
from tidings.templates import transactional_messages as messages

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    _transactional(router, app)
    _snippets(router, app)
    _senders(router, app)
    _layouts(router, app)


def _transactional(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def one(request: Request) -> tuple[int, int]:
        return request.workspace.id, definitions.parse_id(request.params["message_id"])

    async def list_all(request: Request) -> Response:
        return json_response({"messages": await app.read(messages.list_all, request.workspace.id)})

    async def create(request: Request) -> Response:
        definition = definitions.parse_definition(request.json_object())
        made = await app.write(messages.create, request.workspace.id, definition, app.now())
        return json_response({"message": made})

    async def get(request: Request) -> Response:
        return json_response({"message": await app.read(messages.get, *one(request))})

    async def delete(request: Request) -> Response:
        await app.write(messages.remove, *one(request))
        return no_content()

    async def contents(request: Request) -> Response:
        return json_response({"contents": await app.read(messages.contents_of, *one(request))})

    async def language(request: Request) -> Response:
        found = await app.read(messages.language_content, *one(request), request.params["lang"])
        return json_response({"content": found})

    async def update_content(request: Request) -> Response:
        raw = request.params["content_id"]
        return await _update(request, ("id", path_id(raw, "transactional message content")))

    async def update_language(request: Request) -> Response:
        ref = ("language", definitions.parse_language(request.params["lang"]))
        return await _update(request, ref)

    async def _update(request: Request, ref: tuple[str, object]) -> Response:
        body = request.json_object()
        updated = await app.write(messages.update_content, *one(request), ref, body, app.now())
        return json_response({"content": updated})

    path = "/v1/transactional/{message_id}"
    router.add("GET", "/v1/transactional", list_all, "app")
    router.add("POST", "/v1/transactional", create, "app")
    router.add("GET", path, get, "app")
    router.add("DELETE", path, delete, "app")
    router.add("GET", path + "/contents", contents, "app")
    router.add("PUT", path + "/content/{content_id}", update_content, "app")
    router.add("GET", path + "/language/{lang}", language, "app")
    router.add("PUT", path + "/language/{lang}", update_language, "app")


def _snippets(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    async def list_all(request: Request) -> Response:
        return json_response({"snippets": await app.read(snippets.list_all, request.workspace.id)})

    async def put(request: Request) -> Response:
        name, value = snippets.parse(request.json_object())
        saved = await app.write(snippets.put, request.workspace.id, name, value, app.now())
        return json_response({"snippet": saved})

    async def get(request: Request) -> Response:
        found = await app.read(snippets.get, request.workspace.id, request.params["name"])
        return json_response({"snippet": found})

    async def delete(request: Request) -> Response:
        await app.write(snippets.remove, request.workspace.id, request.params["name"])
        return no_content()

    router.add("GET", "/v1/snippets", list_all, "app")
    router.add("POST", "/v1/snippets", put, "app")
    router.add("PUT", "/v1/snippets", put, "app")
    router.add("GET", "/v1/snippets/{name}", get, "app")
    router.add("DELETE", "/v1/snippets/{name}", delete, "app")


def _senders(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def one(request: Request) -> tuple[int, int]:
        return request.workspace.id, senders.parse_id(request.params["sender_id"])

    async def page(request: Request) -> Response:
        return json_response(await app.read(senders.page, request.workspace.id, request.query))

    async def create(request: Request) -> Response:
        name, email = senders.parse(request.json_object())
        made = await app.write(senders.create, request.workspace.id, name, email, app.now())
        return json_response({"sender_identity": made})

    async def get(request: Request) -> Response:
        return json_response({"sender_identity": await app.read(senders.get, *one(request))})

    async def delete(request: Request) -> Response:
        await app.write(senders.remove, *one(request))
        return no_content()

    router.add("GET", "/v1/sender_identities", page, "app", query=senders.QUERY)
    router.add("POST", "/v1/sender_identities", create, "app")
    router.add("GET", "/v1/sender_identities/{sender_id}", get, "app")
    router.add("DELETE", "/v1/sender_identities/{sender_id}", delete, "app")


def _layouts(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    async def list_all(request: Request) -> Response:
        return json_response({"layouts": await app.read(layouts.list_all, request.workspace.id)})

    async def put(request: Request) -> Response:
        name, body = layouts.parse(request.json_object(), request.params.get("name"))
        saved = await app.write(layouts.save, request.workspace.id, name, body, app.now())
        return json_response({"layout": saved})

    async def get(request: Request) -> Response:
        found = await app.read(layouts.get, request.workspace.id, request.params["name"])
        return json_response({"layout": found})

    async def delete(request: Request) -> Response:
        await app.write(layouts.remove, request.workspace.id, request.params["name"])
        return no_content()

    router.add("GET", "/v1/layouts", list_all, "app")
    router.add("POST", "/v1/layouts", put, "app")
    router.add("GET", "/v1/layouts/{name}", get, "app")
    router.add("PUT", "/v1/layouts/{name}", put, "app")
    router.add("DELETE", "/v1/layouts/{name}", delete, "app")
