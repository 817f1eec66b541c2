"""`tidings apply -f workspace.yaml`: declare a workspace's segments, message
resources (transactional messages, snippets, sender identities, layouts,
providers: see `resources.py`), campaigns and broadcasts (`campaign_plan.py`)
and the limits on campaign messages (`limits:`, `campaigns/limits.py`) in a
file.

The file is the desired state; the database is the current one. `parse`
validates the document (pure), `plan` compares it with the segments that
exist (pure, matched by name) and `apply_plan` carries the changes out
through the same use cases as the App API, in the caller's transaction.
Applying the same file twice changes nothing the second time. Segments the
file does not name are left alone (removing them is not in the plan).

    segments:
      - name: VIPs
        description: big spenders      # optional, default ""
        tags: [sales]                  # optional
        conditions:                    # optional: without it, a manual segment
          attribute: {field: plan, operator: eq, value: pro}
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from tidings.campaigns import limits
from tidings.campaigns.definitions import Campaign
from tidings.errors import bad_request
from tidings.segments import membership
from tidings.segments import service as segments
from tidings.segments.conditions import parse as parse_condition
from tidings.templates import checks
from tidings.workspaces import campaign_plan, resources

_KEYS = ("name", "description", "tags", "conditions")


@dataclass(frozen=True)
class Desired:
    """One segment as the file declares it."""

    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    conditions: Any = None


@dataclass(frozen=True)
class Change:
    """One line of the plan: `create`, `update` (with the changed fields) or `unchanged`."""

    action: str
    desired: Desired
    segment_id: int | None = None
    fields: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        line = f'{self.action} segment "{self.desired.name}"'
        return f"{line}: {', '.join(self.fields)}" if self.fields else line


@dataclass(frozen=True)
class Document:
    """A parsed workspace file."""

    segments: list[Desired]
    resources: resources.Resources = field(default_factory=resources.Resources)
    campaigns: list[Campaign] = field(default_factory=list)  # campaigns, then broadcasts
    limits: dict[str, Any] | None = None  # None: the file does not declare them


@dataclass(frozen=True)
class Current:
    """What the workspace has, as `plan` compares it."""

    segments: list[dict[str, Any]]
    resources: resources.Resources
    campaigns: dict[tuple[str, str], list[campaign_plan.Saved]] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)


def parse(document: Any) -> Document:
    """A loaded YAML document; a 400-style `ApiError` naming the path."""
    if document is None:
        return Document([])
    known = ["segments", *resources.SECTIONS, *campaign_plan.SECTIONS, "limits"]
    if not isinstance(document, dict):
        raise bad_request(f"the file must be a mapping of: {', '.join(sorted(known))}")
    for key in document:
        if key not in known:
            raise bad_request(f"unknown key {key!r}{_did_you_mean(key, known)}", str(key))
    return Document(
        _segments(document),
        resources.parse_resources(document),
        campaign_plan.parse_campaigns(document),
        limits.parse(document["limits"]) if "limits" in document else None,
    )


def _did_you_mean(key: object, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; the keys are: {', '.join(known)}"


def _segments(document: dict[str, Any]) -> list[Desired]:
    items = document.get("segments")
    items = [] if items is None else items
    if not isinstance(items, list):
        raise bad_request("segments: must be a list", "segments")
    desired = [_desired(item, f"segments[{i}]") for i, item in enumerate(items)]
    names = [d.name for d in desired]
    for name in names:
        if names.count(name) > 1:
            raise bad_request(f'segments: the name "{name}" appears twice', "segments")
    return desired


def _desired(item: Any, path: str) -> Desired:
    if not isinstance(item, dict):
        raise bad_request(f"{path}: must be a mapping", path)
    for key in item:
        if key not in _KEYS:
            raise bad_request(f"{path}.{key}: unknown property {key!r}", f"{path}.{key}")
    name, description, tags = item.get("name"), item.get("description", ""), item.get("tags")
    if not isinstance(name, str) or not name.strip():
        raise bad_request(f"{path}.name: a non-empty string is required", f"{path}.name")
    if not isinstance(description, str):
        raise bad_request(f"{path}.description: must be a string", f"{path}.description")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise bad_request(f"{path}.tags: must be a list of strings", f"{path}.tags")
    conditions = item.get("conditions")
    if conditions is not None:
        parse_condition(conditions, f"{path}.conditions")
    return Desired(name.strip(), description, tuple(tags or ()), conditions)


def plan(document: Document, current: Current) -> list[Change | resources.Step]:
    """Every declared segment's change, then every declared resource's, then every
    campaign's and broadcast's (they may name segments the file creates)."""
    _check_senders(document.resources, current.resources)
    steps: list[Change | resources.Step] = []
    steps.extend(plan_segments(document.segments, current.segments))
    steps.extend(resources.plan_resources(document.resources, current.resources))
    steps.extend(campaign_plan.plan_campaigns(document.campaigns, current.campaigns))
    if document.limits is not None:
        steps.append(_plan_limits(document.limits, current.limits))
    return steps


def _plan_limits(want: dict[str, Any], have: dict[str, Any]) -> resources.Step:
    """The workspace's limits on campaign messages: replaced as a whole when they differ
    (an empty `limits:` removes them)."""
    if want == have:
        return resources.Step("unchanged", "limits", "workspace")
    fields = tuple(sorted(k for k in {*want, *have} if want.get(k) != have.get(k)))

    def run(conn: Connection, workspace_id: int, now: int) -> None:
        limits.put(conn, workspace_id, want, now)

    return resources.Step("update", "limits", "workspace", run, fields)


def _check_senders(want: resources.Resources, have: resources.Resources) -> None:
    """Each declared email content's literal `from` is a sender identity: the
    workspace's, or one the same file declares (`templates.checks`)."""
    identities = {*have.senders, *want.senders}
    for trigger, definition in want.messages.items():
        if definition.channel != "email":
            continue
        for language, fields in definition.contents:
            where = f'transactional message "{trigger}", contents.{language or "default"}.from'
            checks.sender(fields, identities, where)


