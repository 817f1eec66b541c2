"""Exports (`/v1/exports...`, App API): create, read, list, and a link to download.

A customers or deliveries export is validated here, then created with its job in one write;
the CSV is built in the background (`tidings.exports.job`). The download URL
points at this server's `GET /downloads/{token}` and is valid 15 minutes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.api import downloads
from tidings.api.http import Request, Response, json_response
from tidings.exports import service

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def export(request: Request) -> tuple[int, int]:
        return request.workspace.id, service.parse_export_id(request.params["export_id"])

    async def create_customers(request: Request) -> Response:
        # The schema requires a body: a request that lost its filter must not export everyone.
        spec = service.parse_customers_request(request.json_object(required=True))
        created = await app.write(
            service.create_customers_export, request.workspace.id, spec, app.now()
        )
        return json_response({"export": created})

    async def create_deliveries(request: Request) -> Response:
        spec = service.parse_deliveries_request(
            request.json_object(), request.workspace.id, app.now()
        )
        created = await app.write(
            service.create_deliveries_export, request.workspace.id, spec, app.now()
        )
        return json_response({"export": created})

    async def list_all(request: Request) -> Response:
        # Customer.io answered `{"exports": null}` for a workspace without exports
        # (BEHAVIOUR.md 5.8); we send `[]`, what its schema documents, so clients
        # can iterate without a null check.
        return json_response({"exports": await app.read(service.list_all, request.workspace.id)})

    async def get(request: Request) -> Response:
        return json_response({"export": await app.read(service.get, *export(request))})

    async def download(request: Request) -> Response:
        token = await app.write(service.create_download, *export(request), app.now())
        return json_response({"url": downloads.url_for(app.public_url(request), token)})

    one = "/v1/exports/{export_id}"
    router.add("POST", "/v1/exports/customers", create_customers, "app")
    router.add("POST", "/v1/exports/deliveries", create_deliveries, "app")
    router.add("GET", "/v1/exports", list_all, "app")
    router.add("GET", one, get, "app")
    router.add("GET", one + "/download", download, "app")
