"""Reading and writing people rows; helpers that take a connection and never commit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from tidings.attributes import render, restore
from tidings.db import raw
from tidings.db.schema import attributes, people
from tidings.people.identifiers import CLIENT_KINDS, Identifier, stored_key


@dataclass(frozen=True)
class Person:
    pk: int
    workspace_id: int
    cio_id: str
    customer_id: str | None
    email: str | None
    created_at: int

    def identifiers(self) -> list[Identifier]:
        found = [Identifier("cio_id", self.cio_id)]
        if self.customer_id is not None:
            found.append(Identifier("id", self.customer_id))
        if self.email is not None:
            found.append(Identifier("email", self.email))
        return found


@dataclass(frozen=True)
class Stored:
    """One attribute as stored: the shown string, its kind, when it was set."""

    value: str
    kind: str
    updated_at: int


# The people column that holds each identifier kind (its stored key).
COLUMNS = {"id": people.c.customer_id, "email": people.c.email, "cio_id": people.c.cio_id}
_PERSON = select(
    people.c.id,
    people.c.workspace_id,
    people.c.cio_id,
    people.c.customer_id,
    people.c.email,
    people.c.created_at,
)


_FIND = (
    "SELECT id, workspace_id, cio_id, customer_id, email, created_at"
    " FROM people WHERE workspace_id = {0} AND %s = {1}"
)


def find(conn: Connection, workspace_id: int, ident: Identifier) -> Person | None:
    """The person `ident` names (on the driver: nearly every write starts here)."""
    template = _FIND % COLUMNS[ident.kind].name
    rows = raw.select_in(conn, template, [workspace_id, ident.key], [])
    return Person(*rows[0]) if rows else None


# One row per claim (its position first): the claims whose person is still there,
# still named by the identifier, which is not suppressed.
_NAMES_PEOPLE = (
    "SELECT v.column1 FROM (VALUES {0}) AS v"
    " JOIN people p ON p.id = v.column2 AND p.cio_id = v.column3 AND p.workspace_id = v.column4"
    " AND CASE v.column5 WHEN 'id' THEN p.customer_id WHEN 'email' THEN p.email"
    " ELSE p.cio_id END = v.column6"
    " WHERE NOT EXISTS (SELECT 1 FROM suppressions s"
    " WHERE s.workspace_id = v.column4 AND s.kind = v.column5 AND s.value = v.column6)"
)
NAMES_PER_STATEMENT = 1000


def names_people(conn: Connection, claims: list[tuple[int, Identifier, Person]]) -> list[bool]:
    """For each (workspace id, identifier, person), in order: whether the identifier is
    unsuppressed and still names that person (the same row, not one made again
    since), as `find_or_create` would answer them; one driver statement per
    `NAMES_PER_STATEMENT` of them."""
    named = [False] * len(claims)
    for start in range(0, len(claims), NAMES_PER_STATEMENT):
        chunk = claims[start : start + NAMES_PER_STATEMENT]
        rows = [
            (n, person.pk, person.cio_id, workspace_id, ident.kind, ident.key)
            for n, (workspace_id, ident, person) in enumerate(chunk, start)
        ]
        listed, params = raw.values(conn, rows)
        for (n,) in raw.execute(conn, _NAMES_PEOPLE.format(listed), params):
            named[n] = True
    return named


def find_many(conn: Connection, workspace_id: int, kind: str, keys: list[str]) -> list[Person]:
    rows = conn.execute(
        _PERSON.where(people.c.workspace_id == workspace_id, COLUMNS[kind].in_(keys))
    )
    return [Person(*row) for row in rows]


def find_by_attribute(conn: Connection, workspace_id: int, name: str, value: str) -> Person | None:
    row = conn.execute(
        _PERSON.join(attributes, attributes.c.person_id == people.c.id).where(
            attributes.c.workspace_id == workspace_id,
            attributes.c.name == name,
            attributes.c.value == value,
        )
    ).first()
    return Person(*row) if row is not None else None


def by_pk(conn: Connection, pk: int) -> Person | None:
    row = conn.execute(_PERSON.where(people.c.id == pk)).first()
    return Person(*row) if row is not None else None


def by_pks(conn: Connection, pks: list[int]) -> dict[int, Person]:
    """The people of `pks` that exist, by key (callers keep the list within the
    backends' parameter limits)."""
    return {row[0]: Person(*row) for row in conn.execute(_PERSON.where(people.c.id.in_(pks)))}


def new_cio_id() -> str:
    return secrets.token_hex(6)


def person_row(
    workspace_id: int,
    now: int,
    customer_id: str | None,
    email: str | None,
    cio_id: str | None = None,
) -> dict[str, Any]:
    """A new person's row: a fresh cio_id unless one was chosen ahead (`new_cio_id`),
    the email as looked up (lower-cased), created and updated `now`."""
    return {
        "workspace_id": workspace_id,
        "cio_id": cio_id or new_cio_id(),
        "customer_id": customer_id,
        "email": stored_key("email", email) if email else None,
        "created_at": now,
        "updated_at": now,
    }


def create(
    conn: Connection,
    workspace_id: int,
    now: int,
    customer_id: str | None,
    email: str | None,
    cio_id: str | None = None,
) -> Person:
    """A new person, or whoever a racing writer created with the same id or email.

    `cio_id` is one chosen ahead (`new_cio_id`), by a send composed before its write.
    """
    row = person_row(workspace_id, now, customer_id, email, cio_id)
    return insert_person(conn, row) or created_meanwhile(conn, row)


def insert_person(conn: Connection, row: dict[str, Any]) -> Person | None:
    """The person `row` (a `person_row`) makes; None if a racing writer holds its keys.

    Another process may create the same person between our lookup and this
    insert. `ON CONFLICT DO NOTHING` waits for its transaction instead of
    failing ours; `created_meanwhile` then finds the person it committed.
    """
    params = tuple(row[column] for column in _CREATE_COLUMNS)
    rows = raw.execute(conn, _CREATE.format(raw.mark(conn)), params)
    if not rows:
        return None
    return Person(
        rows[0][0],
        row["workspace_id"],
        row["cio_id"],
        row["customer_id"],
        row["email"],
        row["created_at"],
    )


def created_meanwhile(conn: Connection, row: dict[str, Any]) -> Person:
    """The person a racing writer committed with `row`'s id or email (`insert_person` gave None)."""
    for kind in CLIENT_KINDS:
        value = row[COLUMNS[kind].name]
        found = find(conn, row["workspace_id"], Identifier(kind, value)) if value else None
        if found is not None:
            return found
    raise RuntimeError("a generated cio_id was taken; the write is retried")


_CREATE_COLUMNS = ("workspace_id", "cio_id", "customer_id", "email", "created_at", "updated_at")
_CREATE = (
    f"INSERT INTO {people.name} ({', '.join(_CREATE_COLUMNS)})"
    " VALUES ({0}, {0}, {0}, {0}, {0}, {0}) ON CONFLICT DO NOTHING RETURNING id"
)


def set_identifier(conn: Connection, person: Person, kind: str, value: str | None) -> Person:
    column = "customer_id" if kind == "id" else "email"
    stored = stored_key(kind, value) if value else value
    raw.execute(conn, _SET.format(column, raw.mark(conn)), (stored, person.pk))
    if kind == "id":
        return Person(
            person.pk, person.workspace_id, person.cio_id, stored, person.email, person.created_at
        )
    return Person(
        person.pk, person.workspace_id, person.cio_id, person.customer_id, stored, person.created_at
    )


def touch(conn: Connection, person: Person, now: int) -> None:
    raw.execute(conn, _SET.format("updated_at", raw.mark(conn)), (now, person.pk))


# On the driver, as the other statements of a write that every identify makes:
# through SQLAlchemy Core each cost 40-100 µs here, against 2 µs in SQLite.
_SET = f"UPDATE {people.name} SET {{0}} = {{1}} WHERE id = {{1}}"


def remove(conn: Connection, person: Person) -> None:
    """Delete a person; their attributes, events, devices and memberships go with them."""
    conn.execute(delete(people).where(people.c.id == person.pk))


_ATTRIBUTES = f"SELECT name, value, kind, updated_at FROM {attributes.name} WHERE person_id = {{}}"


def load_attributes(conn: Connection, person_pk: int) -> dict[str, Stored]:
    rows = raw.execute(conn, _ATTRIBUTES.format(raw.mark(conn)), (person_pk,))
    return {name: Stored(value, kind, ts) for name, value, kind, ts in rows}


_ATTRIBUTES_OF = (
    f"SELECT person_id, name, value, kind, updated_at FROM {attributes.name}"
    " WHERE person_id IN ({0}) ORDER BY person_id, name"
)


def attributes_of(conn: Connection, person_pks: list[int]) -> dict[int, dict[str, Stored]]:
    """`load_attributes` of many people in one statement (each in name order, as
    SQLite reads one person's through the primary key); everyone of `person_pks`
    has an entry."""
    found: dict[int, dict[str, Stored]] = {pk: {} for pk in person_pks}
    if person_pks:
        for pk, name, value, kind, ts in raw.select_in(conn, _ATTRIBUTES_OF, [], person_pks):
            found[pk][name] = Stored(value, kind, ts)
    return found


def restore_value(stored: Stored) -> Any:
    return restore(stored.value, stored.kind)


def put_attributes(
    conn: Connection,
    person: Person,
    current: dict[str, Stored],
    values: dict[str, Any],
    ts: int,
) -> dict[str, tuple[str | None, str | None]]:
    """Set and remove attributes; returns what changed as {name: (from, to)}.

    A value older than the one stored (by `_timestamp`) does not replace it,
    so racing updates settle on the newest. Unchanged values are not written.
    """
    changes: dict[str, tuple[str | None, str | None]] = {}
    inserts, updates, removals = [], [], []
    for name, value in values.items():
        old = current.get(name)
        if old is not None and old.updated_at > ts:
            continue
        if value is None or value == "":
            if old is not None:
                removals.append(name)
                changes[name] = (old.value, None)
            continue
        text, kind = render(value)
        if old is None:
            inserts.append(
                {
                    "person_id": person.pk,
                    "workspace_id": person.workspace_id,
                    "name": name,
                    "value": text,
                    "kind": kind,
                    "updated_at": ts,
                }
            )
            changes[name] = (None, text)
        elif old.value != text or old.kind != kind:
            updates.append((text, kind, ts, person.pk, name))
            changes[name] = (old.value, text)
    _write(conn, person.pk, inserts, updates, removals)
    return changes


def _write(conn: Connection, pk: int, inserts: list, updates: list, removals: list) -> None:  # type: ignore[type-arg]
    mark = raw.mark(conn)
    if inserts:
        conn.execute(insert(attributes), inserts)
    for params in updates:  # value, kind, updated_at, person, name
        raw.execute(conn, _UPDATE_ATTRIBUTE.format(mark), params)
    if removals:
        raw.select_in(conn, _REMOVE_ATTRIBUTES, [pk], removals)


_UPDATE_ATTRIBUTE = (
    f"UPDATE {attributes.name} SET value = {{0}}, kind = {{0}}, updated_at = {{0}}"
    " WHERE person_id = {0} AND name = {0}"
)
_REMOVE_ATTRIBUTES = f"DELETE FROM {attributes.name} WHERE person_id = {{0}} AND name IN ({{1}})"


def is_suppressed(conn: Connection, workspace_id: int, idents: list[Identifier]) -> bool:
    """Whether any id or email of `idents` is suppressed (on the driver: most writes ask)."""
    keyed = [(i.kind, i.key) for i in idents if i.kind in CLIENT_KINDS]
    if not keyed:
        return False
    pairs = " OR ".join(
        f"(kind = {{{2 * n + 1}}} AND value = {{{2 * n + 2}}})" for n in range(len(keyed))
    )
    sql = f"SELECT 1 FROM suppressions WHERE workspace_id = {{0}} AND ({pairs}) LIMIT 1"
    return bool(raw.select_in(conn, sql, [workspace_id, *(x for pair in keyed for x in pair)], []))
