"""Imports (`/v1/imports`, App API): bulk people and events from a CSV or JSON Lines file.

- `POST /v1/imports` `{"import": {"data_file_url", "type", "identifier", ...}}`,
  as Customer.io's API and `customerio-node`'s `createImport` send it.
- `POST /v1/imports/upload?type=people|event&identifier=id|email&name=...`
  (our extension): the file itself is the request body, up to `MAX_UPLOAD`;
  `Content-Type: text/csv` or `application/x-ndjson` (or `format=csv|jsonl`,
  or a `.jsonl` / `.ndjson` name) says which format it is.
- `GET /v1/imports/{id}` -> `{"import": {...}}`; `GET /v1/imports` (our
  extension) lists the latest 100.

Creating answers at once with the import `preprocessing`; a job downloads
(`data_file_url`, through the SSRF guard and `--fetch-allow`) and imports it.
"""

from __future__ import annotations

from typing import Any

from tidings import files
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.errors import bad_request
from tidings.imports import service

MAX_UPLOAD = service.MAX_FILE_BYTES


async def create(ctx: Context, request: Request) -> Response:
    body = request.json_object().get("import")
    if not isinstance(body, dict):
        raise bad_request('the body must be {"import": {...}}', "import")
    url = body.get("data_file_url")
    parsed = service.parse_request(body, default_format=service.format_of("", str(url)))
    if parsed.url is None:
        raise bad_request("data_file_url is required", "data_file_url")
    created = await ctx.write(service.create, request.workspace.id, parsed, None, ctx.now())
    return json_response({"import": created})


async def upload(ctx: Context, request: Request) -> Response:
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    parsed = service.parse_request(
        request.query,
        default_format=service.format_of(content_type, request.query.get("name", "")),
    )
    if not request.body.strip():
        raise bad_request("the request body must be the file to import")
    file_id = await _store(ctx, request.workspace.id, parsed.name, content_type, request.body)
    created = await ctx.write(
        service.create_from_upload,
        request.workspace.id,
        parsed,
        file_id,
        len(request.body),
        ctx.now(),
    )
    return json_response({"import": created})


async def get(ctx: Context, request: Request) -> Response:
    import_id = service.parse_import_id(request.params["import_id"])
    found = await ctx.read(service.get, request.workspace.id, import_id)
    return json_response({"import": found})


async def list_recent(ctx: Context, request: Request) -> Response:
    return json_response({"imports": await ctx.read(service.list_recent, request.workspace.id)})


async def _store(ctx: Context, workspace_id: int, name: str, content_type: str, body: bytes) -> int:
    """Store the upload part by part (each part its own short write); the file's id.

    The file is complete only once the import that uses it is created.
    """
    kind = content_type or "application/octet-stream"
    file_id: Any = await ctx.write(files.create, workspace_id, "import", name, kind, ctx.now())
    for seq, start in enumerate(range(0, len(body), files.PART_SIZE)):
        await ctx.write(files.append_part, file_id, seq, body[start : start + files.PART_SIZE])
    return int(file_id)


ROUTES = (
    Route("POST", "/v1/imports", create, "app"),
    Route(
        "POST", "/v1/imports/upload", upload, "app", max_body=MAX_UPLOAD, query=service.UPLOAD_QUERY
    ),
    Route("GET", "/v1/imports", list_recent, "app"),
    Route("GET", "/v1/imports/{import_id}", get, "app"),
)
