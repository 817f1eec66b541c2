"""Logging Pipelines messages, a run at a time: the one implementation of who a
message is logged on, used for one message (a run of one) and for many.

A messageId seen before (in the workspace or earlier in the run) drops the
message (`fresh`). A userId names a person: created on first mention unless
the id is suppressed (then nothing is logged), or, for a message that acts
first (`log_run` without `create`: a semantic event, a group call), only
found. An anonymousId alone goes to the person carrying that `anonymous_id`
attribute, else to the anonymous profile (`person_id` NULL). A message
naming neither is not logged.

For a run of plain events (`track_run`) this takes one insert of dedup keys
that also says which were new, the `people.bulk` lookups and inserts for the
people named, one lookup of anonymous owners, and one multi-row INSERT per
200 events, rather than several statements per event.

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
from tidings.pipelines.rules import LOG_TYPES, Plain, dedup_key

# A message with the person pk, or the anonymous id, it is logged under.
Placed = tuple[Plain, int | None, str | None]

_OWNERS = (
    f"SELECT value, person_id FROM {attributes.name} WHERE workspace_id = {{0}}"
    " AND name = 'anonymous_id' AND value IN ({1})"
)


def track_run(conn: Connection, workspace_id: int, run: list[Plain], now: int) -> None:
    """Log a run of plain events in order, each person named created on first mention."""
    log_run(conn, workspace_id, fresh(conn, workspace_id, run, now), now, create=True)


def fresh(conn: Connection, workspace_id: int, run: list[Plain], now: int) -> list[Plain]:
    """The messages of `run` whose messageId is new to the workspace and to the run before
    them (recorded now, in the caller's transaction)."""
    return first_sightings(conn, workspace_id, run, _dedup_key, now)


def log_run(
    conn: Connection, workspace_id: int, run: list[Plain], now: int, *, create: bool
) -> None:
    """Log each message on the person or anonymous profile it names (see the module doc)."""
    if not run:
        return
    users = _users(conn, workspace_id, {m[1] for m in run if m[1] is not None}, now, create)
    anonymous = {m[2] for m in run if m[1] is None and m[2] is not None}
    owners = _anonymous_owners(conn, workspace_id, anonymous)
    placed: list[Placed] = []
    for msg in run:
        user_id, anonymous_id = msg[1], msg[2]
        if user_id is not None:
            person_pk, anonymous_id = users.get(user_id), None
            if person_pk is None:
                continue  # suppressed, or (without `create`) not there
        elif anonymous_id is not None:
            person_pk = owners.get(anonymous_id)
        else:
            continue  # nobody named (an Object Deleted event, say)
        placed.append((msg, person_pk, anonymous_id))
    log(conn, workspace_id, placed, now)


def log(conn: Connection, workspace_id: int, placed: list[Placed], now: int) -> None:
    """Append messages to the activity log in the layout `pipelines.rules` documents,
    each under the person pk (or anonymous id) given."""
    rows = [
        (workspace_id, person_pk, anonymous_id, LOG_TYPES[m[0]], m[5], m[4], now, m[6])
        for m, person_pk, anonymous_id in placed
    ]
    insert_rows(conn, rows, now)


def _dedup_key(msg: Plain) -> str:
    return dedup_key(msg[3])


def _users(
    conn: Connection, workspace_id: int, user_ids: set[str], now: int, create: bool
) -> dict[str, int]:
    """Person pk per userId named; with `create`, people first named here are created
    and suppressed ids are left out."""
    named: dict[Key, str] = {("id", uid): uid for uid in user_ids}
    if create:
        found = bulk_people.find_or_create_many(conn, workspace_id, named, now)
    else:
        found = bulk_people.find_many(conn, workspace_id, named)
    return {key: pk for (_, key), pk in found.items()}


def _anonymous_owners(conn: Connection, workspace_id: int, ids: set[str]) -> dict[str, int]:
    """Person pk per anonymous id that a person carries as `anonymous_id`."""
    owners: dict[str, int] = {}
    for chunk in bulk_people.chunks(sorted(ids)):
        for value, person_pk in raw.select_in(conn, _OWNERS, [workspace_id], chunk):
            owners.setdefault(value, person_pk)
    return owners
