"""Deleting a segment: a confirmation page, then a form post (no JavaScript needed).

The page lists what uses the segment (`segment_use.uses_of`: the campaigns,
broadcasts and newsletters of the App API's `used_by`, and the data-driven
segments whose conditions ask about it) and offers the delete only when
nothing does. The post runs `segment_use.delete_unused`, which checks again in
the delete's own transaction, with its audit entry (`segment.delete`); refused,
the page comes back with the reason and nothing is deleted.
"""

from __future__ import annotations

from typing import Any

from tidings import audit
from tidings.campaigns import segment_use
from tidings.errors import ApiError
from tidings.segments import browse, service
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui

MEMBER_CAP = 100_000
# Where each kind of use is shown: its list key, its noun and its page.
PAGES = (
    ("campaigns", "Campaign", "/campaigns/"),
    ("broadcasts", "Broadcast", "/broadcasts/"),
    ("sent_newsletters", "Newsletter (sent)", "/newsletters/"),
    ("draft_newsletters", "Newsletter", "/newsletters/"),
)


async def confirm(ui: Ui, request: UiRequest) -> Page:
    return await _page(ui, request)


async def delete(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    segment_id = service.parse_segment_id(request.params["segment_id"])
    found = await ui.read(service.get, session.workspace_id, segment_id)
    details = {"name": found["name"], "type": found["type"]}
    entry = audit.Entry(
        "segment.delete", "segment", str(segment_id), session.workspace_id, session.user_id, details
    )
    now = ui.now()
    args = (session.workspace_id, segment_id)
    try:
        await ui.write(audit.audited, entry, now, segment_use.delete_unused, *args)
    except ApiError as refused:
        if refused.status != 409:
            raise
        return await _page(ui, request, error=f"Not deleted: {refused.message}.", status=409)
    return redirect("/segments?deleted=1")


async def _page(ui: Ui, request: UiRequest, *, error: str = "", status: int = 200) -> Page:
    assert request.session is not None
    workspace_id = request.session.workspace_id
    segment_id = service.parse_segment_id(request.params["segment_id"])
    segment = await ui.read(service.get, workspace_id, segment_id)
    uses = await ui.read(segment_use.uses_of, workspace_id, segment_id)
    members = await ui.read(browse.member_count, segment_id, MEMBER_CAP)
    values: dict[str, Any] = {
        "segment": segment,
        "kind": "data-driven" if segment["type"] == "dynamic" else "manual",
        "members": members,
        "cap": MEMBER_CAP,
        "uses": _links(uses),
        "error": error,
    }
    return ui.page(request, "segment_delete.html", status, **values)


def _links(uses: dict[str, list[Any]]) -> list[tuple[str, str]]:
    """What uses the segment as (label, href) pairs."""
    links = [(f"{noun} {item}", f"{page}{item}") for key, noun, page in PAGES for item in uses[key]]
    for segment in uses["segments"]:
        links.append((f"Segment {segment['name']}", f"/segments/{segment['id']}"))
    return links
