"""Design Studio (`/v1/design_studio/...`, App API), as customerio-node 5.x calls it.

Creates answer `{"folder"|"email"|"component": {...}}` (a translation
`{"email_translation": {...}}`); updates and deletes answer 204; lists are
page-based (`page`, `limit`) with `meta`. Every lookup is scoped to the
authenticated workspace, so another workspace's ids are 404s.
"""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content
from tidings.api.routing import Route, Surface
from tidings.templates import design_studio as studio

ROOT = "/v1/design_studio"
QUERIES = {
    "folder": studio.LIST_QUERY,
    "email": studio.EMAIL_QUERY,
    "component": studio.COMPONENT_QUERY,
}


def _handlers(kind: str) -> tuple[Route, ...]:
    """The five routes of one kind of node (`folders`, `emails`, `components`)."""
    many = f"{ROOT}/{kind}s"
    one = many + "/{node_id}"

    async def list_all(ctx: Context, request: Request) -> Response:
        listing = studio.parse_listing(request.query)
        found = await ctx.read(studio.list_nodes, request.workspace.id, kind, listing)
        return json_response(found)

    async def create(ctx: Context, request: Request) -> Response:
        body = request.json_object(required=True)
        made = await ctx.write(studio.create, request.workspace.id, kind, body, ctx.now())
        return json_response({kind: made})

    async def get(ctx: Context, request: Request) -> Response:
        node_id = request.params["node_id"]
        return json_response(
            {kind: await ctx.read(studio.get, request.workspace.id, kind, node_id)}
        )

    async def change(ctx: Context, request: Request) -> Response:
        body = request.json_object(required=True)
        node_id = request.params["node_id"]
        await ctx.write(studio.change, request.workspace.id, kind, node_id, body, ctx.now())
        return no_content()

    async def remove(ctx: Context, request: Request) -> Response:
        await ctx.write(studio.remove, request.workspace.id, kind, request.params["node_id"])
        return no_content()

    app: Surface = "app"
    return (
        Route("GET", many, list_all, app, query=QUERIES[kind]),
        Route("POST", many, create, app),
        Route("GET", one, get, app),
        Route("PUT", one, change, app),
        Route("DELETE", one, remove, app),
    )


async def list_languages(ctx: Context, request: Request) -> Response:
    email_id = request.params["email_id"]
    return json_response(await ctx.read(studio.list_languages, request.workspace.id, email_id))


async def add_language(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    email_id = request.params["email_id"]
    made = await ctx.write(studio.add_language, request.workspace.id, email_id, body, ctx.now())
    return json_response(made)


def _language(request: Request) -> tuple[int, str, str]:
    return request.workspace.id, request.params["email_id"], request.params["language"]


async def get_language(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(studio.get_language, *_language(request)))


async def change_language(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    await ctx.write(studio.change_language, *_language(request), body, ctx.now())
    return no_content()


async def remove_language(ctx: Context, request: Request) -> Response:
    await ctx.write(studio.remove_language, *_language(request))
    return no_content()


LANGUAGES = ROOT + "/emails/{email_id}/languages"
LANGUAGE = LANGUAGES + "/{language}"

ROUTES = (
    *_handlers("folder"),
    *_handlers("email"),
    *_handlers("component"),
    Route("GET", LANGUAGES, list_languages, "app"),
    Route("POST", LANGUAGES, add_language, "app"),
    Route("GET", LANGUAGE, get_language, "app"),
    Route("PUT", LANGUAGE, change_language, "app"),
    Route("DELETE", LANGUAGE, remove_language, "app"),
)
