"""What `render.context_for` reads from the stores for a send's templates."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.attributes import restore
from tidings.db import raw
from tidings.db.schema import collections
from tidings.people import store
from tidings.people.store import Person, Stored


def customer(conn: Connection, person: int | Person) -> dict[str, Any]:
    """The person's attributes as JSON values, with `id`, `email` and `cio_id`.

    `person` is the person's row when the caller has it, else their key.
    """
    found_person = person if isinstance(person, Person) else store.by_pk(conn, person)
    if found_person is None:
        return {}
    return _customer(conn, found_person)


def customer_of(person: Person, stored: Mapping[str, Stored]) -> dict[str, Any]:
    """`customer` of the attributes the caller read already (`store.attributes_of`)."""
    return customer_from_rows(person, ((name, s.value, s.kind) for name, s in stored.items()))


def _customer(conn: Connection, person: Person) -> dict[str, Any]:
    return customer_from_rows(person, raw.select_in(conn, _ATTRIBUTES, [person.pk], []))


def customer_from_rows(person: Person, rows: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """`customer` of the person's attribute rows, as (name, value, kind)."""
    found = {name: restore(value, kind) for name, value, kind in rows}
    found["id"] = person.customer_id
    found.setdefault("email", person.email)
    found["cio_id"] = person.cio_id
    return found


_ATTRIBUTES = "SELECT name, value, kind FROM attributes WHERE person_id = {0}"
_SNIPPETS = "SELECT name, value FROM snippets WHERE workspace_id = {0}"


def snippets(conn: Connection, workspace_id: int) -> dict[str, str]:
    """Every snippet's source by name (`templates.snippets.values`, on the driver)."""
    return dict(raw.select_in(conn, _SNIPPETS, [workspace_id], []))


class Collections(Mapping[str, Any]):
    """Collections by name; a collection's rows are read when a template first names it.

    Holds the connection: use it only inside the transaction it was made in.
    Even the names are read only when a template first looks one up, as most
    templates use none.
    """

    def __init__(self, conn: Connection, workspace_id: int) -> None:
        self._conn = conn
        self._workspace_id = workspace_id
        self._found: dict[str, int] | None = None
        self._rows: dict[str, Any] = {}

    @property
    def _ids(self) -> dict[str, int]:
        if self._found is None:
            self._found = {
                name: cid
                for cid, name in self._conn.execute(
                    select(collections.c.id, collections.c.name).where(
                        collections.c.workspace_id == self._workspace_id
                    )
                )
            }
        return self._found

    def __getitem__(self, name: str) -> Any:
        if name not in self._rows:
            data = self._conn.execute(
                select(collections.c.data).where(collections.c.id == self._ids[name])
            ).scalar()
            self._rows[name] = msgspec.json.decode(data or "[]")
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)
