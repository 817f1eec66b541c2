"""A merged person's journeys, handed to the person they were merged into.

Track's `merge_customers` (BEHAVIOUR.md 3.7) gives the primary the
secondary's "campaign journeys the primary hasn't entered". `people.merge`
publishes the merge on the activity stream (`Activity.merged_from`) while
the secondary still exists; `on_activity`, subscribed by `runtime.wiring`,
hands its journeys over in that transaction, before the secondary is
deleted (which would delete the journeys still naming it). For each
campaign, broadcast or newsletter the secondary has journeys of:

- the primary never entered it (no journey of the primary that started):
  the secondary's journeys become the primary's, untouched otherwise. A
  journey keeps its id, position, wait and `due_at`, its steps
  (`journey_steps`) and the deliveries keyed to it (which the merge gives
  the primary too), so a journey waiting in a delay takes its next step for
  the primary when it is due, once: it is the same row;
- the primary entered it: the primary's journeys stay and the secondary's
  are detached from the person (`person_id` NULL) rather than deleted with
  it, so the campaign's journey metrics still count them. An active one
  ends first, `state` "exited" and `exit_reason` "merged", so it never
  takes another step (journey metrics count it as exited early once it
  had been activated).

Entries a date trigger scheduled for the secondary that have not started
(`started_at` NULL) are dropped: they came from the secondary's date
attribute, and the primary's own attributes (filled from the secondary's
by the merge, which publishes the change) schedule the primary's. A
scheduled entry of the primary with the key of a journey that moves to it
is dropped too, as that occurrence has started already.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from tidings import clock
from tidings.activity.stream import Activity
from tidings.db.schema import journeys

EXIT_REASON = "merged"  # an active journey of the secondary in a campaign the primary entered

_J = journeys.c


def on_activity(conn: Connection, activity: Activity) -> None:
    """The activity stream's subscriber (`runtime.wiring`): only merges concern it."""
    if activity.merged_from is None or not activity.person_pks:
        return
    now = int(activity.now if activity.now is not None else clock.current().now())
    hand_over(conn, activity.workspace_id, activity.merged_from, activity.person_pks[0], now)


def hand_over(conn: Connection, workspace_id: int, from_pk: int, to_pk: int, now: int) -> None:
    """Give person `to_pk` the journeys of `from_pk` as the module says, in the caller's
    transaction. Set-based, by campaign: an `every_time` campaign may have given the
    secondary many journeys."""
    theirs = (_J.workspace_id == workspace_id, _J.person_id == from_pk)
    conn.execute(delete(journeys).where(*theirs, _J.started_at.is_(None)))
    if conn.execute(select(_J.id).where(*theirs).limit(1)).first() is None:
        return
    entered = _entered(conn, workspace_id, to_pk)
    _drop_scheduled(conn, workspace_id, to_pk, from_pk, entered)
    if entered:
        staying = _J.campaign_id.in_(sorted(entered))
        conn.execute(
            update(journeys)
            .where(*theirs, staying, _J.state == "active")
            .values(
                state="exited",
                exit_reason=EXIT_REASON,
                ended_at=now,
                due_at=None,
                waiting=None,
                updated_at=now,
            )
        )
        conn.execute(
            update(journeys).where(*theirs, staying).values(person_id=None, updated_at=now)
        )
    conn.execute(update(journeys).where(*theirs).values(person_id=to_pk, updated_at=now))


def _entered(conn: Connection, workspace_id: int, person_pk: int) -> set[int]:
    """The campaigns (of any kind) the person has a started journey of."""
    query = select(_J.campaign_id).where(
        _J.workspace_id == workspace_id, _J.person_id == person_pk, _J.started_at.is_not(None)
    )
    return set(conn.execute(query).scalars())


def _drop_scheduled(
    conn: Connection, workspace_id: int, to_pk: int, from_pk: int, entered: set[int]
) -> None:
    """Drop `to_pk`'s entries not yet started (only date triggers schedule them, so
    there are few) whose campaign and key a started journey of `from_pk` that moves
    to it has: that occurrence has begun."""
    scheduled = conn.execute(
        select(_J.id, _J.campaign_id, _J.entry_key).where(
            _J.workspace_id == workspace_id, _J.person_id == to_pk, _J.started_at.is_(None)
        )
    ).all()
    campaign_ids = sorted({row.campaign_id for row in scheduled} - entered)
    if not campaign_ids:
        return
    moving = conn.execute(
        select(_J.campaign_id, _J.entry_key).where(
            _J.workspace_id == workspace_id,
            _J.person_id == from_pk,
            _J.campaign_id.in_(campaign_ids),
        )
    ).all()
    keys = {(row.campaign_id, row.entry_key) for row in moving}
    ids = [row.id for row in scheduled if (row.campaign_id, row.entry_key) in keys]
    if ids:
        conn.execute(delete(journeys).where(_J.id.in_(ids)))
