"""Campaigns and their workflows as rows: save a definition, read it back.

A definition (`definitions.Campaign`) is saved as one `campaigns` row, one
`campaign_actions` row per step and one `action_contents` row per message
language. Saving again over an existing campaign matches steps by `key`:
a step that keeps its key keeps its action id (so journeys waiting there,
its deliveries and its metrics stay attached); a step no longer in the
workflow is marked removed, and journeys waiting on it end when they next
move (`journeys.py`). Edits are forward-looking, as in Customer.io: people
already past a step are not affected.

`Workflow` is the runner's view of a campaign: its definition and each
action's type, settings, next action and paths, by id; `workflow()` caches
it per campaign and `updated_at`, so a change is seen at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, case, delete, insert, select, update

from tidings import numbers
from tidings.campaigns.definitions import Campaign, Step, walk
from tidings.db.schema import action_contents, campaign_actions, campaigns
from tidings.errors import bad_request, not_found
from tidings.jobs import queue
from tidings.reporting import links
from tidings.templates import design_studio

_encode = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.decode


def parse_id(raw: str, what: str = "campaign") -> int:
    return numbers.path_id(raw, what)


# --- writing ---------------------------------------------------------------------------


def create(conn: Connection, workspace_id: int, campaign: Campaign, now: int) -> int:
    """Insert a campaign and its workflow; its id."""
    values = _columns(campaign)
    if campaign.state == "running":
        values["first_started"] = now
    campaign_id = int(
        conn.execute(
            insert(campaigns).values(
                workspace_id=workspace_id, created_at=now, updated_at=now, **values
            )
        ).inserted_primary_key[0]
    )
    _save_workflow(conn, workspace_id, campaign_id, campaign.workflow, now)
    links.secret(conn, workspace_id, now)  # its emails' links are signed when composed
    if campaign.state == "running" and campaign.trigger_kind == "date":
        _schedule_dates(conn, workspace_id, campaign_id, now)
    return campaign_id


def replace(
    conn: Connection, workspace_id: int, campaign_id: int, campaign: Campaign, now: int
) -> None:
    """Replace a campaign's definition and workflow (steps matched by key)."""
    row = row_of(conn, workspace_id, campaign_id)
    if row.kind != campaign.kind:
        raise bad_request(f"campaign {campaign_id} is a {row.kind}, not a {campaign.kind}")
    values = _columns(campaign)
    if campaign.state == "running" and row.first_started is None:
        values["first_started"] = now
    _changed(conn, campaign_id, now, **values)
    _save_workflow(conn, workspace_id, campaign_id, campaign.workflow, now)
    if campaign.state == "running" and campaign.trigger_kind == "date":
        _schedule_dates(conn, workspace_id, campaign_id, now)  # the attribute may have changed


def set_state(conn: Connection, workspace_id: int, campaign_id: int, state: str, now: int) -> None:
    """Start (`running`) or stop (`stopped`) a campaign; the first start is remembered."""
    row = row_of(conn, workspace_id, campaign_id)
    values: dict[str, Any] = {"state": state}
    if state == "running" and row.first_started is None:
        values["first_started"] = now
    _changed(conn, campaign_id, now, **values)
    if state == "running" and row.state != "running" and row.trigger_kind == "date":
        _schedule_dates(conn, workspace_id, campaign_id, now)


DATES_JOB = "campaign_dates"  # handled by `dates.DateScheduleJob`


def _schedule_dates(conn: Connection, workspace_id: int, campaign_id: int, now: int) -> None:
    """A date campaign started (or changed while running): schedule everyone's next
    entry, in a job (`dates.py`)."""
    queue.enqueue(conn, workspace_id, DATES_JOB, {"campaign_id": campaign_id}, now)


def update_row(conn: Connection, campaign_id: int, now: int, **values: Any) -> None:
    """Set columns of a campaign's row (a newsletter's send and schedule); `updated_at`
    moves as for any edit."""
    _changed(conn, campaign_id, now, **values)


def _changed(conn: Connection, campaign_id: int, now: int, **values: Any) -> None:
    """Update a campaign, moving `updated_at` to now or, for a second edit within the
    same second, past the stored one: it keys the workflow cache."""
    later = case((campaigns.c.updated_at >= now, campaigns.c.updated_at + 1), else_=now)
    conn.execute(
        update(campaigns).where(campaigns.c.id == campaign_id).values(updated_at=later, **values)
    )


def _columns(campaign: Campaign) -> dict[str, Any]:
    return {
        "kind": campaign.kind,
        "name": campaign.name,
        "description": campaign.description,
        "state": campaign.state,
        "trigger_kind": campaign.trigger_kind,
        "event_name": campaign.event_name,
        "definition": _encode(campaign.definition).decode(),
        "tags": _encode(list(campaign.tags)).decode(),
    }


