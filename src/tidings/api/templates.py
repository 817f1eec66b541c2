"""Message resources (App API): transactional messages, snippets, sender identities, layouts.

Customer.io's routes: `GET /v1/transactional[/{id}[/contents|/language/{lang}]]`,
`PUT /v1/transactional/{id}/content/{content_id}` and `.../language/{lang}`,
`GET/POST/PUT /v1/snippets`, `GET/DELETE /v1/snippets/{name}`,
`GET /v1/sender_identities[/{id}[/used_by]]`. Our extensions to create them:
`POST /v1/transactional`, `DELETE /v1/transactional/{id}`,
`POST /v1/sender_identities`, `DELETE /v1/sender_identities/{id}`,
`GET/POST /v1/layouts`, `GET/PUT/DELETE /v1/layouts/{name}`.
"""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content
from tidings.api.routing import Route
from tidings.campaigns import sender_usage
from tidings.numbers import path_id
from tidings.templates import definitions, layouts, senders, snippets
from tidings.templates import transactional_messages as messages

# Transactional messages


def _message(request: Request) -> tuple[int, int]:
    return request.workspace.id, definitions.parse_id(request.params["message_id"])


async def list_messages(ctx: Context, request: Request) -> Response:
    return json_response({"messages": await ctx.read(messages.list_all, request.workspace.id)})


async def create_message(ctx: Context, request: Request) -> Response:
    definition = definitions.parse_definition(request.json_object())
    made = await ctx.write(messages.create, request.workspace.id, definition, ctx.now())
    return json_response({"message": made})


async def get_message(ctx: Context, request: Request) -> Response:
    return json_response({"message": await ctx.read(messages.get, *_message(request))})


async def delete_message(ctx: Context, request: Request) -> Response:
    await ctx.write(messages.remove, *_message(request))
    return no_content()


async def contents(ctx: Context, request: Request) -> Response:
    return json_response({"contents": await ctx.read(messages.contents_of, *_message(request))})


async def language(ctx: Context, request: Request) -> Response:
    found = await ctx.read(messages.language_content, *_message(request), request.params["lang"])
    return json_response({"content": found})


async def update_content(ctx: Context, request: Request) -> Response:
    raw = request.params["content_id"]
    return await _update(ctx, request, ("id", path_id(raw, "transactional message content")))


async def update_language(ctx: Context, request: Request) -> Response:
    ref = ("language", definitions.parse_language(request.params["lang"]))
    return await _update(ctx, request, ref)


async def _update(ctx: Context, request: Request, ref: tuple[str, object]) -> Response:
    body = request.json_object()
    updated = await ctx.write(messages.update_content, *_message(request), ref, body, ctx.now())
    return json_response({"content": updated})


# Snippets


async def list_snippets(ctx: Context, request: Request) -> Response:
    return json_response({"snippets": await ctx.read(snippets.list_all, request.workspace.id)})


async def put_snippet(ctx: Context, request: Request) -> Response:
    name, value = snippets.parse(request.json_object())
    saved = await ctx.write(snippets.put, request.workspace.id, name, value, ctx.now())
    return json_response({"snippet": saved})


async def get_snippet(ctx: Context, request: Request) -> Response:
    found = await ctx.read(snippets.get, request.workspace.id, request.params["name"])
    return json_response({"snippet": found})


async def delete_snippet(ctx: Context, request: Request) -> Response:
    await ctx.write(snippets.remove, request.workspace.id, request.params["name"])
    return no_content()


# Sender identities


def _sender(request: Request) -> tuple[int, int]:
    return request.workspace.id, senders.parse_id(request.params["sender_id"])


async def page_senders(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(senders.page, request.workspace.id, request.query))


async def create_sender(ctx: Context, request: Request) -> Response:
    name, email = senders.parse(request.json_object())
    made = await ctx.write(senders.create, request.workspace.id, name, email, ctx.now())
    return json_response({"sender_identity": made})


async def get_sender(ctx: Context, request: Request) -> Response:
    return json_response({"sender_identity": await ctx.read(senders.get, *_sender(request))})


async def sender_used_by(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(sender_usage.used_by, *_sender(request)))


async def delete_sender(ctx: Context, request: Request) -> Response:
    await ctx.write(senders.remove, *_sender(request))
    return no_content()


# Layouts


async def list_layouts(ctx: Context, request: Request) -> Response:
    return json_response({"layouts": await ctx.read(layouts.list_all, request.workspace.id)})


async def put_layout(ctx: Context, request: Request) -> Response:
    name, body = layouts.parse(request.json_object(), request.params.get("name"))
    saved = await ctx.write(layouts.save, request.workspace.id, name, body, ctx.now())
    return json_response({"layout": saved})


async def get_layout(ctx: Context, request: Request) -> Response:
    found = await ctx.read(layouts.get, request.workspace.id, request.params["name"])
    return json_response({"layout": found})


async def delete_layout(ctx: Context, request: Request) -> Response:
    await ctx.write(layouts.remove, request.workspace.id, request.params["name"])
    return no_content()


MESSAGE = "/v1/transactional/{message_id}"

ROUTES = (
    Route("GET", "/v1/transactional", list_messages, "app"),
    Route("POST", "/v1/transactional", create_message, "app"),
    Route("GET", MESSAGE, get_message, "app"),
    Route("DELETE", MESSAGE, delete_message, "app"),
    Route("GET", MESSAGE + "/contents", contents, "app"),
    Route("PUT", MESSAGE + "/content/{content_id}", update_content, "app"),
    Route("GET", MESSAGE + "/language/{lang}", language, "app"),
    Route("PUT", MESSAGE + "/language/{lang}", update_language, "app"),
    Route("GET", "/v1/snippets", list_snippets, "app"),
    Route("POST", "/v1/snippets", put_snippet, "app"),
    Route("PUT", "/v1/snippets", put_snippet, "app"),
    Route("GET", "/v1/snippets/{name}", get_snippet, "app"),
    Route("DELETE", "/v1/snippets/{name}", delete_snippet, "app"),
    Route("GET", "/v1/sender_identities", page_senders, "app", query=senders.QUERY),
    Route("POST", "/v1/sender_identities", create_sender, "app"),
    Route("GET", "/v1/sender_identities/{sender_id}", get_sender, "app"),
    Route("DELETE", "/v1/sender_identities/{sender_id}", delete_sender, "app"),
    Route("GET", "/v1/sender_identities/{sender_id}/used_by", sender_used_by, "app"),
    Route("GET", "/v1/layouts", list_layouts, "app"),
    Route("POST", "/v1/layouts", put_layout, "app"),
    Route("GET", "/v1/layouts/{name}", get_layout, "app"),
    Route("PUT", "/v1/layouts/{name}", put_layout, "app"),
    Route("DELETE", "/v1/layouts/{name}", delete_layout, "app"),
)
