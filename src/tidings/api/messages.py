"""Messages (deliveries) through the App API: `/v1/messages`, a person's
messages, and a transactional message's metrics (BEHAVIOUR.md 5.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.api.http import Request, Response, json_response
from tidings.people import read
from tidings.reporting import messages
from tidings.reporting import transactional_metrics as reports
from tidings.reporting.messages import QUERY

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    async def list_all(request: Request) -> Response:
        query = messages.parse_query(request.query)
        found = await app.read(messages.list_messages, request.workspace.id, query, app.now())
        return json_response(found)

    async def get(request: Request) -> Response:
        message_id = request.params["message_id"]
        return json_response(await app.read(messages.get_message, request.workspace.id, message_id))

    async def of_customer(request: Request) -> Response:
        id_type = read.parse_id_type(request.query)
        query = messages.parse_query(request.query)
        found = await app.read(
            messages.messages_of,
            request.workspace.id,
            request.params["customer_id"],
            id_type,
            query,
            app.now(),
        )
        return json_response(found)

    async def transactional_metrics(request: Request) -> Response:
        period, steps = reports.parse_window(request.query)
        found = await app.read(
            reports.transactional_metrics,
            request.workspace.id,
            request.params["transactional_id"],
            period,
            steps,
            app.now(),
        )
        return json_response(found)

    router.add("GET", "/v1/messages", list_all, "app", query=QUERY)
    router.add("GET", "/v1/messages/{message_id}", get, "app")
    router.add(
        "GET", "/v1/customers/{customer_id}/messages", of_customer, "app", query=("id_type", *QUERY)
    )
    router.add(
        "GET",
        "/v1/transactional/{transactional_id}/metrics",
        transactional_metrics,
        "app",
        query=reports.WINDOW_QUERY,
    )
