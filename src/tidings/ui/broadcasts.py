"""The Broadcasts pages: the workspace's API-triggered broadcasts, a broadcast's journey
(the campaigns' tree and counts), its triggers, and "Trigger this broadcast".

Triggering takes two steps, as a careful author wants: the form (the audience:
the broadcast's own, a segment, or a list of ids or emails; `data` as JSON)
posts to a preview, which shows how many people the audience reaches and the
first ten (a condition counted by the segments' time-boxed live count,
`journey_view.preview`), and carries the same fields on to a confirm button.
The confirm is the use case of `POST /v1/campaigns/{id}/triggers`
(`broadcasts.trigger`, with its 10-second limit per broadcast), with its audit
entry in the same transaction; its refusals are shown on the form.
"""

from __future__ import annotations

import json
from typing import Any

from tidings import audit
from tidings.campaigns import broadcasts, journey_view, store
from tidings.errors import ApiError
from tidings.segments import service as segments
from tidings.ui import campaigns
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui

KIND = "broadcast"
AUDIENCES = {
    "default": "Everyone in the broadcast’s audience",
    "segment": "The members of a segment",
    "ids": "These ids",
    "emails": "These email addresses",
}


async def broadcast_list(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    found = await ui.read(journey_view.listed, request.session.workspace_id, KIND)
    rows = campaigns.listed_rows(found)
    return ui.page(request, "broadcasts.html", rows=rows, cap=journey_view.LIST_CAP)


async def broadcast_page(ui: Ui, request: UiRequest) -> Page:
    return await _show(ui, request, _form_of({}))


async def preview(ui: Ui, request: UiRequest) -> Page:
    """The audience a filled form would reach, and the confirm button (reads only)."""
    assert request.session is not None
    form = _form_of(request.form)
    try:
        parsed = _parse(form)
        args = (request.session.workspace_id, _id(request), parsed.audience, ui.now())
        found = await ui.read(journey_view.preview, *args)
    except ApiError as exc:
        if exc.status not in (400, 404, 422):
            raise
        return await _show(ui, request, form, error=_message(exc), status=422)
    return await _show(ui, request, form, preview=found)


async def trigger(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    broadcast_id = _id(request)
    form = _form_of(request.form)
    details = {"audience": form["audience"], "data": form["data"][:2000]}
    entry = audit.Entry(
        "broadcast.trigger", KIND, str(broadcast_id), session.workspace_id, session.user_id, details
    )
    now = ui.now()
    try:
        parsed = _parse(form)
        args = (session.workspace_id, broadcast_id, parsed, now)
        trigger_id = await ui.write(audit.audited, entry, now, broadcasts.trigger, *args)
    except ApiError as exc:
        if exc.status not in (400, 422, 429):
            raise
        page = await _show(ui, request, form, error=_message(exc), status=exc.status)
        page.headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in exc.headers.items()]
        return page  # a 429 keeps its Retry-After
    return redirect(f"/broadcasts/{broadcast_id}?triggered={trigger_id}")


async def _show(
    ui: Ui,
    request: UiRequest,
    form: dict[str, str],
    *,
    preview: journey_view.Preview | None = None,
    error: str = "",
    status: int = 200,
) -> Page:
    assert request.session is not None
    workspace_id = request.session.workspace_id
    broadcast_id = _id(request)
    values = await campaigns.journey_values(ui, request, broadcast_id, KIND)
    triggered = request.query.get("triggered", "")
    values |= {
        "triggers": await ui.read(journey_view.triggers, workspace_id, broadcast_id),
        "segments": await ui.read(segments.list_all, workspace_id),
        "audiences": AUDIENCES,
        "when": campaigns.when,
        "form": form,
        "preview": preview,
        "error": error,
        "triggered": triggered if triggered.isascii() and triggered.isdigit() else "",
    }
    return ui.page(request, "broadcast.html", status, **values)


def _form_of(given: dict[str, str]) -> dict[str, str]:
    audience = given.get("audience", "default")
    return {
        "audience": audience if audience in AUDIENCES else "default",
        "segment_id": given.get("segment_id", ""),
        "people": given.get("people", ""),
        "data": given.get("data", ""),
    }


def _parse(form: dict[str, str]) -> broadcasts.TriggerRequest:
    """The form as a trigger body, checked by the API's own parser."""
    body: dict[str, Any] = {}
    text = form["data"].strip()
    if text:
        try:
            body["data"] = json.loads(text)
        except ValueError as exc:
            raise broadcasts.invalid(f"data is not JSON: {exc}", "data") from exc
    audience = form["audience"]
    if audience == "segment":
        raw = form["segment_id"]
        if not (raw.isascii() and raw.isdigit()):
            raise broadcasts.invalid("choose a segment", "segment_id")
        body["recipients"] = {"segment": {"id": int(raw)}}
    elif audience in ("ids", "emails"):
        listed = [p.strip() for p in form["people"].replace(",", "\n").splitlines() if p.strip()]
        body[audience] = listed
    return broadcasts.parse_trigger(body)


def _id(request: UiRequest) -> int:
    return store.parse_id(request.params["broadcast_id"], KIND)


def _message(exc: ApiError) -> str:
    return exc.message
