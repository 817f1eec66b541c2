"""Transactional sends (`POST /v1/send/{channel}`, App API) and the outbox (our extension).

A send is parsed (pure), composed in a read transaction where it can be
(`transactional.prepare_send`: rendering stays off the writer thread, and a
template that does not render is answered from there, never written; a
person changed between that read and the write, or a workspace's first
email (its tracking secret is made first), means composing again, up to
`COMPOSE_ATTEMPTS` times; the writer never renders a template), then
accepted in one write: the delivery row (and, with an `Idempotency-Key`, the
key and its answer) commit together before `{"delivery_id", "queued_at"}` is
answered. The delivery worker sends it afterwards.

A field the channel does not read is ignored, as Customer.io does, but not
silently: it is logged (one warning line) and named in the answer's
`X-Tidings-Unknown-Fields` header (on a 400 too), so a misspelt
`mesage_data` shows.

`GET /v1/outbox?limit=&start=&delivery_id=&recipient=&channel=&template=&campaign=`
lists what the capture adapter stored for the workspace, newest first: for
tests and demos, not a Customer.io endpoint.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn
from urllib.parse import quote

from sqlalchemy import Connection

from tidings import paging
from tidings.api import idempotency
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.errors import ApiError
from tidings.providers import outbox
from tidings.reporting import links
from tidings.sending import request as send_request
from tidings.sending import transactional

# Attachments of up to 2 MB arrive base64-encoded inside JSON.
MAX_SEND_BODY = 8 * 1024 * 1024
# Reads that compose a send (a person who changed between the read and the write,
# the first email's secret) before it is refused with StaleSend's 409.
COMPOSE_ATTEMPTS = 3
UNKNOWN_FIELDS_HEADER = "X-Tidings-Unknown-Fields"
SHOWN_UNKNOWN = 20
log = logging.getLogger("tidings.send")


async def send(ctx: Context, request: Request) -> Response:
    """`POST /v1/send/{route}`: `route` is the path's last segment, a literal of the
    route that matched (one per `send_request.CHANNELS` key)."""
    route = request.segments[-1]
    body = request.json_object()
    unknown = _unknown_header(route, send_request.unknown_fields(route, body))
    try:
        response = await _accept(ctx, request, route, body)
    except ApiError as exc:  # the misspelling may be why: name it here too
        exc.headers = {**exc.headers, **unknown}
        raise
    response.headers.extend((k.lower().encode(), v.encode()) for k, v in unknown.items())
    return response


async def list_outbox(ctx: Context, request: Request) -> Response:
    query = request.query
    page = paging.parse_page(query, default=outbox.DEFAULT_LIMIT, maximum=outbox.MAX_LIMIT)
    found = await ctx.read(
        outbox.list_captured, request.workspace.id, page, outbox.parse_filters(query)
    )
    return json_response(found)


async def _accept(ctx: Context, request: Request, route: str, body: dict[str, Any]) -> Response:
    """Compose the send by a read, then write it; compose again when the write finds
    the person changed (`StaleSend`) or the workspace's tracking secret was missing,
    up to `COMPOSE_ATTEMPTS` reads, then refuse it with `StaleSend`'s 409."""
    now = ctx.now()
    spec = send_request.parse(route, body, now)
    delivery_id = transactional.new_delivery_id()
    args = (request.workspace.id, spec, delivery_id, ctx.public_url(request), now)
    for _ in range(COMPOSE_ATTEMPTS):
        try:
            prepared = await ctx.read(transactional.prepare_send, *args)
        except ApiError as refused:
            return await _refused(ctx, request, refused)
        except transactional.NoSecretYet:  # the workspace's first email
            await ctx.write(links.secret, request.workspace.id, now)
            continue
        try:
            return await _write(ctx, request, args, prepared)
        except transactional.StaleSend:
            continue  # the person changed after the read: compose again
    # Changed under every read: refused rather than rendered by the writer.
    raise transactional.StaleSend()


async def _write(
    ctx: Context,
    request: Request,
    args: tuple[int, send_request.SendRequest, str, str, int],
    prepared: transactional.Prepared | None,
) -> Response:
    """The send's write: with its neighbours in one bulk write when it is only a
    delivery to insert and carries no `Idempotency-Key`, else on its own."""
    workspace_id, spec, delivery_id, _, now = args
    if prepared is None or request.header(idempotency.HEADER) is not None:
        return await idempotency.keyed(ctx, request, transactional.send_prepared, *args, prepared)
    if not transactional.takes_bulk(spec, prepared):
        return json_response(await ctx.write(transactional.send_prepared, *args, prepared))
    accepted = transactional.Accepted(workspace_id, spec, delivery_id, now, prepared)
    await ctx.write_many(transactional.send_many, accepted)
    return json_response(transactional.answer(delivery_id, spec, now))


async def _refused(ctx: Context, request: Request, refused: ApiError) -> Response:
    """A send refused by its read: the answer, unless the request is a retry of a
    keyed send answered before (its stored answer comes first)."""
    if request.header(idempotency.HEADER) is None:
        raise refused
    return await idempotency.keyed(ctx, request, _refuse, refused)


def _refuse(conn: Connection, refused: ApiError) -> NoReturn:
    """Run by the writer for a refused keyed send with no stored answer: the refusal,
    so that nothing is written (module level: it crosses to the writer process)."""
    raise refused


def _unknown_header(route: str, unknown: list[str]) -> dict[str, str]:
    """The header naming the fields a send ignores (logged once), or none.

    Names are percent-encoded (a field name may hold line breaks) and at most
    `SHOWN_UNKNOWN` are listed, so a hostile body cannot forge or bloat a header.
    """
    if not unknown:
        return {}
    names = ", ".join(quote(name[:100], safe="-._~") for name in unknown[:SHOWN_UNKNOWN])
    if len(unknown) > SHOWN_UNKNOWN:
        names += f", and {len(unknown) - SHOWN_UNKNOWN} more"
    log.warning("POST /v1/send/%s ignored unknown fields: %s", route, names)
    return {UNKNOWN_FIELDS_HEADER: names}


ROUTES = (
    *(
        Route("POST", f"/v1/send/{route}", send, "app", max_body=MAX_SEND_BODY)
        for route in send_request.CHANNELS
    ),
    Route("GET", "/v1/outbox", list_outbox, "app", query=outbox.QUERY),
)
