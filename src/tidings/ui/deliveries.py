"""The Deliveries page, a delivery's page, and its HTML body on a page of its own.

The list's state is in the URL (`/deliveries?status=&channel=&template=&campaign=
&newsletter=&start=<cursor>`); the filters are read by the App API's own
`messages.parse_query` (as `type`, `transactional_id`, `campaign_id`,
`newsletter_id`), with the status added by `delivery_view.status_query`.

An email's HTML is never put into a page of the UI. The delivery's page
shows it escaped (its source) and in a sandboxed iframe whose document is
`/deliveries/{id}/html`, sent with its own policy: `sandbox` (an opaque
origin: no scripts, no forms, no same-origin access, even when opened
directly), nothing loaded from anywhere (`default-src 'none'`: no tracking
pixel fires, no remote font or image), inline styles allowed (emails are
styled inline), framed only by this server's pages.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from tidings.errors import ApiError
from tidings.reporting import delivery_view, messages
from tidings.ui.activity import when
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui

PAGE_SIZE = 50
FIELDS = ("status", "channel", "template", "campaign", "newsletter")
CHANNELS = ("email", "sms", "push", "in_app", "whatsapp")
BODY_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)
TIMES = ("sent_at", "due_at", "expires_at", "updated_at", "unsubscribed_at")


async def deliveries(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    chosen = {name: request.query.get(name, "").strip()[:64] for name in FIELDS}
    problems: list[str] = []
    q = _query(chosen, request.query.get("start", ""), problems)
    workspace_id = request.session.workspace_id
    found = await ui.read(delivery_view.browse, workspace_id, q, ui.now())
    for message in found["messages"]:
        message["at"] = when(message["created"])
        message["reached"] = _reached(message["metrics"])
    next_url = "/deliveries?" + urlencode({**chosen, "start": found["next"]})
    return ui.page(
        request,
        "deliveries.html",
        chosen=chosen,
        problems=problems,
        found=found,
        sources=await ui.read(delivery_view.sources, workspace_id),
        statuses=(*delivery_view.STATES, *delivery_view.METRICS),
        channels=CHANNELS,
        scan_rows=delivery_view.SCAN_ROWS,
        next_url=next_url if found["next"] else "",
        paged=bool(request.query.get("start")) and not problems,
        first_url="/deliveries?" + urlencode(chosen),
    )


async def delivery(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    delivery_id = request.params["delivery_id"]
    found = await ui.read(delivery_view.detail, request.session.workspace_id, delivery_id)
    found["times"] = {name: when(found[name]) for name in TIMES if found[name] is not None}
    found["created"] = when(found["message"]["created"])
    for item in found["history"]:
        item["at"] = when(item["timestamp"])
    return ui.page(request, "delivery.html", d=found, delivery_id=delivery_id)


async def html_body(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    delivery_id = request.params["delivery_id"]
    html = await ui.read(delivery_view.html_body, request.session.workspace_id, delivery_id)
    headers = [
        (b"content-security-policy", BODY_CSP.encode()),
        (b"x-frame-options", b"SAMEORIGIN"),
    ]
    return Page(200, html.encode(), headers)


def _query(chosen: dict[str, str], start: str, problems: list[str]) -> messages.MessageQuery:
    """The App API's reading of the filters; a bad value is said, and left out."""
    given = {
        "type": chosen["channel"],
        "transactional_id": chosen["template"],
        "campaign_id": chosen["campaign"],
        "newsletter_id": chosen["newsletter"],
        "limit": str(PAGE_SIZE),
    }
    try:
        q = messages.parse_query(given)
    except ApiError as exc:
        problems.append(exc.message)
        q = messages.MessageQuery(limit=PAGE_SIZE)
    if start:
        with contextlib.suppress(ApiError):  # a stale or edited cursor: the first page
            q = replace(q, after=messages.parse_query({"start": start}).after)
    return delivery_view.status_query(q, chosen["status"])


def _reached(metrics: dict[str, Any]) -> str:
    """The furthest metric a message reached, by time ("" when none)."""
    if not metrics:
        return ""
    return str(max(metrics.items(), key=lambda item: item[1])[0])
