"""`GET /downloads/{token}`: a stored file behind a short-lived link.

The token alone grants the download (it is what `GET /v1/exports/{id}/download`
hands out, valid 15 minutes), so this route takes no other credentials. The
body streams one stored part at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tidings import files
from tidings.api.http import Request, Response
from tidings.errors import ApiError

if TYPE_CHECKING:
    from tidings.app import Tidings

PATH = "/downloads/{token}"


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    async def download(request: Request) -> Response:
        token = request.params["token"]
        stored = await app.read(files.resolve_link, token, app.now())
        if stored is None:
            raise ApiError(404, "this download link is unknown or has expired", code="not_found")
        disposition = f'attachment; filename="{_safe_name(stored.name)}"'
        headers = [
            (b"content-type", stored.content_type.encode()),
            (b"content-length", str(stored.size).encode()),
            (b"content-disposition", disposition.encode()),
            (b"cache-control", b"private, no-store"),
        ]
        return Response(200, b"", headers, stream=_parts(app, stored))

    router.add("GET", PATH, download, "app", auth="none")


async def _parts(app: Tidings, stored: files.StoredFile) -> AsyncIterator[bytes]:
    for seq in range(stored.parts):
        yield await app.read(files.read_part, stored.id, seq)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "download"


def url_for(base_url: str, token: str) -> str:
    return f"{base_url}/downloads/{token}"
