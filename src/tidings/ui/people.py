"""The People page: search the workspace's people by id or email, filter them by an
attribute and by a segment, a page at a time.

The state is in the URL (`?q=...&attr=plan&op=eq&value=pro&segment=3&start=<cursor>`),
so a search can be shared, bookmarked and gone back to. It is a plain GET form,
working without JavaScript; with it, htmx asks for the results alone as one
types and swaps them in (`HX-Request`), pushing the URL. The search is the App
API's customer search (`segments/search.py`: `search_people` pages and answers
as `search` does): the box's text, the attribute filter as a condition of the
condition language (docs/conditions.md) and the segment's stored members,
`and`-ed together, with the same cursors. A filter the language refuses shows
its message instead of results.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from sqlalchemy import Connection

from tidings import paging
from tidings.errors import ApiError
from tidings.segments import search
from tidings.segments import service as segments
from tidings.segments.conditions import Condition, parse
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui

PAGE_SIZE = 50
MAX_QUERY = 200
FILTERS = ("q", "attr", "op", "value", "segment")  # the URL's state, besides the cursor
# The attribute operators the form offers, with their labels (docs/conditions.md).
OPERATORS = (
    ("eq", "is"),
    ("not_eq", "is not"),
    ("contains", "contains"),
    ("starts_with", "starts with"),
    ("exists", "is set"),
    ("gt", "is more than"),
    ("gte", "is at least"),
    ("lt", "is less than"),
    ("lte", "is at most"),
)
NUMERIC = ("gt", "gte", "lt", "lte")


async def people(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    state = {name: request.query.get(name, "")[:MAX_QUERY] for name in FILTERS}
    try:
        page = paging.parse_page(request.query, default=PAGE_SIZE, maximum=PAGE_SIZE)
    except ApiError:
        page = paging.PageRequest(PAGE_SIZE)  # a stale or edited cursor: the first page
    error, condition, segment = "", None, None
    try:
        condition = parse_filter(state["attr"], state["op"], state["value"])
        segment = parse_segment(state["segment"])
    except ApiError as exc:
        error = _problem(exc)
    workspace_id = request.session.workspace_id
    asked = (state["q"], condition, segment, page, ui.now(), not error)
    found = await ui.read(_find, workspace_id, *asked, not request.is_htmx)
    here = _shown_state(state)
    values = {
        **state,
        "error": error,
        "filtered": condition is not None or segment is not None,
        "people": found["identifiers"],
        "segments": found["segments"],
        "operators": OPERATORS,
        "first_url": _url(here),
        "next_url": _url({**here, "start": found["next"]}) if found["next"] else "",
        "paged": page.after is not None,
    }
    if not request.is_htmx:
        return ui.page(request, "people.html", **values)
    answer = ui.page(request, "people_results.html", **values)
    start = {"start": request.query["start"]} if page.after is not None else {}
    pushed = _url({**here, **start})
    answer.headers.append((b"hx-push-url", pushed.encode()))  # the URL, tidied
    return answer


def _url(params: dict[str, str]) -> str:
    return "/people?" + urlencode(params) if params else "/people"


def _shown_state(state: dict[str, str]) -> dict[str, str]:
    """The filters that choose something, as the URL holds them (no empty fields, and
    no operator or value without an attribute)."""
    if not state["attr"].strip():
        state = {**state, "op": "", "value": ""}
    return {name: value for name, value in state.items() if value}


def parse_filter(attr: str, op: str, value: str) -> Condition | None:
    """The condition the attribute filter makes (None without an attribute); the
    language's 400, naming what is wrong, for one it refuses."""
    attr = attr.strip()
    if not attr:
        return None
    return parse({"attribute": _attribute(attr, op or "eq", value)}, "filter")


def parse_segment(segment: str) -> int | None:
    """The segment filter's id (None for any segment). The search walks its members
    (`search_people`), which a `{"segment": ...}` condition would not."""
    if not segment:
        return None
    if not segment.isascii() or not segment.isdigit() or len(segment) > 9:
        raise ApiError(400, "choose a segment from the list", field="segment")
    return int(segment)


def _attribute(field: str, op: str, value: str) -> dict[str, Any]:
    """An attribute test from the form's text: a number for the numeric operators when
    the value spells one (else the text, which may be a date), nothing for `exists`."""
    test: dict[str, Any] = {"field": field, "operator": op}
    if op == "exists":
        return test
    test["value"] = value
    if op in NUMERIC:
        try:
            number = msgspec.json.decode(value.strip().encode())
        except msgspec.DecodeError:
            return test
        if isinstance(number, int | float) and not isinstance(number, bool):
            test["value"] = number
    return test


def _problem(exc: ApiError) -> str:
    return exc.message.removeprefix("filter.").removeprefix("filter: ")


def _find(
    conn: Connection,
    workspace_id: int,
    text: str,
    condition: Condition | None,
    segment: int | None,
    page: paging.PageRequest,
    now: int,
    run: bool,
    with_segments: bool,
) -> dict[str, Any]:
    """The page of people (none when the filter was refused) and, for a whole page (not
    htmx's results alone), the segments to choose from, in one read."""
    found: dict[str, Any] = {"identifiers": [], "next": ""}
    if run:
        found = search.search_people(conn, workspace_id, text, condition, page, now, segment)
    listed = segments.list_all(conn, workspace_id) if with_segments else []
    return {**found, "segments": listed}
