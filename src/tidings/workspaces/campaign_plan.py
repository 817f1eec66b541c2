"""`tidings apply` for campaigns and broadcasts: the file's `campaigns:` and
`broadcasts:` sections, lists of campaign documents (`docs/campaigns.md`).

Same shape as the other resources (`resources.py`): `parse_campaigns`
validates the sections (pure), `snapshot` reads what exists, `plan_campaigns`
compares them (pure; matched by name within each kind) and each
`resources.Step` carries one change out in the caller's transaction. What
is compared is the normalised form both sides parse to (the saved campaign
is written back as its document first, `views.document_of`): description,
tags, state, each part of the definition and the workflow, so a file that
spells a step differently but means the same is `unchanged`. Campaigns the
file does not name are left alone.

    campaigns:
      - name: Welcome
        state: running
        trigger: {event: {name: signed_up}}
        workflow:
          - email: {subject: "Hi {{ customer.first_name }}", body: "..."}
          - delay: {days: 1}
    broadcasts:
      - name: Outage notice
        audience: {attribute: {field: plan, operator: eq, value: pro}}
        workflow: [{email: {subject: "We are back", body: "..."}}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tidings.campaigns import definitions, store, views
from tidings.campaigns.definitions import Campaign, Step
from tidings.errors import bad_request
from tidings.workspaces.resources import Run
from tidings.workspaces.resources import Step as PlanStep

SECTIONS = {"campaigns": "campaign", "broadcasts": "broadcast"}
_DEFINITION_PARTS = ("trigger", "frequency", "audience", "filters", "exit_when", "goal")


@dataclass(frozen=True)
class Saved:
    """A campaign that exists: its id and what it parses back to."""

    id: int
    campaign: Campaign


# --- parsing (pure) ------------------------------------------------------------


def parse_campaigns(document: dict[str, Any]) -> list[Campaign]:
    """Every campaign, then every broadcast the file declares; names unique per kind."""
    found: list[Campaign] = []
    for section, kind in SECTIONS.items():
        items = document.get(section)
        items = [] if items is None else items
        if not isinstance(items, list):
            raise bad_request(f"{section}: must be a list", section)
        names: set[str] = set()
        for i, item in enumerate(items):
            path = f"{section}[{i}]"
            if isinstance(item, dict) and item.get("kind", kind) != kind:
                raise bad_request(f"{path}.kind: {section} are {kind}s", f"{path}.kind")
            campaign = definitions.parse(item, path, kind=kind)
            if campaign.name in names:
                raise bad_request(f'{section}: "{campaign.name}" appears twice', section)
            names.add(campaign.name)
            found.append(campaign)
    return found


# --- what exists ---------------------------------------------------------------


def snapshot(conn: Connection, workspace_id: int) -> dict[tuple[str, str], list[Saved]]:
    """The workspace's campaigns and broadcasts, parsed back from what is saved."""
    saved: dict[tuple[str, str], list[Saved]] = {}
    for kind in SECTIONS.values():
        for row in store.rows_of(conn, workspace_id, kind):
            campaign = definitions.parse(views.document_of(conn, row), kind, kind=kind)
            saved.setdefault((kind, row.name), []).append(Saved(row.id, campaign))
    return saved


# --- the plan (pure) -----------------------------------------------------------


def plan_campaigns(
    declared: list[Campaign], saved: dict[tuple[str, str], list[Saved]]
) -> list[PlanStep]:
    steps: list[PlanStep] = []
    for want in declared:
        found = saved.get((want.kind, want.name), [])
        if len(found) > 1:
            raise bad_request(f'more than one {want.kind} is named "{want.name}"', want.kind)
        if not found:
            steps.append(PlanStep("create", want.kind, want.name, _put(want, None)))
            continue
        fields = differences(want, found[0].campaign)
        run = _put(want, found[0].id) if fields else None
        steps.append(
            PlanStep("update" if fields else "unchanged", want.kind, want.name, run, fields)
        )
    return steps


def differences(want: Campaign, have: Campaign) -> tuple[str, ...]:
    """The parts of a campaign that differ, in the document's terms."""
    fields = [
        name
        for name in ("description", "tags", "state")
        if getattr(want, name) != getattr(have, name)
    ]
    fields.extend(
        part for part in _DEFINITION_PARTS if want.definition.get(part) != have.definition.get(part)
    )
    if _normal(want.workflow) != _normal(have.workflow):
        fields.append("workflow")
    return tuple(fields)


def _normal(steps: tuple[Step, ...]) -> list[Any]:
    """Steps with their languages in one order, so that the order a file lists
    them in is not a difference."""
    return [
        (
            step.key,
            step.type,
            step.name,
            step.settings,
            step.sending_state,
            sorted(step.contents),
            [_normal(path) for path in step.paths],
        )
        for step in steps
    ]


# --- carrying it out -----------------------------------------------------------


def _put(campaign: Campaign, campaign_id: int | None) -> Run:
    def run(conn: Connection, workspace_id: int, now: int) -> int | None:
        if campaign_id is None:
            return store.create(conn, workspace_id, campaign, now)
        store.replace(conn, workspace_id, campaign_id, campaign, now)
        return None

    return run
