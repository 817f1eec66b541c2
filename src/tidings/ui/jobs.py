"""The Jobs page (imports, exports, collection fetches, segment builds, broadcast and
newsletter sends: whatever the job queue runs) and a job's page.

The list's state is in the URL (`/jobs?state=&kind=&before=<id>`), keyset-paged
on the job id (`jobs.browse`). Segment builds under way, which are not queue
jobs, are listed above it with their percentage. A job's page shows its details, its last error
and, for an import or an export, that import's or export's own record as the
App API answers it (its progress: rows done, its file).
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlencode

from tidings.errors import ApiError
from tidings.exports import service as exports
from tidings.imports import service as imports
from tidings.jobs import browse
from tidings.ui.activity import when
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui

TIMES = ("created_at", "updated_at", "run_at", "lease_until")


async def jobs(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    state = request.query.get("state", "")
    state = state if state in browse.STATES else ""
    kind = request.query.get("kind", "").strip()[:32]
    before_text = request.query.get("before", "")
    before = int(before_text) if before_text.isdigit() else None
    found = await ui.read(browse.recent, request.session.workspace_id, before, state, kind)
    for job in found["jobs"]:
        job["created"] = when(job["created_at"])
        job["updated"] = when(job["updated_at"])
    await _progress(ui, request.session.workspace_id, found["jobs"])
    chosen = {"state": state, "kind": kind}
    next_url = "/jobs?" + urlencode({**chosen, "before": found["next"]}) if found["next"] else ""
    return ui.page(
        request,
        "jobs.html",
        found=found,
        builds=await ui.read(browse.segment_builds, request.session.workspace_id),
        chosen=chosen,
        states=browse.STATES,
        next_url=next_url,
        paged=before is not None,
        first_url="/jobs?" + urlencode(chosen),
    )


async def job(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    raw = request.params["job_id"]
    if not raw.isdigit():
        raise ApiError(404, "There is no such job.")
    workspace_id = request.session.workspace_id
    found = await ui.read(browse.one, workspace_id, int(raw))
    found["times"] = {name: when(found[name]) for name in TIMES if found[name] is not None}
    subject = await _subject(ui, workspace_id, found)
    if subject is not None:  # its times as dates, a URL without its credentials or query
        for name, value in subject.items():
            is_time = name.endswith("_at") and isinstance(value, int)
            subject[name] = when(value) if is_time else browse.public_url(value)
    return ui.page(request, "job.html", job=found, subject=subject)


async def _progress(ui: Ui, workspace_id: int, shown: list[dict[str, Any]]) -> None:
    """Set each import's and export's progress on its job (two reads for the page); none
    on other kinds, and on a job whose import or export was since removed."""
    for job in shown:
        job["progress"] = None
    for key, read in (("import_id", imports.progress_of), ("export_id", exports.progress_of)):
        ids = [job["payload"][key] for job in shown if isinstance(job["payload"].get(key), int)]
        found = await ui.read(read, workspace_id, ids) if ids else {}
        for job in shown:
            if job["payload"].get(key) in found:
                job["progress"] = found[job["payload"][key]]


async def _subject(ui: Ui, workspace_id: int, job: dict[str, Any]) -> dict[str, Any] | None:
    """The import or export the job runs, as the App API shows it (None for other kinds,
    or when it was since removed)."""
    payload = job["payload"]
    for key, read in (("import_id", imports.get), ("export_id", exports.get)):
        if isinstance(payload.get(key), int):
            with contextlib.suppress(ApiError):
                shown: dict[str, Any] = await ui.read(read, workspace_id, payload[key])
                return shown
    return None
