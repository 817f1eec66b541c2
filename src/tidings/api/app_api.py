"""App API (`/v1/...`, `Authorization: Bearer <app key>`): reads of what Track wrote,
and manual segments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.api.http import Request, Response, json_response
from tidings.people import read

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    async def customers_by_email(request: Request) -> Response:
        email = request.query.get("email", "")
        return json_response(await app.read(read.by_email, request.workspace.id, email))

    async def attributes(request: Request) -> Response:
        id_type = read.parse_id_type(request.query)
        result = await app.read(
            read.attributes_of, request.workspace.id, request.params["customer_id"], id_type
        )
        return json_response(result)

    customer = "/v1/customers/{customer_id}"
    router.add("GET", "/v1/customers", customers_by_email, "app")
    router.add("GET", customer + "/attributes", attributes, "app")
