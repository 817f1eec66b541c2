"""Transactional sends (`POST /v1/send/{channel}`, App API) and the outbox (our extension).

A send is parsed (pure), composed in a read transaction where it can be
(`transactional.prepare_send`: rendering stays off the writer thread), then
accepted in one write: the delivery row (and, with an `Idempotency-Key`, the
key and its answer) commit together before `{"delivery_id", "queued_at"}` is
answered. The delivery worker sends it afterwards.

`GET /v1/outbox?limit=&start=&delivery_id=&recipient=` lists what the capture adapter
stored for the workspace, newest first: for tests and demos, not a
Customer.io endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings import paging
from tidings.api import idempotency
from tidings.api.http import Request, Response, json_response
from tidings.messaging import outbox, send_request, transactional

if TYPE_CHECKING:
    from tidings.app import Tidings

# Attachments of up to 2 MB arrive base64-encoded inside JSON.
MAX_SEND_BODY = 8 * 1024 * 1024


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def sender(route: str):  # type: ignore[no-untyped-def]
        async def send(request: Request) -> Response:
            now = app.now()
            spec = send_request.parse(route, request.json_object(), now)
            args = (
                request.workspace.id,
                spec,
                transactional.new_delivery_id(),
                app.public_url(request),
                now,
            )
            prepared = await app.read(transactional.prepare_send, *args)
            return await idempotency.keyed(
                app, request, transactional.send_prepared, *args, prepared
            )

        return send

    async def list_outbox(request: Request) -> Response:
        query = request.query
        page = paging.parse_page(query, default=outbox.DEFAULT_LIMIT, maximum=outbox.MAX_LIMIT)
        found = await app.read(
            outbox.list_captured,
            request.workspace.id,
            page,
            query.get("delivery_id"),
            query.get("recipient"),
        )
        return json_response(found)

    for route in send_request.CHANNELS:
        router.add("POST", f"/v1/send/{route}", sender(route), "app", max_body=MAX_SEND_BODY)
    router.add("GET", "/v1/outbox", list_outbox, "app", query=outbox.QUERY)
