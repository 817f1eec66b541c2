"""Reading a workspace's jobs for people (the web UI's Jobs page), newest first, and
its segment builds under way.

A page is keyset-paged on the job id (`before`: the last id shown), so it costs
one range of the `(workspace_id, id)` index whatever the table holds (other
workspaces' jobs are never read; a state or kind filter is checked on the way). A job's payload
is shown as stored, except a URL's credentials and query (a collection fetch's
URL may carry a token), which are left out.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Connection, select

from tidings.db.schema import jobs, segments
from tidings.errors import not_found

PAGE_LIMIT = 50
STATES = ("queued", "running", "done", "failed")
BUILDING = ("build_queued", "build")  # a segment's states until its build finishes
BUILDS_SHOWN = 50


def recent(
    conn: Connection,
    workspace_id: int,
    before: int | None = None,
    state: str = "",
    kind: str = "",
    limit: int = PAGE_LIMIT,
) -> dict[str, Any]:
    """Up to `limit` jobs with ids below `before`, newest first, and the id to pass as
    `before` for the next page (None on the last)."""
    query = select(jobs).where(jobs.c.workspace_id == workspace_id)
    if before is not None:
        query = query.where(jobs.c.id < before)
    if state:
        query = query.where(jobs.c.state == state)
    if kind:
        query = query.where(jobs.c.kind == kind)
    rows = conn.execute(query.order_by(jobs.c.id.desc()).limit(limit + 1)).all()
    shown = [_job(row) for row in rows[:limit]]
    return {"jobs": shown, "next": shown[-1]["id"] if len(rows) > limit else None}


def one(conn: Connection, workspace_id: int, job_id: int) -> dict[str, Any]:
    """One job of the workspace; 404 when it has none of that id."""
    row = conn.execute(
        select(jobs).where(jobs.c.workspace_id == workspace_id, jobs.c.id == job_id)
    ).first()
    if row is None:
        raise not_found(f"no job {job_id}")
    return _job(row)


def segment_builds(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    """The workspace's data-driven segments waiting for or in a build, with the build's
    percentage: segment builds are not queue jobs (the segment worker takes segments
    in these states), so the Jobs page shows them from here. Bounded by
    `BUILDS_SHOWN`, on the segments' workspace index."""
    rows = conn.execute(
        select(segments.c.id, segments.c.name, segments.c.state, segments.c.progress)
        .where(segments.c.workspace_id == workspace_id, segments.c.state.in_(BUILDING))
        .order_by(segments.c.id)
        .limit(BUILDS_SHOWN)
    )
    return [
        {"id": r.id, "name": r.name, "state": r.state, "progress": r.progress or 0} for r in rows
    ]


def _job(row: Any) -> dict[str, Any]:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {"payload": payload}
    return {
        "id": row.id,
        "kind": row.kind,
        "state": row.state,
        "attempts": row.attempts,
        "max_attempts": row.max_attempts,
        "run_at": row.run_at,
        "lease_until": row.lease_until,
        "error": row.last_error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "payload": {key: public_url(value) for key, value in payload.items()},
    }


def public_url(value: Any) -> Any:
    """`value` as it may be shown: a URL without its user, password or query."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return value
