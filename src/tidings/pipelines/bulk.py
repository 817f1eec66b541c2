"""A run of plain Pipelines events (track, page, screen) in a few statements.

The effect is `pipelines.service.apply` one message after another: a
messageId seen before (in the workspace or earlier in the run) drops the
message; a userId names a person, created on first mention unless the id is
suppressed (then the event is dropped); an anonymousId alone goes to the
person carrying that `anonymous_id` attribute, else to the anonymous profile
(`person_id` NULL). Instead of several statements per event this takes one
lookup of dedup keys and one insert of the new ones, the `people.bulk`
lookups and inserts for the people named, one lookup of anonymous owners,
and one multi-row INSERT per 200 events.

A race with another process (a dedup key or person inserted meanwhile)
surfaces as an integrity error; the writer then retries the request alone.
"""

from __future__ import annotations

import functools

from sqlalchemy import Connection, bindparam, insert, select

from tidings.db.schema import attributes, event_dedup, events
from tidings.people import bulk as bulk_people
from tidings.people.bulk import Key
from tidings.people.identifiers import Identifier
from tidings.pipelines.parse import EVENT_TYPES, Message

ROWS_PER_INSERT = 200  # 1,600 parameters: within SQLite's and PostgreSQL's limits
_COLUMNS = (
    "workspace_id",
    "person_id",
    "anonymous_id",
    "type",
    "name",
    "timestamp",
    "received_at",
    "data",
)
_SEEN = select(event_dedup.c.key).where(
    event_dedup.c.workspace_id == bindparam("ws"),
    event_dedup.c.key.in_(bindparam("keys", expanding=True)),
)
_OWNERS = select(attributes.c.value, attributes.c.person_id).where(
    attributes.c.workspace_id == bindparam("ws"),
    attributes.c.name == "anonymous_id",
    attributes.c.value.in_(bindparam("keys", expanding=True)),
)


def track_run(conn: Connection, workspace_id: int, run: list[Message], now: int) -> None:
    """Log a run of plain events in order (see the module doc)."""
    fresh = _first_sightings(conn, workspace_id, run, now)
    if not fresh:
        return
    users = _users(conn, workspace_id, {m.user_id for m in fresh if m.user_id is not None}, now)
    anonymous = {m.anonymous_id for m in fresh if m.user_id is None and m.anonymous_id}
    owners = _anonymous_owners(conn, workspace_id, anonymous)
    rows: list[tuple[object, ...]] = []
    for msg in fresh:
        if msg.user_id is not None:
            person_pk, anonymous_id = users.get(msg.user_id), None
            if person_pk is None:
                continue  # suppressed
        else:
            anonymous_id = msg.anonymous_id
            person_pk = owners.get(anonymous_id) if anonymous_id else None
        kind = EVENT_TYPES[msg.type]
        rows.append(
            (
                workspace_id,
                person_pk,
                anonymous_id,
                kind,
                msg.name,
                msg.timestamp,
                now,
                msg.data_json,
            )
        )
    _insert(conn, rows)


def _insert(conn: Connection, rows: list[tuple[object, ...]]) -> None:
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        sql = _insert_sql(conn.dialect.paramstyle, len(chunk))
        conn.exec_driver_sql(sql, tuple(value for row in chunk for value in row))


@functools.lru_cache(maxsize=64)
def _insert_sql(paramstyle: str, count: int) -> str:
    """One multi-row INSERT for `count` events, handed to the driver directly.

    One statement rather than executemany, and around SQLAlchemy's per-row
    parameter handling, for the reasons `events.bulk` gives.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    values = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
    columns = ", ".join(_COLUMNS)
    return f"INSERT INTO {events.name} ({columns}) VALUES " + ", ".join([values] * count)


def _first_sightings(
    conn: Connection, workspace_id: int, run: list[Message], now: int
) -> list[Message]:
    """The messages whose messageId is new to the workspace (and to this run)."""
    keys = [m.dedup_key for m in run if m.message_id]
    if not keys:
        return run
    seen: set[str] = set()
    for chunk in bulk_people.chunks(keys):
        seen.update(row[0] for row in conn.execute(_SEEN, {"ws": workspace_id, "keys": chunk}))
    fresh, new_keys = [], []
    for msg in run:
        if msg.message_id:
            key = msg.dedup_key
            if key in seen:
                continue
            seen.add(key)
            new_keys.append({"workspace_id": workspace_id, "key": key, "seen_at": now})
        fresh.append(msg)
    if new_keys:
        conn.execute(insert(event_dedup), new_keys)
    return fresh


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
        for value, person_pk in conn.execute(_OWNERS, {"ws": workspace_id, "keys": chunk}):
            owners.setdefault(value, person_pk)
    return owners
