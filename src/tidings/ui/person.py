"""A person's page (`/people/{cio_id}`): who they are, what they hold, and their timeline.

The path names the person by `cio_id`, the one identifier every person has
and never changes (an `id` or email can be missing, or change). The page reads
what the App API's person reads read, in one read transaction:
`people.read.customer` (identifiers, attributes with when each was set,
`unsubscribed`, devices), `segments.service.of_person`, `people.read.relationships_of`
(the first `RELATIONSHIPS` objects), the suppression of the id or email and
a block of the email address, and one page of the timeline
(`reporting/timeline.py`: activities, attribute changes, segment entries and
exits, messages), newest first, keyset-paged with `?start=<cursor>` in the URL.
Each timeline entry's payload is in a `<details>` element, so it opens
without JavaScript.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from tidings import paging
from tidings.errors import ApiError
from tidings.people import read, store
from tidings.reporting import timeline
from tidings.reporting.timeline import After
from tidings.segments import service as segments
from tidings.sending import suppression
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui

TIMELINE_PAGE = 50
RELATIONSHIPS = 100


async def person(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    cio_id = request.params["cio_id"]
    start = request.query.get("start", "")
    try:
        after = timeline.decode_cursor(start) if start else None
    except ApiError:
        after = None  # a stale or edited cursor: the newest entries
    found = await ui.read(profile, request.session.workspace_id, cio_id, after)
    here = "/people/" + quote(cio_id, safe="")
    following = found["timeline"]["next"]
    values = {
        **found,
        "entries": [_shown(entry) for entry in found["timeline"]["entries"]],
        "here": here,
        "next_url": f"{here}?start={following}" if following else "",
        "paged": after is not None,
        "when": when,
    }
    return ui.page(request, "person.html", **values)


def profile(
    conn: Connection, workspace_id: int, cio_id: str, after: After | None
) -> dict[str, Any]:
    """Everything the page shows of the person with this `cio_id` in this workspace;
    a 404 for anyone else (another workspace's person included)."""
    found = read.lookup(conn, workspace_id, cio_id, "cio_id")
    customer = read.customer(conn, found)
    related = read.relationships_of(
        conn, workspace_id, cio_id, "cio_id", paging.PageRequest(RELATIONSHIPS)
    )
    return {
        "customer": customer,
        "attributes": sorted(
            (name, value, customer["timestamps"].get(name))
            for name, value in customer["attributes"].items()
        ),
        "segments": segments.of_person(conn, found.pk),
        "relationships": related["cio_relationships"],
        "more_relationships": bool(related["next"]),
        "suppressed": store.is_suppressed(conn, workspace_id, found.identifiers()),
        "blocked": suppression.blocked_reason(conn, workspace_id, found.email or ""),
        "timeline": timeline.timeline(conn, workspace_id, found.pk, TIMELINE_PAGE, after),
    }


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry with its payload as indented JSON, for its `<details>`."""
    payload = json.dumps(entry["data"], indent=2, sort_keys=True, ensure_ascii=False)
    return {**entry, "payload": payload}


def when(timestamp: int | None) -> str:
    """Unix seconds as the page shows them: UTC, to the second."""
    if timestamp is None:
        return ""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
