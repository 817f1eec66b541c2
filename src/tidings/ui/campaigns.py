"""The Campaigns pages: the workspace's campaigns, and a campaign's journey as a tree of
its steps with counts, with start and stop.

Reads are the App API's (`campaigns/views.py` through `journey_view.overview`, the
delivery totals of `campaigns/metrics.py`) plus bounded per-step counts
(`campaigns/journey_view.py`). Starting and stopping are the use case of `POST
/v1/campaigns/{id}/start|stop` (and their aliases `resume|pause`), each with its
audit entry in the same transaction; a viewer's POST is refused by the site's gate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tidings import audit
from tidings.campaigns import journey_view, service, store
from tidings.ui import journey_tree
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import roles

KIND = "campaign"
STATES = {"draft": "Draft", "running": "Running", "stopped": "Stopped"}
SHOWN_METRICS = ("sent", "delivered", "opened", "clicked")
TOTALS = ("created", "sent", "delivered", "opened", "clicked", "converted", "bounced", "failed")
NOTICES = {
    "running": "The campaign is running: people who meet its trigger enter it.",
    "stopped": "The campaign is stopped: nobody new enters; journeys under way go on.",
}


async def campaign_list(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    found = await ui.read(journey_view.listed, request.session.workspace_id, KIND)
    rows = listed_rows(found)
    return ui.page(request, "campaigns.html", rows=rows, cap=journey_view.LIST_CAP)


def listed_rows(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The list's rows: each campaign as the App API lists it, with its bounded counts."""
    counts = found["counts"]
    return [
        {
            **c,
            "state_text": STATES.get(c["state"], c["state"]),
            "trigger": journey_tree.trigger_words(c["definition"]),
            "journeys": counts[c["id"]]["journeys"],
            "sent": counts[c["id"]]["sent"],
            "changed": when(c["updated"]),
        }
        for c in found["campaigns"]
    ]


async def campaign_page(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    campaign_id = store.parse_id(request.params["campaign_id"])
    values = await journey_values(ui, request, campaign_id, KIND)
    values["notice"] = NOTICES.get(request.query.get("now", ""), "")
    return ui.page(request, "campaign.html", **values)


async def journey_values(ui: Ui, request: UiRequest, campaign_id: int, kind: str) -> dict[str, Any]:
    """What a campaign's or broadcast's page shows of its journey (shared with broadcasts)."""
    assert request.session is not None
    found = await ui.read(journey_view.overview, request.session.workspace_id, campaign_id, kind)
    campaign = found["campaign"]
    steps = journey_tree.build(campaign["workflow"], campaign["action_ids"])
    definition = campaign["definition"]
    return {
        "campaign": {
            **campaign,
            "state_text": STATES.get(campaign["state"], campaign["state"]),
            "changed": when(campaign["updated"]),
            "started": when(campaign["first_started"]),
        },
        "trigger": journey_tree.trigger_words(definition),
        "filters": _words(definition.get("filters")),
        "exit_when": _words(definition.get("exit_when")),
        "goal": _goal(definition.get("goal")),
        "audience": _words(definition.get("audience")),
        "definition": definition,
        "steps": steps,
        "counts": found["steps"],
        "messages": found["messages"],
        "totals": [(name, found["totals"].get(name, 0)) for name in TOTALS],
        "shown_metrics": SHOWN_METRICS,
        "cap": journey_view.STEP_CAP,
        "may_edit": may_edit(request),
    }


async def start(ui: Ui, request: UiRequest) -> Page:
    return await _set_state(ui, request, "running", "campaign.start")


async def stop(ui: Ui, request: UiRequest) -> Page:
    return await _set_state(ui, request, "stopped", "campaign.stop")


async def _set_state(ui: Ui, request: UiRequest, state: str, action: str) -> Page:
    assert request.session is not None
    session = request.session
    campaign_id = store.parse_id(request.params["campaign_id"])
    entry = audit.Entry(action, KIND, str(campaign_id), session.workspace_id, session.user_id)
    now = ui.now()
    args = (session.workspace_id, campaign_id, state, now)
    await ui.write(audit.audited, entry, now, service.set_state, *args)
    return redirect(f"/campaigns/{campaign_id}?now={state}")


def may_edit(request: UiRequest) -> bool:
    return request.session is not None and roles.may(request.session.role, "edit_content")


def when(at: int | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _words(condition: Any) -> str:
    return journey_tree.condition_words(condition) if condition is not None else ""


def _goal(goal: Any) -> str:
    if not goal:
        return ""
    event = goal.get("event", {})
    within = goal.get("within")
    days = f" within {journey_tree.duration(int(within))}" if isinstance(within, int) else ""
    return f"Performs {event.get('name')}{days}"
