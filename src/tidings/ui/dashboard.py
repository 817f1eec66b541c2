"""The dashboard (`/`): events per minute or hour, and messages per day, as charts.

State in the URL: `/?events=hour|day|week&messages=<source>` (the sources of
`campaigns/dashboard.py`). The numbers are put into the page twice: as JSON in
a `<script type="application/json">` element, which `static/dashboard.js`
draws with uPlot (no inline script: the CSP forbids it), and as tables, so the
page says everything with JavaScript off and to a screen reader.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tidings.campaigns import dashboard as messages
from tidings.errors import ApiError
from tidings.reporting import delivery_view
from tidings.reporting import event_rate as rate
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui

SPANS = {
    "hour": "Last hour, per minute",
    "day": "Last day, per hour",
    "week": "Last week, per hour",
}
LABELS = {"hour": "%H:%M", "day": "%Y-%m-%d %H:00", "week": "%Y-%m-%d %H:00"}


async def dashboard(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    workspace_id, now = request.session.workspace_id, ui.now()
    span = request.query.get("events", "hour")
    span = span if span in rate.WINDOWS else "hour"
    source = request.query.get("messages", "").strip()[:64]
    buckets = rate.window(span, now)
    counted = await ui.read(rate.counts, workspace_id, buckets)
    problems: list[str] = []
    try:
        days = await ui.read(messages.message_days, workspace_id, source, now)
    except ApiError as exc:  # an edited URL: say so, and show every message
        problems.append(exc.message)
        source = ""
        days = await ui.read(messages.message_days, workspace_id, source, now)
    events = _chart(buckets.starts, LABELS[span], {"events": counted})
    sent = _chart(days["starts"], "%Y-%m-%d", days["series"])
    return ui.page(
        request,
        "dashboard.html",
        span=span,
        spans=SPANS,
        source=source,
        sources=await ui.read(delivery_view.sources, workspace_id),
        problems=problems,
        events=events,
        messages=sent,
        total_events=sum(counted),
        charts={"events": events, "messages": sent},
    )


def _chart(starts: Any, label: str, series: dict[str, list[int]]) -> dict[str, Any]:
    """A chart's numbers: the period starts (Unix seconds, UTC), their labels as the
    tables show them, and each series as (name, values), in the order given (a list:
    `tojson` would sort a mapping's keys)."""
    return {
        "x": list(starts),
        "labels": [datetime.fromtimestamp(start, UTC).strftime(label) for start in starts],
        "series": list(series.items()),
    }
