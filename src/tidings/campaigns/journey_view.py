"""Reads for the web UI's campaign, broadcast and newsletter pages (reads only).

What the App API already reads is reused (`views.get`, `metrics`,
`trigger_reports`); this adds the counts the pages show beside it, each
bounded so that a page stays fast on a large store:

- per step: the journeys that reached it (the running totals of
  `reporting/totals.py`) and the journeys waiting there now (active `journeys`
  of the campaign at that action, on its `(campaign_id, state, action_id)`
  index);
- per campaign on the list: the journeys in progress (the same index) and the
  messages sent (the running totals);
- a broadcast trigger's audience before sending (`preview`): how many people it
  names and the first ten, the condition counted by `segments/browse.py`'s
  time-boxed live count, a list of ids or emails resolved as the fan-out does.

Every count of rows stops at a cap and says so (`browse.Bounded`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from tidings import paging
from tidings.campaigns import audiences, broadcasts, metrics, store, trigger_reports, views
from tidings.campaigns.definitions import MESSAGE_TYPES
from tidings.db.schema import broadcast_triggers, journeys, people
from tidings.reporting import totals as message_totals
from tidings.segments import browse, conditions

STEP_CAP = 100_000  # per-step counts stop here
LIST_CAP = 10_000  # and the list's
SHOWN = 10  # people a preview lists


@dataclass(frozen=True)
class StepCounts:
    reached: browse.Bounded
    waiting: browse.Bounded


def journey(conn: Connection, workspace_id: int, campaign_id: int, kind: str) -> dict[str, Any]:
    """The campaign (or broadcast) as `GET /v1/campaigns/{id}` shows it, with `action_ids`:
    each workflow step's action id by its `key` (the shown workflow names steps by key)."""
    shown = views.get(conn, workspace_id, campaign_id, kind)
    rows = store.action_rows(conn, campaign_id)
    return {**shown, "action_ids": {row.key: row.id for row in rows}}


def overview(
    conn: Connection, workspace_id: int, campaign_id: int, kind: str, cap: int = STEP_CAP
) -> dict[str, Any]:
    """What a campaign's (or broadcast's) page shows, in one read: the campaign
    (`journey`), `steps` (`step_counts` of each action), `messages` (each message
    action's `metrics.totals`) and `totals` (the campaign's)."""
    shown = journey(conn, workspace_id, campaign_id, kind)
    ids = list(shown["action_ids"].values())
    raw = str(campaign_id)
    return {
        "campaign": shown,
        "steps": step_counts(conn, campaign_id, ids, cap),
        "messages": {
            action_id: metrics.totals(conn, workspace_id, kind, raw, str(action_id))
            for action_id in message_action_ids(shown["actions"])
        },
        "totals": metrics.totals(conn, workspace_id, kind, raw),
    }


def step_counts(
    conn: Connection, campaign_id: int, action_ids: list[int], cap: int = STEP_CAP
) -> dict[int, StepCounts]:
    """For each action: the journeys that reached it and those waiting there now."""
    found: dict[int, StepCounts] = {}
    reached = message_totals.reached(conn, action_ids)
    for action_id in action_ids:
        waiting = select(journeys.c.id).where(
            journeys.c.campaign_id == campaign_id,
            journeys.c.action_id == action_id,
            journeys.c.state == "active",
        )
        steps = browse.Bounded(reached.get(action_id, 0), False)
        found[action_id] = StepCounts(steps, _capped(conn, waiting, cap))
    return found


def listed(conn: Connection, workspace_id: int, kind: str) -> dict[str, Any]:
    """`campaigns`: the workspace's campaigns (or broadcasts) as `GET /v1/campaigns`
    lists them, and `counts`: their `list_counts`."""
    found = views.list_all(conn, workspace_id, kind)
    return {"campaigns": found, "counts": list_counts(conn, kind, [c["id"] for c in found])}


def list_counts(
    conn: Connection, kind: str, campaign_ids: list[int], cap: int = LIST_CAP
) -> dict[int, dict[str, browse.Bounded]]:
    """Per campaign (or broadcast): `journeys` in progress now and `sent` messages."""
    scope = "broadcast" if kind == "broadcast" else "campaign"
    found = {}
    for campaign_id in campaign_ids:
        active = select(journeys.c.id).where(
            journeys.c.campaign_id == campaign_id, journeys.c.state == "active"
        )
        sent = message_totals.of(conn, scope, [campaign_id]).get("sent", 0)
        found[campaign_id] = {
            "journeys": _capped(conn, active, cap),
            "sent": browse.Bounded(sent, False),
        }
    return found