def _save_workflow(
    conn: Connection, workspace_id: int, campaign_id: int, workflow: tuple[Step, ...], now: int
) -> None:
    """Upsert every step by key, then link them (next action, paths' first actions)."""
    existing = {
        row.key: row.id
        for row in conn.execute(
            select(campaign_actions.c.key, campaign_actions.c.id).where(
                campaign_actions.c.campaign_id == campaign_id
            )
        )
    }
    steps = walk(workflow)
    ids: dict[str, int] = {}
    for ordinal, step in enumerate(steps):
        values = {
            "ordinal": ordinal,
            "type": step.type,
            "name": step.name,
            "sending_state": step.sending_state,
            "removed": 0,
            "updated_at": now,
        }
        if step.key in existing:
            action_id = existing[step.key]
            conn.execute(
                update(campaign_actions).where(campaign_actions.c.id == action_id).values(**values)
            )
        else:
            action_id = int(
                conn.execute(
                    insert(campaign_actions).values(
                        workspace_id=workspace_id,
                        campaign_id=campaign_id,
                        key=step.key,
                        settings="{}",
                        created_at=now,
                        **values,
                    )
                ).inserted_primary_key[0]
            )
        ids[step.key] = action_id
        _save_contents(conn, workspace_id, action_id, step.contents, now)
    links = _links(workflow, ids, None, None)
    for step in steps:
        next_id, parent, paths = links[step.key]
        settings = dict(step.settings)
        if step.paths:
            settings["paths"] = paths
        conn.execute(
            update(campaign_actions)
            .where(campaign_actions.c.id == ids[step.key])
            .values(next_id=next_id, parent_action_id=parent, settings=_encode(settings).decode())
        )
    gone = [action_id for key, action_id in existing.items() if key not in ids]
    if gone:
        conn.execute(
            update(campaign_actions)
            .where(campaign_actions.c.id.in_(gone))
            .values(removed=1, next_id=None, updated_at=now)
        )


def _links(
    steps: Sequence[Step], ids: dict[str, int], after: int | None, parent: int | None
) -> dict[str, tuple[int | None, int | None, list[int | None]]]:
    """For each step: the action after it, the branch it sits in, and (branching
    steps) the first action of each path, which is the step after the branch
    when the path is empty."""
    found: dict[str, tuple[int | None, int | None, list[int | None]]] = {}
    for i, step in enumerate(steps):
        following = ids[steps[i + 1].key] if i + 1 < len(steps) else after
        heads: list[int | None] = []
        for path in step.paths:
            heads.append(ids[path[0].key] if path else following)
            found.update(_links(path, ids, following, ids[step.key]))
        found[step.key] = (following, parent, heads)
    return found


def _save_contents(
    conn: Connection,
    workspace_id: int,
    action_id: int,
    contents: tuple[tuple[str, dict[str, str]], ...],
    now: int,
) -> None:
    have = {
        row.language: row.id
        for row in conn.execute(
            select(action_contents.c.language, action_contents.c.id).where(
                action_contents.c.action_id == action_id, action_contents.c.test_group == 0
            )
        )
    }
    for _, fields in contents:
        design_studio.check_named(conn, workspace_id, fields)
    for language, fields in contents:
        text = _encode(fields).decode()
        if language in have:
            conn.execute(
                update(action_contents)
                .where(action_contents.c.id == have[language])
                .values(fields=text, updated_at=now)
            )
        else:
            conn.execute(
                insert(action_contents).values(
                    workspace_id=workspace_id,
                    action_id=action_id,
                    language=language,
                    fields=text,
                    created_at=now,
                    updated_at=now,
                )
            )
    stale = set(have) - {language for language, _ in contents}
    if stale:
        conn.execute(
            delete(action_contents).where(
                action_contents.c.action_id == action_id,
                action_contents.c.test_group == 0,
                action_contents.c.language.in_(stale),
            )
        )


def put_content(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    action_id: int,
    language: str,
    fields: dict[str, str],
    now: int,
) -> None:
    """Set some fields of one language of a message action (`PUT .../actions/{id}[/language/
    {lang}]`); a language the action lacks starts from the default's fields. A Design
    Studio email it names must exist."""
    action = action_row(conn, workspace_id, campaign_id, action_id)
    design_studio.check_named(conn, workspace_id, fields)
    rows = {
        row.language: row
        for row in conn.execute(
            select(action_contents).where(
                action_contents.c.action_id == action.id, action_contents.c.test_group == 0
            )
        )
    }
    if language in rows:
        merged = {**_decode(rows[language].fields), **fields}
        conn.execute(
            update(action_contents)
            .where(action_contents.c.id == rows[language].id)
            .values(fields=_encode(merged).decode(), updated_at=now)
        )
    else:
        base = _decode(rows[""].fields) if "" in rows else {}
        conn.execute(
            insert(action_contents).values(
                workspace_id=workspace_id,
                action_id=action.id,
                language=language,
                fields=_encode({**base, **fields}).decode(),
                created_at=now,
                updated_at=now,
            )
        )
    _touch(conn, campaign_id, action.id, now)


