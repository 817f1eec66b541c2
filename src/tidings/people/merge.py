"""Merging two people into one, as Track's `merge_customers` does (BEHAVIOUR.md 3.7).

The primary keeps everything it has; attributes it lacks are filled from the
secondary; the secondary's last 30 days of events, its devices, manual segment
memberships, relationships and deliveries move over; then the secondary is
deleted. Not reversible. A missing primary or secondary makes it a no-op.

The merge is published on the activity stream (`merged_from`, the
secondary) once the events have moved and while the secondary still exists,
without rows, so the events merged in never trigger a campaign. The layers
above react in this transaction: segment marks for the primary, and the
campaigns hand the secondary's journeys over (`campaigns.merging`: those of
campaigns the primary never entered move to it, with their position,
timers, steps and deliveries; the others end, `exit_reason` "merged").
They are handed over before the deliveries move, so that on PostgreSQL a
journey worker stepping one of them finishes (its row lock) before the
deliveries it queued are moved here.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from tidings.activity import log as activity_log
from tidings.activity import stream
from tidings.db.schema import deliveries, segment_members, segments
from tidings.objects import relationships
from tidings.people import devices, store
from tidings.people.identifiers import Identifier
from tidings.people.service import apply_attributes

EVENT_WINDOW = 30 * 24 * 3600


def merge_people(
    conn: Connection, workspace_id: int, primary: Identifier, secondary: Identifier, now: int
) -> None:
    keep = store.find(conn, workspace_id, primary)
    gone = store.find(conn, workspace_id, secondary)
    if keep is None or gone is None or keep.pk == gone.pk:
        return
    kept_attrs = store.load_attributes(conn, keep.pk)
    gone_attrs = store.load_attributes(conn, gone.pk)
    fill = {
        name: store.restore_value(stored)
        for name, stored in gone_attrs.items()
        if name not in kept_attrs and name not in ("id", "email")
    }
    activity_log.move(conn, workspace_id, gone.pk, keep.pk, since=now - EVENT_WINDOW)
    stream.publish(conn, workspace_id, [keep.pk], now, merged_from=gone.pk)
    devices.move(conn, gone.pk, keep.pk)
    relationships.move(conn, gone.pk, keep.pk)
    _move_memberships(conn, gone.pk, keep.pk)
    conn.execute(
        update(deliveries).where(deliveries.c.person_id == gone.pk).values(person_id=keep.pk)
    )
    store.remove(conn, gone)
    for kind, value in (("id", gone.customer_id), ("email", gone.email)):
        held = keep.customer_id if kind == "id" else keep.email
        if held is None and value is not None:
            keep = store.set_identifier(conn, keep, kind, value)
            original = gone_attrs.get(kind)
            fill[kind] = original.value if original is not None else value
    apply_attributes(conn, keep, fill, now, now)


def _move_memberships(conn: Connection, from_pk: int, to_pk: int) -> None:
    """Manual segment memberships pass to the survivor (dynamic ones are recomputed)."""
    manual = select(segments.c.id).where(segments.c.type == "manual")
    held = select(segment_members.c.segment_id).where(segment_members.c.person_id == to_pk)
    conn.execute(
        update(segment_members)
        .where(
            segment_members.c.person_id == from_pk,
            segment_members.c.segment_id.in_(manual),
            segment_members.c.segment_id.not_in(held),
        )
        .values(person_id=to_pk)
    )