def _capped(conn: Connection, query: Any, cap: int) -> browse.Bounded:
    """How many rows `query` gives, reading at most `cap + 1` of them."""
    held = query.limit(cap + 1).subquery()
    found = int(conn.execute(select(func.count()).select_from(held)).scalar_one())
    return browse.Bounded(min(found, cap), found > cap)


def message_action_ids(actions: list[dict[str, Any]]) -> list[int]:
    """The ids of the message steps among `GET /v1/campaigns/{id}`'s `actions`."""
    shown = {views.api_type(kind) for kind in MESSAGE_TYPES}
    return [action["id"] for action in actions if action["type"] in shown]


# --- a broadcast trigger's audience, before sending ---------------------------------------


@dataclass(frozen=True)
class Preview:
    """Who a trigger would reach: `count` people (a lower bound unless `complete`), the
    first of them (`first`: id, email, cio_id) and, for a list, who matches no one."""

    count: int
    complete: bool
    first: list[dict[str, Any]]
    missing: list[str]


def preview(
    conn: Connection,
    workspace_id: int,
    broadcast_id: int,
    audience: dict[str, Any],
    now: int,
    budget: float = browse.COUNT_BUDGET,
) -> Preview:
    """The people a trigger's audience (`broadcasts.TriggerRequest.audience`: the
    broadcast's own, `recipients` a condition, or `ids` / `emails`) would reach, the
    condition counted within `budget` seconds. A 422 as the trigger would answer when
    the broadcast has no audience of its own and none is given."""
    row = broadcasts.broadcast_row(conn, workspace_id, broadcast_id)
    if audience["form"] == "default":
        condition = store.definition_of(row).get("audience")
        if condition is None:
            raise broadcasts.invalid(
                "the broadcast has no audience of its own: choose a segment or list people"
            )
        audience = {**audience, "recipients": condition}
    if audience["form"] in ("ids", "emails"):
        named = audiences.named_entries(audience, 0, len(audience[audience["form"]]))
        found, missing = audiences.resolve(conn, workspace_id, named, {})
        pks = list(dict.fromkeys(pk for pk, _ in found))
        return Preview(len(pks), True, _people(conn, pks[:SHOWN]), missing[:SHOWN])
    condition = conditions.parse(audience["recipients"], "recipients")
    counted = browse.count_matching(conn, workspace_id, condition, now, budget)
    first = list(
        conn.execute(
            audiences.people_query(workspace_id, audience["recipients"], 0, now).limit(SHOWN)
        ).scalars()
    )
    return Preview(counted.count, counted.complete, _people(conn, first), [])


def _people(conn: Connection, pks: list[int]) -> list[dict[str, Any]]:
    if not pks:
        return []
    rows = conn.execute(
        select(people.c.id, people.c.customer_id, people.c.email, people.c.cio_id).where(
            people.c.id.in_(pks)
        )
    )
    by_pk = {row.id: row for row in rows}
    return [
        {"id": by_pk[pk].customer_id, "email": by_pk[pk].email, "cio_id": by_pk[pk].cio_id}
        for pk in pks
        if pk in by_pk
    ]


# --- a broadcast's triggers --------------------------------------------------------------

TRIGGERS_SHOWN = 20
ERRORS_SHOWN = 5


def triggers(
    conn: Connection, workspace_id: int, broadcast_id: int, limit: int = TRIGGERS_SHOWN
) -> list[dict[str, Any]]:
    """The broadcast's newest triggers (on the `(campaign_id, id)` index), newest first,
    with what `GET /v1/campaigns/{id}/triggers/{trigger_id}` tells of each (state,
    processed_at, recipients and errors counts, the error) and its first errors."""
    broadcasts.broadcast_row(conn, workspace_id, broadcast_id)
    t = broadcast_triggers.c
    rows = conn.execute(
        select(
            t.id,
            t.state,
            t.created_at,
            t.processed_at,
            t.recipients_count,
            t.errors_count,
            t.error,
        )
        .where(t.campaign_id == broadcast_id)
        .order_by(t.id.desc())
        .limit(limit)
    ).all()
    first = paging.PageRequest(ERRORS_SHOWN)
    return [
        {
            **row._asdict(),
            "errors": trigger_reports.errors(conn, workspace_id, broadcast_id, row.id, first)[
                "errors"
            ]
            if row.errors_count
            else [],
        }
        for row in rows
    ]
