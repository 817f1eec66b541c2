"""Pipelines API (`POST /v1/identify|track|page|screen|group|alias|batch`), Segment-compatible.

Auth: the workspace's write key as HTTP Basic `write_key:` or Bearer (the
dispatcher checks a header), else a `writeKey` field in the body. Bodies may
be gzip-compressed (`Content-Encoding: gzip`). Success is `200 {}` once
committed; errors are `{"code", "message"}` (surface `cdp`).

Validation follows Customer.io: without `X-Strict-Mode: 1` an invalid or
oversize message (or request) is still answered 200, and recorded as rejected
(`pipelines.rejections`, counted in `/metrics` as
`tidings_rejections_total{surface="cdp",reason="dropped_<code>"}`); the valid
messages of a batch apply. With strict mode the first problem refuses the
whole request: 400 `invalid_request`, or 413 `too_large`, and nothing is
written. Whatever the mode, malformed JSON (or gzip) is a 400 and a bad write
key a 401.

With the ingest log (`--ingest-log`), the messages are published to their
partitions (by userId, else anonymousId) and `200 {}` answers once the log
has them; a message refused only when applied is recorded as rejected then,
strict mode or not.

Our extension: `GET /v1/pipelines/rejections` (App API key, `?limit=&start=`)
lists the workspace's recent rejections, newest first.
"""

from __future__ import annotations

import zlib
from functools import partial
from typing import Any

from tidings import paging
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, ok
from tidings.api.routing import Route
from tidings.errors import ApiError, bad_request
from tidings.ingest_log import kinds
from tidings.pipelines import fast, ingest, parse, rejections
from tidings.pipelines.ingest import Item

SINGLE = ("identify", "track", "page", "screen", "group", "alias")
PATHS = frozenset(f"/v1/{name}" for name in (*SINGLE, "batch"))  # errors here are CDP-shaped
MAX_INFLATED = 4 * 1024 * 1024  # a gzip body may not inflate past the raw body limit


async def identify(ctx: Context, request: Request) -> Response:
    return await receive(ctx, request, "identify")


async def track(ctx: Context, request: Request) -> Response:
    return await receive(ctx, request, "track")


async def page(ctx: Context, request: Request) -> Response:
    return await receive(ctx, request, "page")


async def screen(ctx: Context, request: Request) -> Response:
    return await receive(ctx, request, "screen")


async def group(ctx: Context, request: Request) -> Response:
    return await receive(ctx, request, "group")


async def alias(ctx: Context, request: Request) -> Response:
    return await receive(ctx, request, "alias")


async def batch(ctx: Context, request: Request) -> Response:
    return await receive(ctx, request, None)


async def recent_rejections(ctx: Context, request: Request) -> Response:
    wanted = rejections.parse_page(request.query)
    return json_response(await ctx.read(rejections.recent, request.workspace.id, wanted))


async def receive(ctx: Context, request: Request, endpoint: str | None) -> Response:
    """One message (`endpoint`: its kind) or a batch (None), applied or rejected."""
    strict = (request.header("x-strict-mode") or "").strip().lower() in ("1", "true")
    request.body = inflate(request)
    decoded = None
    if endpoint is None and request.workspace is not None:
        now = ctx.now()
        read = fast.read_batch(request.body, now)
        if read.plain is not None:  # valid through and through, strict or not
            if read.plain:
                workspace = request.workspace.id
                published = partial(kinds.pipelines_plain, workspace, read.plain, now)
                queued = (workspace, read.plain, now)
                await ctx.ingest(published, ingest.ingest_queued, queued, bulk=True)
            return ok()
        decoded = read.body
    body, refused = (decoded, None) if decoded is not None else decode(request, strict)
    if request.workspace is None:
        key = body.get("writeKey") if isinstance(body, dict) else None
        request.workspace = await ctx.auth.cdp(request, key if isinstance(key, str) else None)
    now = ctx.now()
    if refused is not None:
        items: list[Item] = [rejections.rejected(refused, request.body, len(request.body))]
    else:
        items = messages(body, len(request.body), endpoint, now)
    if strict:
        for item in items:
            if isinstance(item, rejections.Rejected):
                raise item.error
    if not items:
        return ok()
    for reason in await _write(ctx, request.workspace.id, items, now, strict):
        ctx.metrics.rejections[("cdp", f"dropped_{reason}")] += 1
    return ok()


