"""`GET /downloads/{token}`: a stored file behind a short-lived link.

The token alone grants the download (it is what `GET /v1/exports/{id}/download`
hands out, valid 15 minutes), so this route takes no other credentials. The
body streams one stored part at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tidings import files
from tidings.api.context import Context
from tidings.api.http import Request, Response
from tidings.api.routing import Route
from tidings.errors import ApiError

PATH = "/downloads/{token}"


async def download(ctx: Context, request: Request) -> Response:
    token = request.params["token"]
    stored = await ctx.read(files.resolve_link, token, ctx.now())
    if stored is None:
        raise ApiError(404, "this download link is unknown or has expired", code="not_found")
    disposition = f'attachment; filename="{_safe_name(stored.name)}"'
    headers = [
        (b"content-type", stored.content_type.encode()),
        (b"content-length", str(stored.size).encode()),
        (b"content-disposition", disposition.encode()),
        (b"cache-control", b"private, no-store"),
    ]
    return Response(200, b"", headers, stream=_parts(ctx, stored))


async def _parts(ctx: Context, stored: files.StoredFile) -> AsyncIterator[bytes]:
    for seq in range(stored.parts):
        yield await ctx.read(files.read_part, stored.id, seq)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "download"


def url_for(base_url: str, token: str) -> str:
    return f"{base_url}/downloads/{token}"


ROUTES = (Route("GET", PATH, download, "app", auth="none"),)
