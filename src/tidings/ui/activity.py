"""The Activity page ("did my event arrive?") and the Pipelines rejections beside it.

State in the URL: `/activity?type=&name=&person=&since=&until=&start=<cursor>`,
a plain GET form. The log is `events.log_view.browse` (newest first by
timestamp, keyset-paged, a type or name filter checked on a bounded window
per page: see `activity/browse.py`); times are typed and shown in UTC.
`/activity/rejections` lists what the Pipelines API refused and why
(`pipelines.rejections.recent`, what `GET /v1/pipelines/rejections` answers);
`/activity/refusals` what the ingest log acknowledged and its applier then
refused (`ingest_log.refusals.recent`, what `tidings refusals` prints).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tidings import paging
from tidings.activity import browse as log
from tidings.errors import ApiError
from tidings.events import log_view
from tidings.ingest_log import refusals
from tidings.pipelines import rejections
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui

PAGE_SIZE = 50
SHOWN_CHARS = 8192  # of a refused message: the CLI's --json prints all of it
MAX_TEXT = 255
FIELDS = ("type", "name", "person", "since", "until")


async def activity(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    chosen = {name: request.query.get(name, "").strip()[:MAX_TEXT] for name in FIELDS}
    problems: list[str] = []
    after = _cursor(request.query.get("start", ""), 2)
    q = log.LogQuery(
        limit=PAGE_SIZE,
        after=(after[0], after[1]) if after else None,
        type=chosen["type"] if chosen["type"] in log.TYPES else "",
        name=chosen["name"],
        since=_time(chosen["since"], "From", problems),
        until=_time(chosen["until"], "To", problems),
    )
    found = await ui.read(log_view.browse, request.session.workspace_id, q, chosen["person"])
    for entry in found["entries"]:
        entry["at"] = when(entry["timestamp"])
        entry["received"] = when(entry["received_at"])
    return ui.page(
        request,
        "activity.html",
        chosen=chosen,
        types=log.TYPES,
        problems=problems,
        found=found,
        scan_rows=log.SCAN_ROWS,
        next_url=_next_url("/activity", chosen, found["next"]),
        paged=q.after is not None,
        first_url="/activity?" + urlencode(chosen),
    )


async def rejected(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    after = _cursor(request.query.get("start", ""), 2)
    page = paging.PageRequest(PAGE_SIZE, after)
    found = await ui.read(rejections.recent, request.session.workspace_id, page)
    for item in found["rejections"]:
        item["at"] = when(item["received_at"])
    return ui.page(
        request,
        "activity_rejections.html",
        found=found,
        next_url=_next_url("/activity/rejections", {}, found["next"]),
        paged=after is not None,
    )


async def refused(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    after = _cursor(request.query.get("start", ""), 2)
    page = paging.PageRequest(PAGE_SIZE, after)
    found = await ui.read(refusals.recent, request.session.workspace_id, page)
    for item in found["refusals"]:
        item["at"] = when(item["received_at"])
        item["size"] = len(item["record"].encode())
        item["shown"] = item["record"][:SHOWN_CHARS]
        item["cut"] = len(item["record"]) > SHOWN_CHARS
    return ui.page(
        request,
        "activity_refusals.html",
        found=found,
        kept_days=refusals.RETENTION // 86400,
        shown_chars=SHOWN_CHARS,
        next_url=_next_url("/activity/refusals", {}, found["next"]),
        paged=after is not None,
    )


def when(seconds: int | None) -> str:
    """A Unix time as the pages show it: ISO-like, in UTC."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cursor(start: str, arity: int) -> tuple[int, ...] | None:
    """The cursor's key; a stale or edited one means the first page."""
    if not start:
        return None
    try:
        return paging.decode_cursor(start, arity)
    except ApiError:
        return None


def _time(text: str, label: str, problems: list[str]) -> int | None:
    """A `datetime-local` value (or any ISO 8601 time), read as UTC; None when blank."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"{label}: “{text}” is not a date and time (YYYY-MM-DDTHH:MM).")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _next_url(path: str, chosen: dict[str, Any], cursor: str) -> str:
    if not cursor:
        return ""
    return path + "?" + urlencode({**chosen, "start": cursor})
