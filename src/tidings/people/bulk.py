"""Finding and creating the people a run of events names, a few statements for all.

`create_many` has the effect of `people.service.find_or_create` for people
not yet stored, for many at once: the person row, their identifier as an
attribute, and the `attribute_change` activity that records it
(tests/integration/test_track_v2.py holds the two paths equal).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, insert

from tidings.activity import stream
from tidings.activity.log import encode
from tidings.db.raw import select_in
from tidings.db.schema import attributes, events, people
from tidings.people.identifiers import Identifier

CHUNK = 500  # keys per IN (...) list: well under every backend's parameter limit

Key = tuple[str, str]  # (identifier kind, stored key)

_COLUMNS = {"id": people.c.customer_id, "email": people.c.email, "cio_id": people.c.cio_id}
_FIND = {
    kind: f"SELECT id, {column.name} FROM people WHERE workspace_id = {{0}} "
    f"AND {column.name} IN ({{1}})"
    for kind, column in _COLUMNS.items()
}
_SUPPRESSED = "SELECT kind, value FROM suppressions WHERE workspace_id = {0} AND value IN ({1})"
_CREATE = insert(people).returning(people.c.id, sort_by_parameter_order=True)


def find_many(conn: Connection, workspace_id: int, named: Iterable[Key]) -> dict[Key, int]:
    """Person pk for each (kind, key) that exists in the workspace."""
    found: dict[Key, int] = {}
    for kind in _COLUMNS:
        keys = [key for k, key in named if k == kind]
        for chunk in chunks(keys):
            rows = select_in(conn, _FIND[kind], [workspace_id], chunk)
            found.update(((kind, key), pk) for pk, key in rows)
    return found


def suppressed(conn: Connection, workspace_id: int, named: Iterable[Key]) -> set[Key]:
    """The (kind, key) pairs whose identifier is suppressed in the workspace."""
    keys = [key for kind, key in named if kind in ("id", "email")]
    blocked: set[Key] = set()
    for chunk in chunks(keys):
        rows = select_in(conn, _SUPPRESSED, [workspace_id], chunk)
        blocked.update((kind, value) for kind, value in rows)
    return blocked


def create_many(
    conn: Connection, workspace_id: int, idents: list[Identifier], now: int
) -> dict[Key, int]:
    """Create one person per identifier (`id` or `email`, none stored yet); their pks."""
    if not idents:
        return {}
    rows = [_person_row(workspace_id, ident, now) for ident in idents]
    pks = [row[0] for row in conn.execute(_CREATE, rows)]
    conn.execute(
        insert(attributes),
        [_attribute_row(workspace_id, pk, i, now) for pk, i in zip(pks, idents, strict=True)],
    )
    conn.execute(
        insert(events),
        [_change_row(workspace_id, pk, i, now) for pk, i in zip(pks, idents, strict=True)],
    )
    stream.publish(conn, workspace_id, pks, now)
    return {(ident.kind, ident.key): pk for pk, ident in zip(pks, idents, strict=True)}


def _person_row(workspace_id: int, ident: Identifier, now: int) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "cio_id": secrets.token_hex(6),
        "customer_id": ident.value if ident.kind == "id" else None,
        "email": ident.key if ident.kind == "email" else None,
        "created_at": now,
        "updated_at": now,
    }


def _attribute_row(workspace_id: int, pk: int, ident: Identifier, now: int) -> dict[str, Any]:
    return {
        "person_id": pk,
        "workspace_id": workspace_id,
        "name": ident.kind,
        "value": ident.value,
        "kind": "s",
        "updated_at": now,
    }


def _change_row(workspace_id: int, pk: int, ident: Identifier, now: int) -> dict[str, Any]:
    change = {"attributes": {ident.kind: {"from": None, "to": ident.value}}}
    return {
        "workspace_id": workspace_id,
        "person_id": pk,
        "anonymous_id": None,
        "type": "attribute_change",
        "name": "",
        "timestamp": now,
        "received_at": now,
        "data": encode(change).decode(),
    }


def chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
