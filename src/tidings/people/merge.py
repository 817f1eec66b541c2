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

The secondary's `anonymous_id` goes with it: to the primary, when the
primary has none (which adopts the id's anonymous events and pending traits,
as an identify claiming it does), else it is dropped with the secondary. An
anonymous event of that id applied at once would find the secondary as its
holder and be deleted with it (or fail its foreign key), so on PostgreSQL
the merge first takes the id's advisory lock (`people.anonymous_locks`):
the id is known only from the secondary's attributes, so they are read,
the id locked, and read again until what was read is locked (plain reads
take no row lock, so nothing is held out of order). In a transaction that
has already written rows (a merge applied in a writer's or a partition's
batch, a Pipelines alias), this lock comes after them and two such
transactions may deadlock; PostgreSQL then aborts one and its batch is
applied again.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from tidings.activity import log as activity_log
from tidings.activity import stream
from tidings.db.schema import deliveries, segment_members, segments
from tidings.objects import relationships
from tidings.people import anonymous_locks, devices, store
from tidings.people.anonymous_locks import AnonymousId
from tidings.people.identifiers import Identifier
from tidings.people.service import apply_attributes
from tidings.people.store import Person, Stored

EVENT_WINDOW = 30 * 24 * 3600


def merge_people(
    conn: Connection, workspace_id: int, primary: Identifier, secondary: Identifier, now: int
) -> None:
    found = _read_locked(conn, workspace_id, primary, secondary)
    if found is None:
        return
    keep, gone, gone_attrs = found
    kept_attrs = store.load_attributes(conn, keep.pk)
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


def _read_locked(
    conn: Connection, workspace_id: int, primary: Identifier, secondary: Identifier
) -> tuple[Person, Person, dict[str, Stored]] | None:
    """The primary, the secondary and its attributes, read after the secondary's
    `anonymous_id` is locked; None when there is nothing to merge."""
    locked: set[AnonymousId] = set()
    while True:
        keep = store.find(conn, workspace_id, primary)
        gone = store.find(conn, workspace_id, secondary)
        if keep is None or gone is None or keep.pk == gone.pk:
            return None
        gone_attrs = store.load_attributes(conn, gone.pk)
        carried = gone_attrs.get("anonymous_id")
        wanted = {(workspace_id, carried.value)} if carried and carried.value else set()
        if wanted <= locked or not anonymous_locks.lock(conn, wanted):
            return keep, gone, gone_attrs  # read while the id was locked
        locked |= wanted


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
