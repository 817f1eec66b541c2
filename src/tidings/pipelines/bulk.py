"""A run of plain Pipelines events (track, page, screen) in a few statements.

The effect is `pipelines.service.apply` one message after another: a
messageId seen before (in the workspace or earlier in the run) drops the
message; a userId names a person, created on first mention unless the id is
suppressed (then the event is dropped); an anonymousId alone goes to the
person carrying that `anonymous_id` attribute, else to the anonymous profile
(`person_id` NULL). Instead of several statements per event this takes one
insert of dedup keys that also says which were new, the `people.bulk`
lookups and inserts for the people named, one lookup of anonymous owners,
and one multi-row INSERT per 200 events.

A messageId recorded meanwhile by another process drops the message, as
any repeat does; a person inserted meanwhile surfaces as an integrity
error, and the writer then retries the request alone.
"""

from __future__ import annotations

from sqlalchemy import Connection

from tidings.activity.log import insert_rows
from tidings.db import raw
from tidings.db.schema import attributes
from tidings.events.dedup import first_sightings
from tidings.people import bulk as bulk_people
from tidings.people.bulk import Key
from tidings.people.identifiers import Identifier
from tidings.pipelines.parse import EVENT_TYPES, dedup_key

# A plain event message (track, page or screen; no semantic event) as plain
# values, the form queued for the writer: type, userId, anonymousId, messageId,
# timestamp, event name, data JSON. Its properties are in the data JSON already.
Plain = tuple[str, str | None, str | None, str | None, int, str, str]

_OWNERS = (
    f"SELECT value, person_id FROM {attributes.name} WHERE workspace_id = {{0}}"
    " AND name = 'anonymous_id' AND value IN ({1})"
)


def track_run(conn: Connection, workspace_id: int, run: list[Plain], now: int) -> None:
    """Log a run of plain events in order (see the module doc)."""
    fresh = first_sightings(conn, workspace_id, run, _dedup_key, now)
    if not fresh:
        return
    users = _users(conn, workspace_id, {m[1] for m in fresh if m[1] is not None}, now)
    anonymous = {m[2] for m in fresh if m[1] is None and m[2]}
    owners = _anonymous_owners(conn, workspace_id, anonymous)
    rows: list[tuple[object, ...]] = []
    for type_, user_id, anonymous_id, _, timestamp, name, data_json in fresh:
        if user_id is not None:
            person_pk, anonymous_id = users.get(user_id), None
            if person_pk is None:
                continue  # suppressed
        else:
            person_pk = owners.get(anonymous_id) if anonymous_id else None
        kind = EVENT_TYPES[type_]
        rows.append((workspace_id, person_pk, anonymous_id, kind, name, timestamp, now, data_json))
    insert_rows(conn, rows, now)


def _dedup_key(msg: Plain) -> str | None:
    return dedup_key(msg[3]) if msg[3] else None


def _users(conn: Connection, workspace_id: int, user_ids: set[str], now: int) -> dict[str, int]:
    """Person pk per userId named, creating people first named here; suppressed ids left out."""
    named: dict[Key, Identifier] = {("id", uid): Identifier("id", uid) for uid in user_ids}
    blocked = bulk_people.suppressed(conn, workspace_id, named)
    wanted = [key for key in named if key not in blocked]
    found = bulk_people.find_many(conn, workspace_id, wanted)
    new = [named[key] for key in wanted if key not in found]
    found.update(bulk_people.create_many(conn, workspace_id, new, now))
    return {key: pk for (_, key), pk in found.items()}


def _anonymous_owners(conn: Connection, workspace_id: int, ids: set[str]) -> dict[str, int]:
    """Person pk per anonymous id that a person carries as `anonymous_id`."""
    owners: dict[str, int] = {}
    for chunk in bulk_people.chunks(sorted(ids)):
        for value, person_pk in raw.select_in(conn, _OWNERS, [workspace_id], chunk):
            owners.setdefault(value, person_pk)
    return owners
