"""Finding and creating the people a run of writes names, a few statements for all.

This is the one implementation of "a person is created on first mention":
`find_or_create_many` for a run, and `people.service.find_or_create` for one
(through `person_row` and `record_first_mentions`, the same rows). The rules:
a suppressed id or email names nobody; an unknown cio_id names nobody and
creates no one; an unknown id or email creates a person, who gets that
identifier as an attribute (the value as given, an email's case kept) and an
`attribute_change` activity that records it, all at the write's time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, insert

from tidings.activity.log import encode, insert_rows
from tidings.db.raw import select_in
from tidings.db.schema import attributes, people
from tidings.people import store
from tidings.people.identifiers import CLIENT_KINDS, Identifier

CHUNK = 500  # keys per IN (...) list: well under every backend's parameter limit

Key = tuple[str, str]  # (identifier kind, stored key)

_FIND = {
    kind: f"SELECT id, {column.name} FROM people WHERE workspace_id = {{0}} "
    f"AND {column.name} IN ({{1}})"
    for kind, column in store.COLUMNS.items()
}
_SUPPRESSED = "SELECT kind, value FROM suppressions WHERE workspace_id = {0} AND value IN ({1})"
_CREATE = insert(people).returning(people.c.id, sort_by_parameter_order=True)


def find_or_create_many(
    conn: Connection, workspace_id: int, named: dict[Key, str], now: int
) -> dict[Key, int]:
    """Person pk for every (kind, key) named that is not suppressed, creating new people.

    `named` maps each to its value as given (an email's case is kept when
    created). One lookup of suppressions, one per identifier kind, and the
    inserts of `create_many`: no statement per person.
    """
    blocked = suppressed(conn, workspace_id, named)
    wanted = [pair for pair in named if pair not in blocked]
    found = find_many(conn, workspace_id, wanted)
    new = [
        Identifier(kind, named[(kind, key)])  # type: ignore[arg-type]
        for kind, key in wanted
        if (kind, key) not in found and kind in CLIENT_KINDS
    ]
    found.update(create_many(conn, workspace_id, new, now))
    return found


Named = tuple[int, Key, str, int]  # workspace, (kind, key), value as given, receipt time


def preclaim(conn: Connection, named: Iterable[Named]) -> None:
    """Find or create every person named, workspace by workspace in workspace order (and
    `create_many`'s order within one): all of a writer batch's new people in one order.

    A person is created at the latest receipt time among the items of their
    workspace (a run creating them would use its own latest). For the writer's
    batch scope (`events.bulk.preclaim_people`): the runs then find them.
    """
    by_workspace: dict[int, dict[Key, str]] = {}
    times: dict[int, int] = {}
    for workspace_id, key, value, now in named:
        by_workspace.setdefault(workspace_id, {}).setdefault(key, value)
        times[workspace_id] = max(now, times.get(workspace_id, now))
    for workspace_id in sorted(by_workspace):
        find_or_create_many(conn, workspace_id, by_workspace[workspace_id], times[workspace_id])


def find_many(conn: Connection, workspace_id: int, named: Iterable[Key]) -> dict[Key, int]:
    """Person pk for each (kind, key) that exists in the workspace."""
    found: dict[Key, int] = {}
    for kind in store.COLUMNS:
        keys = [key for k, key in named if k == kind]
        for chunk in chunks(keys):
            rows = select_in(conn, _FIND[kind], [workspace_id], chunk)
            found.update(((kind, key), pk) for pk, key in rows)
    return found


def suppressed(conn: Connection, workspace_id: int, named: Iterable[Key]) -> set[Key]:
    """The (kind, key) pairs whose identifier is suppressed in the workspace."""
    keys = [key for kind, key in named if kind in CLIENT_KINDS]
    blocked: set[Key] = set()
    for chunk in chunks(keys):
        rows = select_in(conn, _SUPPRESSED, [workspace_id], chunk)
        blocked.update((kind, value) for kind, value in rows)
    return blocked


def create_many(
    conn: Connection, workspace_id: int, idents: list[Identifier], now: int
) -> dict[Key, int]:
    """Create one person per identifier (`id` or `email`, none stored yet); their pks.

    A person inserted meanwhile by another process surfaces as an integrity
    error; the writer then retries the whole request, when the lookups see them.
    """
    if not idents:
        return {}
    # Sorted by identifier: an insert waits for another transaction's uncommitted
    # person with the same id or email, so two nodes creating overlapping people in
    # arrival order could each wait for the other (a deadlock); in one order, the
    # second waits, then collides, and the writer retries it.
    idents = sorted(idents, key=lambda ident: (ident.kind, ident.key))
    rows = [new_person_row(workspace_id, ident, now) for ident in idents]
    pks = [row[0] for row in conn.execute(_CREATE, rows)]
    made = list(zip(pks, idents, strict=True))
    record_first_mentions(conn, workspace_id, made, now)
    return {(ident.kind, ident.key): pk for pk, ident in made}


def new_person_row(
    workspace_id: int, ident: Identifier, now: int, cio_id: str | None = None
) -> dict[str, Any]:
    """The row of a person first named by `ident` (an id or an email)."""
    customer_id = ident.value if ident.kind == "id" else None
    email = ident.value if ident.kind == "email" else None
    return store.person_row(workspace_id, now, customer_id, email, cio_id)


def record_first_mentions(
    conn: Connection, workspace_id: int, made: list[tuple[int, Identifier]], now: int
) -> None:
    """What a person created on first mention gets besides their row: for each
    (pk, identifier), the identifier as an attribute and the `attribute_change`
    activity that records it (published on the activity stream)."""
    if not made:
        return
    conn.execute(
        insert(attributes), [attribute_row(workspace_id, pk, ident, now) for pk, ident in made]
    )
    insert_rows(conn, [change_row(workspace_id, pk, ident, now) for pk, ident in made], now)


def attribute_row(workspace_id: int, pk: int, ident: Identifier, now: int) -> dict[str, Any]:
    """A new person's identifier as their attribute: the value as given, a string."""
    return {
        "person_id": pk,
        "workspace_id": workspace_id,
        "name": ident.kind,
        "value": ident.value,
        "kind": "s",
        "updated_at": now,
    }


def change_row(workspace_id: int, pk: int, ident: Identifier, now: int) -> tuple[object, ...]:
    """The `attribute_change` activity of a new person's identifier (`EVENT_COLUMNS` order)."""
    change = {"attributes": {ident.kind: {"from": None, "to": ident.value}}}
    return (workspace_id, pk, None, "attribute_change", "", now, now, encode(change).decode())


def chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
