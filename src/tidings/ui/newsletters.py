"""The Newsletters pages: the list, and a newsletter's contents, test groups with their
metrics, A/B test state and sending.

Reads are the App API's (`newsletters.list_page` and `get`,
`newsletter_contents.list_contents`, `newsletter_ab.test_groups`, the delivery
totals of `campaigns/metrics.py`). Send now, schedule and deschedule are the use
cases of `POST /v1/newsletters/{id}/send` and `/schedule` (the schedule's body
checked by the API's own parser, `newsletter_requests.parse_schedule`), each
with its audit entry in the same transaction; a refusal is shown on the page.
A schedule is a date and time in a time zone, turned into the unix time the API
takes; "in each person's local time" is the API's `tz_match_enabled`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tidings import audit, paging
from tidings.campaigns import metrics, newsletters, store
from tidings.campaigns import newsletter_ab as ab
from tidings.campaigns import newsletter_contents as contents
from tidings.campaigns import newsletter_requests as asks
from tidings.campaigns.local_time import zone
from tidings.errors import ApiError, bad_request
from tidings.ui import campaigns
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui

KIND = "newsletter"
PAGE_SIZE = 50
STATES = {"draft": "Draft", "scheduled": "Scheduled", "sent": "Sent"}
TOTALS = ("created", "sent", "delivered", "opened", "clicked", "converted", "bounced")
NOTICES = {
    "sent": "Sending: its people are being queued.",
    "scheduled": "Scheduled.",
    "descheduled": "No longer scheduled: it is a draft again.",
}


async def newsletter_list(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    try:
        page = paging.parse_page(request.query, default=PAGE_SIZE, maximum=PAGE_SIZE)
    except ApiError:
        page = paging.PageRequest(PAGE_SIZE)
    found = await ui.read(newsletters.list_page, request.session.workspace_id, page, True)
    rows = [_summary(n) for n in found["newsletters"]]
    values: dict[str, Any] = {
        "rows": rows,
        "next_url": f"/newsletters?start={found['next']}" if found["next"] else "",
        "paged": page.after is not None,
    }
    return ui.page(request, "newsletters.html", **values)


async def newsletter_page(ui: Ui, request: UiRequest) -> Page:
    return await _show(ui, request)


async def _show(ui: Ui, request: UiRequest, error: str = "", status: int = 200) -> Page:
    assert request.session is not None
    ids = (request.session.workspace_id, _id(request))
    newsletter = await ui.read(newsletters.get, *ids)
    shown = await ui.read(contents.list_contents, *ids)
    groups = await ui.read(ab.test_groups, *ids)
    totals = await ui.read(metrics.totals, ids[0], KIND, str(ids[1]))
    values: dict[str, Any] = {
        "newsletter": _summary(newsletter),
        "contents": shown["contents"],
        "groups": groups["test_groups"],
        "ab": newsletter["ab_test"],
        "ab_ends": campaigns.when(newsletter["ab_test"]["test_ends_at"])
        if newsletter["ab_test"]
        else "",
        "totals": [(name, totals.get(name, 0)) for name in TOTALS],
        "notice": NOTICES.get(request.query.get("now", ""), ""),
        "error": error,
        "form": request.form if request.method == "POST" else {},
        "may_edit": campaigns.may_edit(request),
    }
    return ui.page(request, "newsletter.html", status, **values)


async def send_now(ui: Ui, request: UiRequest) -> Page:
    """Send at once, once the author has ticked the confirmation (a send cannot be undone)."""
    if request.form.get("confirm") != "1":
        return await _show(ui, request, error="tick the confirmation to send now", status=400)
    return await _change(ui, request, "newsletter.send", "sent", lambda now: None)


async def schedule(ui: Ui, request: UiRequest) -> Page:
    form = request.form
    return await _change(ui, request, "newsletter.schedule", "scheduled", lambda now: _at(form))


async def deschedule(ui: Ui, request: UiRequest) -> Page:
    body = {"scheduled_at": 0}
    return await _change(ui, request, "newsletter.deschedule", "descheduled", lambda now: body)


async def _change(ui: Ui, request: UiRequest, action: str, done: str, body_of: Any) -> Page:
    assert request.session is not None
    session = request.session
    newsletter_id = _id(request)
    now = ui.now()
    try:
        body = body_of(now)
        entry = audit.Entry(
            action, KIND, str(newsletter_id), session.workspace_id, session.user_id, body or {}
        )
        if action == "newsletter.send":
            use_case: Any = newsletters.send
            args: tuple[Any, ...] = (session.workspace_id, newsletter_id, None, now)
        else:
            use_case = newsletters.set_schedule
            parsed = asks.parse_schedule(body, now)
            args = (session.workspace_id, newsletter_id, parsed, now)
        await ui.write(audit.audited, entry, now, use_case, *args)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        return await _show(ui, request, error=exc.message, status=exc.status)
    return redirect(f"/newsletters/{newsletter_id}?now={done}")


def _at(form: dict[str, str]) -> dict[str, Any]:
    """The schedule form as the API's body: the local date-time in its zone, as unix time."""
    name = form.get("timezone", "").strip() or "UTC"
    if zone(name).key != name:
        raise bad_request("timezone must be an IANA time zone name, such as Europe/Paris")
    try:
        local = datetime.fromisoformat(form.get("at", ""))
    except ValueError as exc:
        raise bad_request("give the date and time to send at") from exc
    at = int(local.replace(tzinfo=zone(name)).timestamp())
    return {"scheduled_at": at, "timezone": name, "tz_match_enabled": form.get("tz_match") == "1"}


def _summary(newsletter: dict[str, Any]) -> dict[str, Any]:
    return {
        **newsletter,
        "state_text": STATES.get(newsletter["state"], newsletter["state"]),
        "sent": campaigns.when(newsletter["sent_at"]),
        "scheduled": campaigns.when(newsletter["scheduled_at"]),
    }


def _id(request: UiRequest) -> int:
    return store.parse_id(request.params["newsletter_id"], KIND)
