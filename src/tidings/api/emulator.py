"""The emulator's control API (`tidings emulate` only; docs/emulator.md), App API key.

- `POST /_emulator/reset` `{"everything": false}`: forget the workspace's people,
  events, messages, journeys and jobs; with `everything`, its templates,
  campaigns, segments and the rest of what it was set up with too. Keys stay.
- `GET /_emulator/outbox?recipient=&channel=&template=&campaign=&delivery_id=&limit=&start=`:
  the captured messages, newest first; `DELETE` with the same filters forgets them.
- `GET /_emulator/clock`; `POST /_emulator/clock` `{"advance": seconds}` or
  `{"set": unix seconds or ISO 8601}`: move the clock forward, running what comes
  due on the way, in order (`emulator.control`).
- `POST /_emulator/drain` `{"timeout": seconds}`: return once nothing is due.

A drain or a move that runs out of time answers 503 with what is still due.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tidings import paging
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content
from tidings.api.routing import Route
from tidings.emulator.control import DRAIN_SECONDS, Emulator, Settled
from tidings.errors import ApiError, bad_request
from tidings.providers import outbox
from tidings.timestamps import unix_seconds

MAX_SECONDS = 600.0  # the longest a caller may let a drain or a move work


def _emulator(ctx: Context) -> Emulator:
    if ctx.emulator is None:  # the routes are served in emulator mode only
        raise ApiError(404, "not found", code="not_found")
    return ctx.emulator


async def reset(ctx: Context, request: Request) -> Response:
    body = request.json_object()
    everything = body.get("everything", False)
    if not isinstance(everything, bool):
        raise bad_request("everything must be true or false", "everything")
    await asyncio.to_thread(_emulator(ctx).reset, request.workspace.id, everything=everything)
    return no_content()


async def list_outbox(ctx: Context, request: Request) -> Response:
    _emulator(ctx)
    query = request.query
    page = paging.parse_page(query, default=outbox.DEFAULT_LIMIT, maximum=outbox.MAX_LIMIT)
    filters = outbox.parse_filters(query)
    return json_response(await ctx.read(outbox.list_captured, request.workspace.id, page, filters))


async def forget_outbox(ctx: Context, request: Request) -> Response:
    _emulator(ctx)
    filters = outbox.parse_filters(request.query)
    deleted = await ctx.write(outbox.forget_captured, request.workspace.id, filters)
    return json_response({"deleted": deleted})


async def read_clock(ctx: Context, request: Request) -> Response:
    return json_response(_time(int(_emulator(ctx).clock.now())))


async def move_clock(ctx: Context, request: Request) -> Response:
    emulator = _emulator(ctx)
    body = request.json_object(required=True)
    seconds = _timeout(body)
    now = int(emulator.clock.now())
    if ("advance" in body) == ("set" in body):
        raise bad_request("give one of advance (seconds) or set (a time)", "advance")
    if "advance" in body:
        step = unix_seconds(body["advance"])
        if step is None or step < 0:
            raise bad_request("advance must be a number of seconds, 0 or more", "advance")
        when = now + step
    else:
        when = _when(body["set"])
        if when < now:
            raise bad_request("the clock only moves forward: set is before now", "set")
    return _answer(await asyncio.to_thread(emulator.move_to, when, seconds))


async def drain(ctx: Context, request: Request) -> Response:
    emulator = _emulator(ctx)
    seconds = _timeout(request.json_object())
    return _answer(await asyncio.to_thread(emulator.drain, seconds))


def _timeout(body: dict[str, Any]) -> float:
    value = body.get("timeout", DRAIN_SECONDS)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_SECONDS
    ):
        raise bad_request(
            f"timeout must be seconds, more than 0 and at most {MAX_SECONDS:g}", "timeout"
        )
    return float(value)


def _when(value: Any) -> int:
    """A time as unix seconds or an ISO 8601 text with its offset; else a 400."""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return int(parsed.timestamp())
    seconds = unix_seconds(value)
    if seconds is None:
        raise bad_request("set must be unix seconds or an ISO 8601 time with its offset", "set")
    return seconds


def _time(now: int) -> dict[str, Any]:
    iso = dt.datetime.fromtimestamp(now, dt.UTC).isoformat().replace("+00:00", "Z")
    return {"now": now, "time": iso}


def _answer(settled: Settled) -> Response:
    if settled.done:
        return json_response(_time(settled.now))
    due = [f"{count} {kind} due" for kind, count in settled.pending.items() if count]
    raise ApiError(
        503,
        "work was still due when the time ran out: " + (", ".join(due) or "none left now"),
        code="still_due",
        errors=due,
    )


ROUTES = (
    Route("POST", "/_emulator/reset", reset, "app"),
    Route("GET", "/_emulator/outbox", list_outbox, "app", query=outbox.QUERY),
    Route("DELETE", "/_emulator/outbox", forget_outbox, "app", query=outbox.FILTERS),
    Route("GET", "/_emulator/clock", read_clock, "app"),
    Route("POST", "/_emulator/clock", move_clock, "app"),
    Route("POST", "/_emulator/drain", drain, "app"),
)