def plan_segments(desired: list[Desired], existing: list[dict[str, Any]]) -> list[Change]:
    """What to do for each declared segment, given the workspace's segments as the API shows them.

    Matched by name. A manual segment cannot become dynamic (or back): that
    is refused rather than planned, as is a name two existing segments share.
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for shown in existing:
        by_name.setdefault(shown["name"], []).append(shown)
    changes = []
    for want in desired:
        found = by_name.get(want.name, [])
        if len(found) > 1:
            raise bad_request(f'more than one segment is named "{want.name}"', "segments")
        if not found:
            changes.append(Change("create", want))
            continue
        fields = _differences(want, found[0])
        action = "update" if fields else "unchanged"
        changes.append(Change(action, want, found[0]["id"], fields))
    return changes


def _differences(want: Desired, shown: dict[str, Any]) -> tuple[str, ...]:
    if (want.conditions is None) != (shown["type"] == "manual"):
        kind = "manual" if shown["type"] == "manual" else "dynamic"
        raise bad_request(
            f'segment "{want.name}" is {kind}; a segment cannot change between '
            "manual and dynamic (rename it, or delete the manual one)",
            "segments",
        )
    fields = []
    if want.description != (shown["description"] or ""):
        fields.append("description")
    if list(want.tags) != (shown["tags"] or []):
        fields.append("tags")
    if want.conditions is not None and want.conditions != shown.get("conditions"):
        fields.append("conditions")
    return tuple(fields)


def apply_plan(
    conn: Connection, workspace_id: int, changes: list[Change | resources.Step], now: int
) -> list[str]:
    """Carry out a plan; one line per change as `describe` says it, with the id of
    each segment, transactional message, campaign and broadcast created."""
    done = []
    for change in changes:
        made = None
        if isinstance(change, resources.Step) and change.run is not None:
            made = change.run(conn, workspace_id, now)
        elif isinstance(change, Change) and change.action != "unchanged":
            made = _apply_segment(conn, workspace_id, change, now)
        line = change.describe()
        done.append(f"{line} (id {made})" if change.action == "create" and made else line)
    return done


def _apply_segment(conn: Connection, workspace_id: int, change: Change, now: int) -> int:
    """Create or update one segment; its id."""
    want = change.desired
    spec: dict[str, Any] = {"name": want.name}
    if change.action == "create" or "description" in change.fields:
        spec["description"] = want.description
    if change.action == "create" or "tags" in change.fields:
        spec["tags"] = list(want.tags)
    if want.conditions is not None and (change.action == "create" or "conditions" in change.fields):
        spec["conditions"] = want.conditions
    if change.action == "create":
        shown = membership.create_segment(conn, workspace_id, {"segment": spec}, now)
    else:
        assert change.segment_id is not None
        shown = membership.update_segment(
            conn, workspace_id, change.segment_id, {"segment": spec}, now
        )
    return int(shown["id"])


def current(conn: Connection, workspace_id: int) -> Current:
    """The workspace's segments, resources and campaigns as `plan` compares them."""
    return Current(
        segments.list_all(conn, workspace_id),
        resources.snapshot(conn, workspace_id),
        campaign_plan.snapshot(conn, workspace_id),
        limits.current(conn, workspace_id),
    )
