"""Track API v1 (`/api/v1/...`, HTTP Basic `site_id:track_api_key`).

Handlers only parse, call one use case through the group-commit writer, and
answer `200 {}` once it is committed. Identify and person events go through
`ctx.ingest`: with the ingest log, `200 {}` once the log has them.
"""

from __future__ import annotations

from functools import partial

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content, ok
from tidings.api.routing import Route
from tidings.errors import ApiError, bad_request
from tidings.events import bulk as bulk_events
from tidings.events import service as events
from tidings.ingest_log import kinds
from tidings.people import devices, forms, merge
from tidings.people import service as people
from tidings.people.identifiers import Identifier, check_id, classify, one_of
from tidings.reporting import metrics
from tidings.segments import service as segments

V1 = "/api/v1"


def _path_ident(request: Request) -> Identifier:
    raw = request.params["identifier"]
    check_id(raw, "identifier")
    return classify(raw)


async def identify(ctx: Context, request: Request) -> Response:
    ident, now, workspace = _path_ident(request), ctx.now(), request.workspace.id
    body = request.json_object()
    parsed = people.parse_identify(body, now)
    record = partial(kinds.identify_v1, workspace, ident, body, now)
    await ctx.ingest(lambda: [record()], people.identify, workspace, ident, parsed, now)
    return ok()


async def delete_person(ctx: Context, request: Request) -> Response:
    await ctx.write(people.delete_person, request.workspace.id, _path_ident(request))
    return ok()


async def track(ctx: Context, request: Request) -> Response:
    ident, now, workspace = _path_ident(request), ctx.now(), request.workspace.id
    event = bulk_events.plain(ident, events.parse_event(request.json_object()).received(now))
    record = partial(kinds.track_v1, workspace, ident, event, now)
    await ctx.ingest(
        lambda: [record()], bulk_events.track_queued, (workspace, event, now), bulk=True
    )
    return ok()


async def track_anonymous(ctx: Context, request: Request) -> Response:
    body = request.json_object()
    anonymous_id = events.parse_anonymous_id(body.get("anonymous_id"))
    event = events.parse_event(body)
    await ctx.write(events.track_anonymous, request.workspace.id, anonymous_id, event, ctx.now())
    return ok()


async def add_device(ctx: Context, request: Request) -> Response:
    ident, now = _path_ident(request), ctx.now()
    body = request.json_object()
    device = devices.parse_device(body.get("device"), token_key="id")
    await ctx.write(devices.add_to, request.workspace.id, ident, device, now)
    return ok()


async def delete_device(ctx: Context, request: Request) -> Response:
    ident, token = _path_ident(request), request.params["device_id"]
    await ctx.write(devices.remove_from, request.workspace.id, ident, token)
    return ok()


async def suppress(ctx: Context, request: Request) -> Response:
    await ctx.write(people.suppress, request.workspace.id, _path_ident(request), ctx.now())
    return ok()


async def unsuppress(ctx: Context, request: Request) -> Response:
    await ctx.write(people.unsuppress, request.workspace.id, _path_ident(request))
    return ok()


async def merge_customers(ctx: Context, request: Request) -> Response:
    body = request.json_object()
    primary = one_of(body.get("primary"), "primary")
    secondary = one_of(body.get("secondary"), "secondary")
    await ctx.write(merge.merge_people, request.workspace.id, primary, secondary, ctx.now())
    return ok()


async def add_customers(ctx: Context, request: Request) -> Response:
    return await _change_members(ctx, request, add=True)


async def remove_customers(ctx: Context, request: Request) -> Response:
    return await _change_members(ctx, request, add=False)


async def _change_members(ctx: Context, request: Request, *, add: bool) -> Response:
    segment_id = segments.parse_segment_id(request.params["segment_id"])
    id_type = request.query.get("id_type", "id")
    if id_type not in ("id", "email", "cio_id"):
        message = "id_type must be one of id, email or cio_id"
        raise ApiError(400, message, errors=[message])
    ids = segments.parse_ids(request.json_object())
    await ctx.write(
        segments.change_members,
        request.workspace.id,
        segment_id,
        id_type,
        ids,
        ctx.now(),
        add,
    )
    return ok()


async def report_metric(ctx: Context, request: Request) -> Response:
    parsed = metrics.parse_metric(request.json_object(), ctx.now())
    await ctx.write(metrics.record_metric, request.workspace.id, *parsed)
    return ok()


async def push_event(ctx: Context, request: Request) -> Response:
    parsed = metrics.parse_push_event(request.json_object(), ctx.now())
    await ctx.write(metrics.record_metric, request.workspace.id, *parsed)
    return ok()


async def submit_form(ctx: Context, request: Request) -> Response:
    form_id, now = request.params["form_id"], ctx.now()
    check_id(form_id, "form_id")
    ident, parsed = forms.parse_submission(request.json_object(), now)
    await ctx.write(forms.submit, request.workspace.id, form_id, ident, parsed, now)
    return no_content()


async def unsubscribe(ctx: Context, request: Request) -> Response:
    content_type = request.header("content-type") or ""
    if not content_type.startswith("application/json"):
        raise bad_request("Content-Type must be application/json")
    value = metrics.parse_unsubscribe(request.json(empty={}))
    await ctx.write(metrics.unsubscribe, request.params["delivery_id"], value, ctx.now())
    return ok()


async def region(ctx: Context, request: Request) -> Response:
    return json_response(
        {"url": ctx.public_url(request), "region": "us", "environment_id": request.workspace.id}
    )


CUSTOMER = V1 + "/customers/{identifier}"
SEGMENT = V1 + "/segments/{segment_id}"

ROUTES = (
    Route("PUT", CUSTOMER, identify, "track"),
    Route("DELETE", CUSTOMER, delete_person, "track"),
    Route("POST", CUSTOMER + "/events", track, "track"),
    Route("PUT", CUSTOMER + "/devices", add_device, "track"),
    Route("DELETE", CUSTOMER + "/devices/{device_id}", delete_device, "track"),
    Route("POST", CUSTOMER + "/suppress", suppress, "track"),
    Route("POST", CUSTOMER + "/unsuppress", unsuppress, "track"),
    Route("POST", V1 + "/events", track_anonymous, "track"),
    Route("POST", V1 + "/merge_customers", merge_customers, "track"),
    Route("POST", SEGMENT + "/add_customers", add_customers, "track", query=["id_type"]),
    Route("POST", SEGMENT + "/remove_customers", remove_customers, "track", query=["id_type"]),
    Route("POST", V1 + "/metrics", report_metric, "track"),
    Route("POST", V1 + "/push/events", push_event, "track"),
    Route("POST", "/push/events", push_event, "track"),
    Route("POST", V1 + "/forms/{form_id}/submit", submit_form, "track"),
    Route("POST", "/unsubscribe/{delivery_id}", unsubscribe, "track", auth="none"),
    Route("GET", V1 + "/accounts/region", region, "track"),
)
