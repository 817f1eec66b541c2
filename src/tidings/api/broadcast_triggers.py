"""API-triggered broadcasts' triggers (App API): trigger, status, errors, list.

`POST /v1/campaigns/{id}/triggers` (and the legacy `/v1/api/campaigns/{id}/triggers`
the troubleshooting docs show) answers `{"id": <trigger id>}` once the
trigger and its fan-out job are committed; `POST /v1/send/broadcast` is the
seed document's form of the same call, the broadcast's id in the body (`id`,
or `broadcast_id`). Who receives it is resolved afterwards by the job
(`campaigns/fanout.py`); the rules are in `campaigns/broadcasts.py`.
"""

from __future__ import annotations

from typing import Any

from tidings import numbers, paging
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.campaigns import broadcasts, trigger_reports
from tidings.campaigns.broadcasts import invalid


def _broadcast_id(request: Request) -> int:
    return numbers.path_id(request.params["broadcast_id"], "broadcast")


def _ids(request: Request) -> tuple[int, int, int]:
    trigger_id = numbers.path_id(request.params["trigger_id"], "trigger", 2**63 - 1)
    return request.workspace.id, _broadcast_id(request), trigger_id


async def trigger(ctx: Context, request: Request) -> Response:
    broadcast_id = _broadcast_id(request)
    parsed = broadcasts.parse_trigger(request.json_object())
    return await _trigger(ctx, request, broadcast_id, parsed)


async def send_broadcast(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    broadcast_id = _body_id(body)
    parsed = broadcasts.parse_trigger({k: v for k, v in body.items() if k not in _ID_KEYS})
    return await _trigger(ctx, request, broadcast_id, parsed)


async def _trigger(
    ctx: Context, request: Request, broadcast_id: int, parsed: broadcasts.TriggerRequest
) -> Response:
    trigger_id = await ctx.write(
        broadcasts.trigger, request.workspace.id, broadcast_id, parsed, ctx.now()
    )
    return json_response({"id": trigger_id})


_ID_KEYS = ("id", "broadcast_id")


def _body_id(body: dict[str, Any]) -> int:
    given = {key: body[key] for key in _ID_KEYS if body.get(key) is not None}
    if not given:
        raise invalid("id (the broadcast's id) is required", "id")
    values = {str(value) for value in given.values()}
    if len(values) > 1:
        raise invalid("id and broadcast_id name different broadcasts", "broadcast_id")
    value = next(iter(given.values()))
    if isinstance(value, bool) or not numbers.is_digits(str(value)):
        raise invalid("id must be a broadcast's id (a positive integer)", "id")
    return numbers.path_id(str(value), "broadcast")


async def status(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(trigger_reports.status, *_ids(request)))


async def errors(ctx: Context, request: Request) -> Response:
    page = paging.parse_page(
        request.query, default=trigger_reports.ERRORS_LIMIT, maximum=trigger_reports.ERRORS_MAX
    )
    return json_response(await ctx.read(trigger_reports.errors, *_ids(request), page))


async def listing(ctx: Context, request: Request) -> Response:
    found = await ctx.read(trigger_reports.listing, request.workspace.id, _broadcast_id(request))
    return json_response(found)


TRIGGERS = "/v1/campaigns/{broadcast_id}/triggers"
ONE = TRIGGERS + "/{trigger_id}"
BODY = broadcasts.MAX_BODY + 1024 * 1024  # room around the documented 25 MB of payload

ROUTES = (
    Route("POST", TRIGGERS, trigger, "app", max_body=BODY),
    Route("POST", "/v1/api/campaigns/{broadcast_id}/triggers", trigger, "app", max_body=BODY),
    Route("POST", "/v1/send/broadcast", send_broadcast, "app", max_body=BODY),
    Route("GET", ONE, status, "app"),
    Route("GET", ONE + "/errors", errors, "app", query=paging.QUERY),
    Route("GET", "/v1/broadcasts/{broadcast_id}/triggers", listing, "app"),
)
