"""Entry into campaigns, and waking the journeys that listen, from the activity stream.

`on_activity` runs in the transaction that appended the activity, so a
journey exists exactly when the activity that started it does. It never
sends or evaluates a person's history: it inserts the journey, due now, and
the runner (`journeys.py`) checks the filters and takes the first steps
after the commit. What it does with each appended row:

- an `event` starts the running campaigns triggered by that event name
  whose `where` tests its data pass, if the event happened within the last
  72 hours (events merged in from another profile are never published with
  rows, so they never trigger, BEHAVIOUR.md 3.4 and 3.7; a test in
  `tests/integration/test_track_v1_merge.py` holds it);
- an `attribute_change` starts the campaigns triggered by a change of that
  attribute (to the value named, if one is), and re-schedules date-triggered
  entries when their attribute changed;
- a `segment_enter` or `segment_exit` starts the campaigns triggered by
  entering or leaving that segment;
- any row wakes the person's journeys that listen (a wait-until, an exit
  condition, a goal): those waiting for this event are released, the
  others are due now so the runner checks their conditions.

Frequency: `once` keys the journey "0" (a second entry is the same row and
inserts nothing); `every_time` keys it by the activity row's id, so each
qualifying activity starts one journey, at most one even when a client
retries; `{"every": gap}` also skips a person whose last entry is newer
than the gap.

A workspace without campaigns costs one indexed read per publication.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, func, select

from tidings import clock
from tidings.activity.stream import Activity
from tidings.campaigns import journeys
from tidings.db import raw
from tidings.db.schema import campaigns, events
from tidings.segments import conditions, evaluate

TRIGGER_WINDOW = 72 * 3600  # only events this recent start a journey (BEHAVIOUR.md 3.4)
_decode = msgspec.json.decode

_HAS_CAMPAIGNS = "SELECT 1 FROM campaigns WHERE workspace_id = {} AND kind = 'campaign' LIMIT 1"


@dataclass(frozen=True)
class _Running:
    id: int
    trigger_kind: str
    event_name: str | None
    trigger: dict[str, Any]
    frequency: dict[str, Any]


def on_activity(conn: Connection, activity: Activity) -> None:
    """The activity stream's subscriber (`runtime.wiring`)."""
    rows = [row for row in activity.rows if row[1] is not None]
    if not rows or not _has_campaigns(conn, activity.workspace_id):
        return
    now = int(activity.now if activity.now is not None else clock.current().now())
    running = _running(conn, activity.workspace_id)
    for row in rows:
        for campaign in running:
            if _starts(campaign, row, now):
                _enter(conn, campaign, row, now)
            elif campaign.trigger_kind == "date" and _moves_date(campaign.trigger, row):
                journeys.reschedule_date(
                    conn, activity.workspace_id, campaign.id, row[1], campaign.trigger, now
                )
    journeys.wake(conn, activity.workspace_id, [pk for pk in activity.person_pks], rows, now)


def _has_campaigns(conn: Connection, workspace_id: int) -> bool:
    return bool(raw.execute(conn, _HAS_CAMPAIGNS.format(raw.mark(conn)), (workspace_id,)))


def _running(conn: Connection, workspace_id: int) -> list[_Running]:
    c = campaigns.c
    found = []
    for row in conn.execute(
        select(c.id, c.trigger_kind, c.event_name, c.definition).where(
            c.workspace_id == workspace_id, c.state == "running", c.kind == "campaign"
        )
    ):
        definition = _decode(row.definition)
        found.append(
            _Running(
                row.id,
                row.trigger_kind,
                row.event_name,
                definition["trigger"],
                definition.get("frequency", {"mode": "once"}),
            )
        )
    return found


def _starts(campaign: _Running, row: Sequence[Any], now: int) -> bool:
    """Whether appended activity `row` starts a journey of `campaign`."""
    kind, name = row[3], row[4]
    if campaign.trigger_kind == "event":
        return journeys.event_in(campaign.trigger["event"], row, now - TRIGGER_WINDOW, now)
    if campaign.trigger_kind == "segment":
        spec = campaign.trigger["segment"]
        return bool(kind == f"segment_{spec['on']}" and name == str(spec["id"]))
    if campaign.trigger_kind == "attribute":
        return _attribute_changed(campaign.trigger["attribute"], row)
    return False


def _changes(row: Sequence[Any]) -> dict[str, Any]:
    """An `attribute_change` row's changes, `{name: {from, to}}` (none for other rows)."""
    if row[3] != "attribute_change":
        return {}
    data = _decode(row[7]) if isinstance(row[7], str | bytes) else row[7]
    changes = data.get("attributes") if isinstance(data, dict) else None
    return changes if isinstance(changes, dict) else {}


def _attribute_changed(spec: dict[str, Any], row: Sequence[Any]) -> bool:
    changes = _changes(row)
    if spec["field"] not in changes:
        return False
    if "to" not in spec:
        return True
    change = changes[spec["field"]]
    new = change.get("to") if isinstance(change, dict) else None
    if new is None:
        return False
    test = conditions.parse({"attribute": {"field": "v", "operator": "eq", "value": spec["to"]}})
    assert isinstance(test, conditions.Attribute)
    return bool(evaluate.check(test.test, (str(new), "s"), 0))


def _moves_date(trigger: dict[str, Any], row: Sequence[Any]) -> bool:
    """Whether an activity row changed what a date trigger's entry depends on: the
    date attribute, or the person's `timezone` when the trigger follows it."""
    changes = _changes(row)
    spec = trigger["date"]
    return spec["attribute"] in changes or (
        spec["timezone"] == "customer" and "timezone" in changes
    )


def _enter(conn: Connection, campaign: _Running, row: Sequence[Any], now: int) -> None:
    person_pk = row[1]
    frequency = campaign.frequency
    row_id = _row_id(conn, row)
    if frequency["mode"] == "once":
        key = "0"
    else:
        if frequency.get("gap") and _entered_since(
            conn, campaign.id, person_pk, now - frequency["gap"]
        ):
            return
        if row_id is None:
            return
        key = f"a{row_id}"
    context: dict[str, Any] = {}
    if row[3] == "event":
        data = _decode(row[7]) if isinstance(row[7], str | bytes) else row[7]
        context["event"] = {"name": row[4], "timestamp": row[5], "data": data, "id": row_id}
    journeys.start(
        conn,
        row[0],
        campaign.id,
        person_pk,
        key,
        now,
        context=context,
        trigger_event_id=row_id if row[3] == "event" else None,
    )


def _row_id(conn: Connection, row: Sequence[Any]) -> int | None:
    """The id of an appended activity row: the newest of that person's rows alike."""
    c = events.c
    found = conn.execute(
        select(func.max(c.id)).where(
            c.person_id == row[1], c.name == row[4], c.timestamp == row[5], c.type == row[3]
        )
    ).scalar()
    return None if found is None else int(found)


def _entered_since(conn: Connection, campaign_id: int, person_pk: int, since: int) -> bool:
    return (journeys.last_start(conn, campaign_id, person_pk) or 0) >= since
