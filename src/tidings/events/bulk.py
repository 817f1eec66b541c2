"""Recording person events: the one implementation, for a run or (`events.service.track`) one.

For each event: a repeated dedup `id` drops it (also within the run); a
suppressed identifier or an unknown `cio_id` drops it; a person first named
here is created (`people.bulk.find_or_create_many`); an event without a
timestamp happened when it was received. Instead of ~5 statements per event
this takes one lookup per identifier kind, one for suppressions, one insert
of dedup keys that also says which were new, one multi-row insert, and three
multi-row inserts for people not seen before.

A dedup key recorded meanwhile by another process drops the event, as any
repeat does. A person inserted meanwhile surfaces as an integrity error;
the writer then retries the whole request on its own, when these lookups
see the other process's rows.

Lock order. On PostgreSQL inserting a person waits for another
transaction's uncommitted person with the same id or email. `create_many`
sorts one call's people, but a writer batch creates people in many calls
(each run of bulk items, each workspace within it), so two batches naming
the same new people in opposite runs could each wait for the other. So the
writer's optimistic pass first finds or creates every person its queued
events will be recorded on, in one order (`preclaim_people`, after the
dedup keys are claimed, wired by `runtime.wiring.batch_scope`); the runs
then find them.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from tidings.activity.log import insert_rows
from tidings.db.writer import BatchScope, Job
from tidings.events.dedup import Claim, event_key, first_asks, first_sightings
from tidings.people import bulk as bulk_people
from tidings.people.bulk import Named
from tidings.people.identifiers import Identifier, stored_key

if TYPE_CHECKING:
    from tidings.events.service import Event

# A person event as plain values, the form `track_many` takes and requests
# queue for the writer: identifier kind and value, event name, type, data
# JSON, timestamp, dedup id. The writer may be another process, and a tuple of
# strings and ints pickles about ten times faster than the msgspec Structs it
# is made from (and is cheaper to take apart than to rebuild them).
Plain = tuple[str, str, str, str, str, int | None, str | None]

Queued = tuple[int, Plain, int]  # workspace, the event, receipt time


def plain(ident: Identifier, event: Event) -> Plain:
    return (
        ident.kind,
        ident.value,
        event.name,
        event.type,
        event.data_json,
        event.timestamp,
        event.dedup_id,
    )


def track_queued(conn: Connection, items: list[Queued]) -> None:
    """The writer's bulk function for v1 events queued by concurrent requests.

    Each item's event must carry its timestamp already (receipt time when the
    client gave none). The items of one workspace share one `track_many` call.
    """
    # By workspace (stable: each keeps its order), so that a transaction records the
    # dedup keys and people of its workspaces in one order (see `events.dedup`).
    ordered = sorted(items, key=lambda item: item[0])
    for workspace_id, group in itertools.groupby(ordered, key=lambda item: item[0]):
        run = list(group)
        now = max(item[2] for item in run)
        track_many(conn, workspace_id, [item[1] for item in run], now)


def queued_claims(item: Queued) -> list[Claim]:
    """The dedup key `track_queued` will ask for on an item's behalf (`dedup.preclaim`)."""
    workspace_id, event, now = item
    key = _dedup_key(event)
    return [(workspace_id, key, now)] if key else []


# Whether an event's dedup key will be new when its run asks (`dedup.first_asks`).
IsNew = Callable[[int, str | None], bool]
# The people one queued item of a bulk function will be recorded on, asked in batch order.
PeopleOf = Callable[[Any, IsNew], Iterable[Named]]


def queued_people(item: Queued, is_new: IsNew) -> list[Named]:
    """The person `track_queued` will record an item's event on (`preclaim_people`)."""
    workspace_id, event, now = item
    return named_by(workspace_id, [event], now, is_new)


def named_by(workspace_id: int, events: list[Plain], now: int, is_new: IsNew) -> list[Named]:
    """The people named by the events that dedup will let through, in order."""
    return [
        (workspace_id, (event[0], stored_key(event[0], event[1])), event[1], now)
        for event in events
        if is_new(workspace_id, _dedup_key(event))
    ]


def preclaim_people(people_of: Mapping[Callable[..., Any], PeopleOf]) -> BatchScope:
    """A writer batch scope: every person the batch's bulk items name, each read by the
    `people_of` of its bulk function, found or created first in one order
    (`people.bulk.preclaim`). Open it inside `dedup.preclaim`'s scope: the events
    dedup will drop name nobody here, as in their runs."""

    @contextlib.contextmanager
    def scope(conn: Connection, batch: list[Job]) -> Iterator[None]:
        is_new = first_asks(conn)
        named: list[Named] = []
        for job in batch:
            of = people_of.get(job.fn) if job.bulk else None
            if of is not None:
                named.extend(of(job.args[0], is_new))
        bulk_people.preclaim(conn, named)
        yield

    return scope


def track_many(conn: Connection, workspace_id: int, items: list[Plain], now: int) -> None:
    """Record events in order, for the people named (see the module doc)."""
    fresh = first_sightings(conn, workspace_id, items, _dedup_key, now)
    if not fresh:
        return
    keys = [(item[0], stored_key(item[0], item[1])) for item in fresh]
    named = {key: item[1] for key, item in zip(keys, fresh, strict=True)}
    owners = bulk_people.find_or_create_many(conn, workspace_id, named, now)
    rows = []
    for key, (_, _, name, type_, data_json, timestamp, _) in zip(keys, fresh, strict=True):
        person_pk = owners.get(key)
        if person_pk is not None:
            ts = occurred(timestamp, now)
            rows.append((workspace_id, person_pk, None, type_, name, ts, now, data_json))
    insert_rows(conn, rows, now)


def _dedup_key(item: Plain) -> str | None:
    return event_key(item[6])


def occurred(timestamp: int | None, now: int) -> int:
    """When an event happened: its timestamp, or (none given) when it was received."""
    return now if timestamp is None else timestamp
