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
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from tidings.activity.log import insert_rows
from tidings.events.dedup import Claim, event_key, first_sightings
from tidings.people import bulk as bulk_people
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