async def _write(
    ctx: Context, workspace_id: int, items: list[Item], now: int, strict: bool
) -> list[str]:
    """Apply the messages; the reasons of the refused ones, once committed (or, with the
    ingest log, published: those refused when applied are recorded, not counted here)."""
    published = partial(kinds.pipelines_items, workspace_id, items, now)
    parsed = [item.reason for item in items if isinstance(item, rejections.Rejected)]
    if ingest.only_plain_events(items):  # shares its statements with concurrent requests
        queued = (workspace_id, ingest.plain_items(items), now)
        await ctx.ingest(published, ingest.ingest_queued, queued, bulk=True)
        return parsed
    refused = await ctx.ingest(published, ingest.ingest, workspace_id, items, now, strict)
    return parsed if refused is None else refused


def decode(request: Request, strict: bool) -> tuple[Any, ApiError | None]:
    """The JSON body, or (without strict mode) why its valid JSON was refused.

    Malformed JSON is a 400 in either mode; text the store cannot hold (NUL
    characters) is invalid input, recorded as rejected unless strict.
    """
    try:
        return request.json(), None
    except ApiError as exc:
        if strict or exc.code == "malformed_json":
            raise
        return None, exc


def messages(body: Any, size: int, endpoint: str | None, now: int) -> list[Item]:
    """The request's messages, each parsed or `Rejected`; a refused request is one `Rejected`."""
    limit, what = (parse.MESSAGE_LIMIT, "a message") if endpoint else (parse.BATCH_LIMIT, "a batch")
    try:
        parse.check_size(size, limit, what)
        if endpoint is not None:
            return [parse.parse_message(body, now, endpoint)]
        raw_items = parse.batch_items(body)
    except ApiError as exc:
        return [rejections.rejected(exc, body, size)]
    measure = size > parse.MESSAGE_LIMIT
    return [_parse_item(item, now, measure) for item in raw_items]


def _parse_item(raw: Any, now: int, measure: bool) -> Item:
    try:
        if measure:
            parse.check_size(parse.item_size(raw), parse.MESSAGE_LIMIT, "a message")
        return parse.parse_message(raw, now)
    except ApiError as exc:
        return rejections.rejected(exc, raw)


def inflate(request: Request) -> bytes:
    """The request body, gunzipped when `Content-Encoding: gzip` says so.

    Each gzip member must end with its CRC and length trailer; members may
    follow one another (as `cat a.gz b.gz` makes), and anything else after
    the last is refused rather than dropped.
    """
    encoding = (request.header("content-encoding") or "identity").strip().lower()
    if encoding == "identity":
        return request.body
    if encoding != "gzip":
        raise bad_request(f"unsupported Content-Encoding: {encoding}")
    parts: list[bytes] = []
    rest, room = request.body, MAX_INFLATED
    while rest:
        if room <= 0:  # zlib reads a limit of 0 as none
            raise ApiError(413, "request body too large", code="too_large")
        part, rest = _member(rest, room)
        parts.append(part)
        room -= len(part)
    return b"".join(parts)


def _member(data: bytes, room: int) -> tuple[bytes, bytes]:
    """The first gzip member of `data`, inflated to at most `room` bytes, and what follows."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data, room)
    except zlib.error as exc:
        raise ApiError(400, "body is not valid gzip", code="malformed_json") from exc
    if inflater.unconsumed_tail:
        raise ApiError(413, "request body too large", code="too_large")
    if not inflater.eof:  # cut short: no end of stream, or no CRC and length trailer
        raise ApiError(400, "gzip body is truncated", code="malformed_json")
    return body, inflater.unused_data


ROUTES = (
    Route("POST", "/v1/identify", identify, "cdp"),
    Route("POST", "/v1/track", track, "cdp"),
    Route("POST", "/v1/page", page, "cdp"),
    Route("POST", "/v1/screen", screen, "cdp"),
    Route("POST", "/v1/group", group, "cdp"),
    Route("POST", "/v1/alias", alias, "cdp"),
    Route("POST", "/v1/batch", batch, "cdp"),
    Route("GET", "/v1/pipelines/rejections", recent_rejections, "app", query=paging.QUERY),
)
