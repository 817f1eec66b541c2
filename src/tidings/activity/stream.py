"""The activity stream: what follows, in the same transaction, from a person's activity.

Whatever changes what a person did or is (an event appended to the log, an
attribute change, a device, a relationship, a merge) is published here with
`publish(conn, workspace_id, person_pks, now)` by the low layer that wrote
it. A merge is published with `merged_from`, the person merged in, while
that person still exists: a subscriber hands over what it keeps of them
(campaigns: their journeys) before `people.merge` deletes them.
Subscribers run at once, on the same connection and so in the same
transaction: a segment mark or a campaign's journey exists exactly when
the change does, and a rolled-back change leaves none.

The publishers (`people`, `events`, `objects`, the activity log) know nothing
of their subscribers; the composition root subscribes them once per process
(`tidings.runtime.wiring.wire`), before any use case runs. Publishing in a
process that was never wired is a programming error and raises, so a missing
`wire()` cannot silently stop segments from updating.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection


@dataclass(frozen=True, slots=True)
class Activity:
    """People of one workspace whose activity changed in this transaction.

    `now` is when it happened, or None for "the transaction's time" (the
    subscriber reads its own clock). `rows` are the activity rows appended,
    when the publisher appended some (`activity.log.EVENT_COLUMNS` order:
    workspace, person, anonymous id, type, name, timestamp, received at,
    data as JSON text); empty for changes that are not in the log (a
    device, a relationship, a merge) and for events merged in from another
    profile, which must never trigger a campaign.

    `merged_from`, on a merge's publication only: the secondary being merged
    into the primary, `person_pks[0]`. Its own rows are still there (it is
    deleted after the subscribers ran, with whatever still names it).
    """

    workspace_id: int
    person_pks: Sequence[int]
    now: int | None
    rows: Sequence[tuple[Any, ...]] = ()
    merged_from: int | None = None


class Subscriber(Protocol):
    def __call__(self, conn: Connection, activity: Activity) -> None: ...


_subscribers: tuple[Subscriber, ...] | None = None


def subscribe(*subscribers: Subscriber) -> None:
    """Set this process's subscribers, in the order they run (replacing any before)."""
    global _subscribers
    _subscribers = subscribers


def publish(
    conn: Connection,
    workspace_id: int,
    person_pks: Iterable[int | None],
    now: int | None = None,
    rows: Sequence[tuple[Any, ...]] = (),
    merged_from: int | None = None,
) -> None:
    """Tell every subscriber that these people's activity changed; None entries are skipped.
    `merged_from`: the person being merged into the one person published (`Activity`)."""
    if _subscribers is None:
        raise RuntimeError("the activity stream has no subscribers: call runtime.wiring.wire()")
    pks = [pk for pk in dict.fromkeys(person_pks) if pk is not None]
    if not pks:
        return
    activity = Activity(workspace_id, pks, now, rows, merged_from)
    for subscriber in _subscribers:
        subscriber(conn, activity)
