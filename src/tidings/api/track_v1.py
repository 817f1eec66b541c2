"""Track API v1 (`/api/v1/...`, HTTP Basic `site_id:track_api_key`).

Handlers only parse, call one use case through the group-commit writer, and
answer `200 {}` once it is committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.api.http import Request, Response, json_response, no_content, ok
from tidings.errors import ApiError, bad_request
from tidings.events import bulk as bulk_events
from tidings.events import service as events
from tidings.people import devices, forms, merge
from tidings.people import service as people
from tidings.people.identifiers import Identifier, check_id, classify, one_of
from tidings.reporting import metrics
from tidings.segments import service as segments

if TYPE_CHECKING:
    from tidings.app import Tidings

V1 = "/api/v1"


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    def path_ident(request: Request) -> Identifier:
        raw = request.params["identifier"]
        check_id(raw, "identifier")
        return classify(raw)

    async def identify(request: Request) -> Response:
        ident, now = path_ident(request), app.now()
        parsed = people.parse_identify(request.json_object(), now)
        await app.write(people.identify, request.workspace.id, ident, parsed, now)
        return ok()

    async def delete_person(request: Request) -> Response:
        await app.write(people.delete_person, request.workspace.id, path_ident(request))
        return ok()

    async def track(request: Request) -> Response:
        ident, now = path_ident(request), app.now()
        event = events.parse_event(request.json_object()).received(now)
        queued = (request.workspace.id, bulk_events.plain(ident, event), now)
        await app.write_many(bulk_events.track_queued, queued)
        return ok()

    async def track_anonymous(request: Request) -> Response:
        body = request.json_object()
        anonymous_id = events.parse_anonymous_id(body.get("anonymous_id"))
        event = events.parse_event(body)
        await app.write(
            events.track_anonymous, request.workspace.id, anonymous_id, event, app.now()
        )
        return ok()

    async def add_device(request: Request) -> Response:
        ident, now = path_ident(request), app.now()
        body = request.json_object()
        device = devices.parse_device(body.get("device"), token_key="id")
        await app.write(devices.add_to, request.workspace.id, ident, device, now)
        return ok()

    async def delete_device(request: Request) -> Response:
        ident, token = path_ident(request), request.params["device_id"]
        await app.write(devices.remove_from, request.workspace.id, ident, token)
        return ok()

    async def suppress(request: Request) -> Response:
        await app.write(people.suppress, request.workspace.id, path_ident(request), app.now())
        return ok()

    async def unsuppress(request: Request) -> Response:
        await app.write(people.unsuppress, request.workspace.id, path_ident(request))
        return ok()

    async def merge_customers(request: Request) -> Response:
        body = request.json_object()
        primary = one_of(body.get("primary"), "primary")
        secondary = one_of(body.get("secondary"), "secondary")
        await app.write(merge.merge_people, request.workspace.id, primary, secondary, app.now())
        return ok()

    def segment_change(add: bool):  # type: ignore[no-untyped-def]
        async def handler(request: Request) -> Response:
            segment_id = segments.parse_segment_id(request.params["segment_id"])
            id_type = request.query.get("id_type", "id")
            if id_type not in ("id", "email", "cio_id"):
                message = "id_type must be one of id, email or cio_id"
                raise ApiError(400, message, errors=[message])
            ids = segments.parse_ids(request.json_object())
            await app.write(
                segments.change_members,
                request.workspace.id,
                segment_id,
                id_type,
                ids,
                app.now(),
                add,
            )
            return ok()

        return handler

    async def report_metric(request: Request) -> Response:
        parsed = metrics.parse_metric(request.json_object(), app.now())
        await app.write(metrics.record_metric, request.workspace.id, *parsed)
        return ok()

    async def push_event(request: Request) -> Response:
        parsed = metrics.parse_push_event(request.json_object(), app.now())
        await app.write(metrics.record_metric, request.workspace.id, *parsed)
        return ok()

    async def submit_form(request: Request) -> Response:
        form_id, now = request.params["form_id"], app.now()
        check_id(form_id, "form_id")
        ident, parsed = forms.parse_submission(request.json_object(), now)
        await app.write(forms.submit, request.workspace.id, form_id, ident, parsed, now)
        return no_content()

    async def unsubscribe(request: Request) -> Response:
        content_type = request.header("content-type") or ""
        if not content_type.startswith("application/json"):
            raise bad_request("Content-Type must be application/json")
        value = metrics.parse_unsubscribe(request.json(empty={}))
        await app.write(metrics.unsubscribe, request.params["delivery_id"], value, app.now())
        return ok()

    async def region(request: Request) -> Response:
        return json_response(
            {"url": app.public_url(request), "region": "us", "environment_id": request.workspace.id}
        )

    add = router.add
    customer = V1 + "/customers/{identifier}"
    add("PUT", customer, identify, "track")
    add("DELETE", customer, delete_person, "track")
    add("POST", customer + "/events", track, "track")
    add("PUT", customer + "/devices", add_device, "track")
    add("DELETE", customer + "/devices/{device_id}", delete_device, "track")
    add("POST", customer + "/suppress", suppress, "track")
    add("POST", customer + "/unsuppress", unsuppress, "track")
    add("POST", V1 + "/events", track_anonymous, "track")
    add("POST", V1 + "/merge_customers", merge_customers, "track")
    segment = V1 + "/segments/{segment_id}"
    add("POST", segment + "/add_customers", segment_change(True), "track", query=["id_type"])
    add("POST", segment + "/remove_customers", segment_change(False), "track", query=["id_type"])
    add("POST", V1 + "/metrics", report_metric, "track")
    add("POST", V1 + "/push/events", push_event, "track")
    add("POST", "/push/events", push_event, "track")
    add("POST", V1 + "/forms/{form_id}/submit", submit_form, "track")
    add("POST", "/unsubscribe/{delivery_id}", unsubscribe, "track", auth="none")
    add("GET", V1 + "/accounts/region", region, "track")
