"""What uses a segment, and deleting one only when nothing does (the web UI's delete).

A segment named by a campaign, a broadcast or a newsletter (`views.used_by`, the
App API's `GET /v1/segments/{id}/used_by`), or asked about by another data-driven
segment's conditions (`membership.referring_to`), would change what those do if it
went, silently: a trigger that never fires, an audience of nobody. So
`delete_unused` refuses (409, naming them) and deletes nothing; the check and the
delete run in one transaction, so a campaign saved meanwhile is seen.

Both kinds of segment may be deleted here. The App API's `DELETE /v1/segments/{id}`
stays Customer.io's: manual segments only (`service.delete_manual`); both end in
`service.remove`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tidings.campaigns import views
from tidings.errors import ApiError
from tidings.segments import membership, service

KINDS = (
    ("campaigns", "campaign"),
    ("broadcasts", "broadcast"),
    ("sent_newsletters", "sent newsletter"),
    ("draft_newsletters", "newsletter"),
)


def uses_of(conn: Connection, workspace_id: int, segment_id: int) -> dict[str, list[Any]]:
    """`used_by`'s lists of ids, and `segments`: the `{id, name}` of the segments whose
    conditions refer to it; a 404 for an unknown segment."""
    used: dict[str, list[Any]] = views.used_by(conn, workspace_id, segment_id)["used_by"]
    return {**used, "segments": membership.referring_to(conn, workspace_id, segment_id)}


def delete_unused(conn: Connection, workspace_id: int, segment_id: int) -> dict[str, Any]:
    """Delete the segment (manual or data-driven) with its memberships; a 409 naming
    what uses it, with nothing deleted. The deleted segment's `{id, name, type}`."""
    row = service.row_of(conn, workspace_id, segment_id)
    uses = uses_of(conn, workspace_id, segment_id)
    if any(uses.values()):
        raise ApiError(
            409,
            f"segment {segment_id} is in use by {describe(uses)}: "
            "take it out of them first; nothing was deleted",
            code="conflict",
        )
    service.remove(conn, segment_id)
    return {"id": row.id, "name": row.name, "type": row.type}


def describe(uses: dict[str, list[Any]]) -> str:
    """The uses in words: "campaign 3, broadcast 5 and segment 'VIPs' (4)"."""
    named = [f"{noun} {item}" for key, noun in KINDS for item in uses.get(key, [])]
    named += [f"segment {s['name']!r} ({s['id']})" for s in uses.get("segments", [])]
    if len(named) < 2:
        return "".join(named)
    return ", ".join(named[:-1]) + " and " + named[-1]
