"""Who can have changed membership because the clock moved.

A relative window ("within the last 30 days") slides with the clock, so a
person can leave or enter a segment with no write at all. Rather than
re-evaluating the whole workspace every time the clock moves, look only at
the rows whose timestamp crossed an edge of a window since the last check:

- between `since` and `now`, a window of length D loses the rows stamped in
  `[since - D, now - D)` and gains the rows stamped in `(since, now]`
  (future-dated rows coming due);
- a condition's answer for a person can only change if one of their rows
  that a windowed leaf looks at crossed an edge, so those people (a superset
  is fine) are all that need re-evaluating.

Windowed leaves are event conditions with `within_last` (rows: the person's
events of that type and name, by `timestamp`) and attribute tests
`within_last` (rows: the attribute, by its numeric value). A `within_last`
on an event's data key is not covered (the rows would be every event of that
name, read through their JSON): `crossed` answers None and the segment is
built again in full, a chunk of people per transaction
(`membership.refresh_time_windows`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, and_, cast, or_, select

from tidings.db.schema import attributes, events
from tidings.segments.conditions import And, Attribute, Condition, Event, Not, Or


def crossed(
    conn: Connection, workspace_id: int, condition: Condition, since: int, now: int
) -> set[int] | None:
    """Person pks whose windowed rows crossed a window edge in `(since, now]`, or None
    when the condition has a window this cannot follow (build it again in full)."""
    people: set[int] = set()
    for leaf in _windowed_leaves(condition):
        if isinstance(leaf, Event) and leaf.within_last is None:
            return None  # a window on the event's data: not followed here
        if isinstance(leaf, Event):
            assert leaf.within_last is not None
            wanted = [
                events.c.workspace_id == workspace_id,
                events.c.type == leaf.type,
                events.c.person_id.is_not(None),
                _edges(events.c.timestamp, leaf.within_last, since, now),
            ]
            if leaf.name is not None:
                wanted.append(events.c.name == leaf.name)
            query = select(events.c.person_id).where(*wanted).distinct()
        else:
            number = cast(attributes.c.value, Float)
            query = select(attributes.c.person_id).where(
                attributes.c.workspace_id == workspace_id,
                attributes.c.name == leaf.field,
                attributes.c.kind == "n",
                _edges(number, leaf.test.bound, since, now),
            )
        people.update(conn.execute(query).scalars())
    return people


def _edges(stamp: Any, length: float, since: int, now: int) -> ColumnElement[bool]:
    left = and_(stamp >= since - length, stamp < now - length)
    came_due = and_(stamp > since, stamp <= now)
    return or_(left, came_due)


def _windowed_leaves(condition: Condition) -> list[Attribute | Event]:
    """The leaves whose answer moves with the clock. An event with a window only on a
    data key is returned with `within_last` None, so `crossed` can refuse it."""
    if isinstance(condition, And | Or):
        return [leaf for item in condition.items for leaf in _windowed_leaves(item)]
    if isinstance(condition, Not):
        return _windowed_leaves(condition.item)
    if isinstance(condition, Attribute):
        return [condition] if condition.test.operator == "within_last" else []
    if isinstance(condition, Event):
        if any(test.test.operator == "within_last" for test in condition.where):
            return [Event(condition.type, condition.name, ())]  # within_last None: refuse
        return [condition] if condition.within_last is not None else []
    return []
