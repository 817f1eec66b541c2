"""Many person events at once, with the results of `events.service.track` one by one.

For each event: a repeated dedup `id` drops it (also within the run); a
suppressed identifier or an unknown `cio_id` drops it; a person first named
here is created. Instead of ~5 statements per event this takes one lookup
per identifier kind, one for suppressions, one for dedup keys, and one
multi-row insert, plus the creation of people not seen before.

A race with another process (a dedup key or person inserted meanwhile)
surfaces as an integrity error; the writer then retries the whole request
on its own, when these lookups see the other process's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, insert, select

from tidings.db.schema import event_dedup, events, suppressions
from tidings.events.service import Event
from tidings.people import service as people
from tidings.people import store as people_store
from tidings.people.identifiers import Identifier

CHUNK = 500  # keys per IN (...) list: well under every backend's parameter limit

Key = tuple[str, str]


def track_many(
    conn: Connection, workspace_id: int, items: list[tuple[Identifier, Event]], now: int
) -> None:
    """Record events in order, for the people named (see the module doc)."""
    fresh = _first_sightings(conn, workspace_id, items, now)
    if not fresh:
        return
    owners = _people(conn, workspace_id, {(i.kind, i.key): i for i, _ in fresh}, now)
    rows = []
    for ident, event in fresh:
        person_pk = owners.get((ident.kind, ident.key))
        if person_pk is not None:
            rows.append(_row(workspace_id, person_pk, event, now))
    if rows:
        conn.execute(insert(events), rows)


def _row(workspace_id: int, person_pk: int, event: Event, now: int) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "person_id": person_pk,
        "anonymous_id": None,
        "type": event.type,
        "name": event.name,
        "timestamp": event.timestamp if event.timestamp is not None else now,
        "received_at": now,
        "data": event.data_json,
    }


def _first_sightings(
    conn: Connection, workspace_id: int, items: list[tuple[Identifier, Event]], now: int
) -> list[tuple[Identifier, Event]]:
    """The items whose dedup `id` is new to the workspace (and to this run)."""
    keys = {f"event:{e.dedup_id}" for _, e in items if e.dedup_id}
    if not keys:
        return items
    column = event_dedup.c.key
    scope = event_dedup.c.workspace_id == workspace_id
    seen = {row[0] for row in _select_in(conn, select(column).where(scope), column, keys)}
    fresh, new_keys = [], []
    for ident, event in items:
        if event.dedup_id:
            key = f"event:{event.dedup_id}"
            if key in seen:
                continue
            seen.add(key)
            new_keys.append({"workspace_id": workspace_id, "key": key, "seen_at": now})
        fresh.append((ident, event))
    if new_keys:
        conn.execute(insert(event_dedup), new_keys)
    return fresh


def _people(
    conn: Connection, workspace_id: int, named: dict[Key, Identifier], now: int
) -> dict[Key, int]:
    """Person pk for every (kind, key) named that is not suppressed, creating new people."""
    blocked = _suppressed(conn, workspace_id, named)
    found: dict[Key, int] = {}
    for kind in ("id", "email", "cio_id"):
        keys = [key for (k, key) in named if k == kind and (k, key) not in blocked]
        for chunk in _chunks(keys):
            for person in people_store.find_many(conn, workspace_id, kind, chunk):
                found[(kind, _key_of(person, kind))] = person.pk
    for pair, ident in named.items():
        if pair in found or pair in blocked or ident.kind == "cio_id":
            continue
        person = people.find_or_create(conn, workspace_id, ident, now)
        if person is not None:
            found[pair] = person.pk
    return found


def _key_of(person: people_store.Person, kind: str) -> str:
    if kind == "id":
        return person.customer_id or ""
    return (person.email or "") if kind == "email" else person.cio_id


def _suppressed(conn: Connection, workspace_id: int, named: Iterable[Key]) -> set[Key]:
    values = {key for kind, key in named if kind in ("id", "email")}
    if not values:
        return set()
    query = select(suppressions.c.kind, suppressions.c.value).where(
        suppressions.c.workspace_id == workspace_id
    )
    return {(kind, value) for kind, value in _select_in(conn, query, suppressions.c.value, values)}


def _select_in(conn: Connection, query: Any, column: Any, values: Iterable[str]) -> Iterator[Any]:
    for chunk in _chunks(list(values)):
        yield from conn.execute(query.where(column.in_(chunk)))


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
