"""Many person events at once, with the results of `events.service.track` one by one.

For each event: a repeated dedup `id` drops it (also within the run); a
suppressed identifier or an unknown `cio_id` drops it; a person first named
here is created. Instead of ~5 statements per event this takes one lookup
per identifier kind, one for suppressions, one insert of dedup keys that
also says which were new, one multi-row insert, and three multi-row inserts
for people not seen before.

A dedup key recorded meanwhile by another process drops the event, as any
repeat does. A person inserted meanwhile surfaces as an integrity error;
the writer then retries the whole request on its own, when these lookups
see the other process's rows.
"""

from __future__ import annotations

import itertools

from sqlalchemy import Connection

from tidings.activity.log import insert_rows
from tidings.events.dedup import first_sightings
from tidings.events.service import Event
from tidings.people import bulk as bulk_people
from tidings.people.bulk import Key
from tidings.people.identifiers import Identifier, stored_key

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
    client gave none). Consecutive items of one workspace share one
    `track_many` call.
    """
    for workspace_id, group in itertools.groupby(items, key=lambda item: item[0]):
        run = list(group)
        now = max(item[2] for item in run)
        track_many(conn, workspace_id, [item[1] for item in run], now)


def track_many(conn: Connection, workspace_id: int, items: list[Plain], now: int) -> None:
    """Record events in order, for the people named (see the module doc)."""
    fresh = first_sightings(conn, workspace_id, items, _dedup_key, now)
    if not fresh:
        return
    keys = [(item[0], stored_key(item[0], item[1])) for item in fresh]
    owners = _people(
        conn, workspace_id, {key: item[1] for key, item in zip(keys, fresh, strict=True)}, now
    )
    rows = []
    for key, (_, _, name, type_, data_json, timestamp, _) in zip(keys, fresh, strict=True):
        person_pk = owners.get(key)
        if person_pk is not None:
            ts = timestamp if timestamp is not None else now
            rows.append((workspace_id, person_pk, None, type_, name, ts, now, data_json))
    insert_rows(conn, rows, now)


def _dedup_key(item: Plain) -> str | None:
    return f"event:{item[6]}" if item[6] else None


def _people(conn: Connection, workspace_id: int, named: dict[Key, str], now: int) -> dict[Key, int]:
    """Person pk for every (kind, key) named that is not suppressed, creating new people.

    `named` maps each to its value as given (an email's case is kept when created).
    """
    blocked = bulk_people.suppressed(conn, workspace_id, named)
    wanted = [pair for pair in named if pair not in blocked]
    found = bulk_people.find_many(conn, workspace_id, wanted)
    new = [
        Identifier(kind, named[(kind, key)])  # type: ignore[arg-type]
        for kind, key in wanted
        if (kind, key) not in found and kind != "cio_id"
    ]
    found.update(bulk_people.create_many(conn, workspace_id, new, now))
    return found
