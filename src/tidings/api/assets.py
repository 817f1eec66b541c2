"""Assets (`/v1/assets/...`, App API) and their public URLs (`/assets/{token}/{name}`).

`POST /v1/assets/files` takes the multipart form customerio-node sends (`file`,
optional `name` and `parent_folder_id`). The body limit is the configured
file size plus the form's framing, enforced by the HTTP layer while reading
(a larger declared Content-Length is refused before any byte is read); the
file's own size and type are checked before anything is stored. Updates and
deletes answer 204. The bytes are written to the asset store first and the row
second, so a listed asset always has its bytes; a failed row write removes them.
"""

from __future__ import annotations

import asyncio

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content, refuse_nul
from tidings.api.routing import Route
from tidings.assets import limits, multipart
from tidings.assets import service as assets
from tidings.config import Settings
from tidings.errors import ApiError


def upload_limit(settings: Settings) -> int:
    return settings.asset_max_bytes + limits.FORM_OVERHEAD


async def upload(ctx: Context, request: Request) -> Response:
    max_bytes = ctx.settings.asset_max_bytes
    form = await asyncio.to_thread(multipart.parse, request.header("content-type"), request.body)
    part = form.get("file")
    if part is None or part.filename is None:
        raise ApiError(400, "the form needs a file part named file", field="file")
    kind = limits.content_type(part.content_type, part.filename)
    limits.check_bytes(kind, part.data, max_bytes)
    filename = part.filename[: assets.MAX_NAME_CHARS] or "file"
    name = _text(form.get("name")) or filename
    refuse_nul(name + filename)  # the JSON bodies' rule, for the form's texts
    upload = assets.Upload(
        name=assets.parse_name(name, required=True) or filename,
        filename=filename,
        content_type=kind,
        size=len(part.data),
        token=limits.new_token(),
        folder_id=assets.parse_upload_folder(_text(form.get("parent_folder_id"))),
    )
    store = ctx.assets
    await asyncio.to_thread(store.put, upload.token, part.data, kind)
    try:
        asset_id = await ctx.write(assets.add_file, request.workspace.id, upload, ctx.now())
    except BaseException:
        await asyncio.to_thread(store.delete, upload.token)
        raise
    found = await ctx.read(assets.get_file, request.workspace.id, asset_id, ctx.public_url(request))
    return json_response({"asset": found})


def _text(part: multipart.Part | None) -> str | None:
    return None if part is None else part.data.decode("utf-8", "replace")


def _file(request: Request) -> tuple[int, int]:
    return request.workspace.id, assets.parse_id(request.params["asset_id"], "asset")


def _folder(request: Request) -> tuple[int, int]:
    return request.workspace.id, assets.parse_id(request.params["folder_id"], "asset folder")


async def list_files(ctx: Context, request: Request) -> Response:
    listing = assets.parse_listing(request.query)
    base = ctx.public_url(request)
    return json_response(await ctx.read(assets.list_files, request.workspace.id, listing, base))


async def get_file(ctx: Context, request: Request) -> Response:
    found = await ctx.read(assets.get_file, *_file(request), ctx.public_url(request))
    return json_response({"asset": found})


async def change_file(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    await ctx.write(assets.change_file, *_file(request), body, ctx.now())
    return no_content()


async def remove_file(ctx: Context, request: Request) -> Response:
    token = await ctx.write(assets.remove_file, *_file(request))
    await asyncio.to_thread(ctx.assets.delete, token)
    return no_content()


async def list_folders(ctx: Context, request: Request) -> Response:
    listing = assets.parse_listing(request.query)
    return json_response(await ctx.read(assets.list_folders, request.workspace.id, listing))


async def add_folder(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    folder_id = await ctx.write(assets.add_folder, request.workspace.id, body, ctx.now())
    found = await ctx.read(assets.get_folder, request.workspace.id, folder_id)
    return json_response({"folder": found})


async def get_folder(ctx: Context, request: Request) -> Response:
    return json_response({"folder": await ctx.read(assets.get_folder, *_folder(request))})


async def change_folder(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    await ctx.write(assets.change_folder, *_folder(request), body, ctx.now())
    return no_content()


async def remove_folder(ctx: Context, request: Request) -> Response:
    await ctx.write(assets.remove_folder, *_folder(request))
    return no_content()


async def public_file(ctx: Context, request: Request) -> Response:
    """The bytes behind a public URL: the token alone grants them (as links in
    sent emails must); the file name after it is for people and is not checked."""
    found = await ctx.read(assets.served, request.params["token"])
    data = None if found is None else await asyncio.to_thread(ctx.assets.get, found.token)
    if found is None or data is None:
        raise ApiError(404, "no asset at this address", code="not_found")
    headers = [
        (b"content-type", found.content_type.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"public, max-age=31536000, immutable"),
    ]
    return Response(200, data, headers)


FILES = "/v1/assets/files"
FILE = FILES + "/{asset_id}"
FOLDERS = "/v1/assets/folders"
FOLDER = FOLDERS + "/{folder_id}"

ROUTES = (
    Route("GET", "/v1/assets", list_files, "app", query=assets.QUERY),
    Route("POST", FILES, upload, "app", max_body=upload_limit),
    Route("GET", FILE, get_file, "app"),
    Route("PUT", FILE, change_file, "app"),
    Route("DELETE", FILE, remove_file, "app"),
    Route("GET", FOLDERS, list_folders, "app", query=assets.QUERY),
    Route("POST", FOLDERS, add_folder, "app"),
    Route("GET", FOLDER, get_folder, "app"),
    Route("PUT", FOLDER, change_folder, "app"),
    Route("DELETE", FOLDER, remove_folder, "app"),
    Route("GET", "/assets/{token}/{filename}", public_file, "app", auth="none"),
)
