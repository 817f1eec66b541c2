"""Pending traits: the traits of an anonymous profile's identifies, waiting in the log.

A Pipelines identify with only an `anonymousId` is logged as an `identify`
activity with `person_id` NULL and `anonymous_id` set, its data holding the
traits. Whoever takes that anonymous id takes these rows (`take`), and
`people.service.adopt_anonymous` applies the traits. Taking marks the rows as
the person's, so a second adoption finds nothing left to apply.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, and_, select, update

from tidings.activity import stream
from tidings.db.schema import events

Traits = list[tuple[int, dict[str, Any]]]  # (timestamp, traits), oldest first


def take(
    conn: Connection, workspace_id: int, anonymous_id: str, person_pk: int, now: int
) -> Traits:
    """Give every pending identify of `anonymous_id` to the person; their non-empty traits.

    All pending identifies are taken, whatever their age (unlike events, which
    are adopted over the last 30 days only): traits are the profile's state.
    """
    pending = _pending(workspace_id, anonymous_id)
    rows = conn.execute(
        select(events.c.timestamp, events.c.data)
        .where(pending)
        .order_by(events.c.timestamp, events.c.id)
    ).all()
    if not rows:
        return []
    conn.execute(update(events).where(pending).values(person_id=person_pk))
    stream.publish(conn, workspace_id, [person_pk], now)
    found = [(when, msgspec.json.decode(data).get("traits") or {}) for when, data in rows]
    return [(when, traits) for when, traits in found if traits]


def _pending(workspace_id: int, anonymous_id: str) -> Any:
    return and_(
        events.c.workspace_id == workspace_id,
        events.c.anonymous_id == anonymous_id,
        events.c.person_id.is_(None),
        events.c.type == "identify",
    )