def set_sending_state(
    conn: Connection, workspace_id: int, campaign_id: int, action_id: int, state: str, now: int
) -> None:
    action_row(conn, workspace_id, campaign_id, action_id)
    conn.execute(
        update(campaign_actions)
        .where(campaign_actions.c.id == action_id)
        .values(sending_state=state)
    )
    _touch(conn, campaign_id, action_id, now)


def _touch(conn: Connection, campaign_id: int, action_id: int, now: int) -> None:
    """Mark the action and its campaign changed (the runner's cache key)."""
    conn.execute(
        update(campaign_actions).where(campaign_actions.c.id == action_id).values(updated_at=now)
    )
    _changed(conn, campaign_id, now)


# --- reading ---------------------------------------------------------------------------


def row_of(conn: Connection, workspace_id: int, campaign_id: int, kind: str | None = None) -> Any:
    """The campaign's row; a 404 when the workspace has none of that id (and kind)."""
    row = conn.execute(
        select(campaigns).where(
            campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id
        )
    ).first()
    if row is None or (kind is not None and row.kind != kind):
        raise not_found(f"{kind or 'campaign'} not found")
    return row


def rows_of(conn: Connection, workspace_id: int, kind: str) -> list[Any]:
    return list(
        conn.execute(
            select(campaigns)
            .where(campaigns.c.workspace_id == workspace_id, campaigns.c.kind == kind)
            .order_by(campaigns.c.id)
        )
    )


def action_rows(conn: Connection, campaign_id: int) -> list[Any]:
    """A campaign's current actions in workflow order."""
    return list(
        conn.execute(
            select(campaign_actions)
            .where(campaign_actions.c.campaign_id == campaign_id, campaign_actions.c.removed == 0)
            .order_by(campaign_actions.c.ordinal)
        )
    )


def action_row(conn: Connection, workspace_id: int, campaign_id: int, action_id: int) -> Any:
    row = conn.execute(
        select(campaign_actions).where(
            and_(
                campaign_actions.c.id == action_id,
                campaign_actions.c.campaign_id == campaign_id,
                campaign_actions.c.workspace_id == workspace_id,
                campaign_actions.c.removed == 0,
            )
        )
    ).first()
    if row is None:
        raise not_found("action not found")
    return row


def contents_of(conn: Connection, action_id: int) -> dict[str, tuple[int, dict[str, str]]]:
    """An action's own contents (not a newsletter's test groups): language -> (content id,
    fields)."""
    return {
        row.language: (row.id, _decode(row.fields))
        for row in conn.execute(
            select(action_contents.c.language, action_contents.c.id, action_contents.c.fields)
            .where(action_contents.c.action_id == action_id, action_contents.c.test_group == 0)
            .order_by(action_contents.c.language)
        )
    }


def definition_of(row: Any) -> dict[str, Any]:
    return dict(_decode(row.definition))


# --- the runner's view -------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    id: int
    key: str
    type: str
    name: str
    sending_state: str | None
    settings: dict[str, Any]
    next_id: int | None
    parent_id: int | None

    @property
    def paths(self) -> list[int | None]:
        return list(self.settings.get("paths", []))


@dataclass(frozen=True)
class Workflow:
    """A campaign as the runner reads it."""

    id: int
    workspace_id: int
    kind: str
    name: str
    state: str
    definition: dict[str, Any]
    first_id: int | None
    actions: dict[int, Action]
    removed: frozenset[int]

    def action(self, action_id: int | None) -> Action | None:
        return None if action_id is None else self.actions.get(action_id)


def workflow(conn: Connection, campaign_id: int) -> Workflow | None:
    """The campaign's current workflow (cached until the campaign changes); None if gone."""
    row = conn.execute(
        select(campaigns.c.updated_at, campaigns.c.state).where(campaigns.c.id == campaign_id)
    ).first()
    if row is None:
        return None
    key = (conn.engine.url.render_as_string(), campaign_id, row.updated_at, row.state)
    found = _cached.get(key)
    if found is None:
        if len(_cached) > 1000:
            _cached.clear()
        found = _cached[key] = _read_workflow(conn, campaign_id)
    return found


# (database, campaign id, updated_at, state) -> its workflow; every edit moves
# `updated_at` (`_changed`).
_cached: dict[tuple[str, int, int, str], Workflow] = {}


def _read_workflow(conn: Connection, campaign_id: int) -> Workflow:
    row = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()
    actions: dict[int, Action] = {}
    removed: set[int] = set()
    first: int | None = None
    for a in conn.execute(
        select(campaign_actions)
        .where(campaign_actions.c.campaign_id == campaign_id)
        .order_by(campaign_actions.c.ordinal)
    ):
        if a.removed:
            removed.add(a.id)
            continue
        if first is None:
            first = a.id
        actions[a.id] = Action(
            a.id,
            a.key,
            a.type,
            a.name,
            a.sending_state,
            _decode(a.settings),
            a.next_id,
            a.parent_action_id,
        )
    return Workflow(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        name=row.name,
        state=row.state,
        definition=_decode(row.definition),
        first_id=first,
        actions=actions,
        removed=frozenset(removed),
    )
