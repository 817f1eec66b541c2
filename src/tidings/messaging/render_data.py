"""What `render.context_for` reads from the stores for a send's templates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.db.schema import collections
from tidings.people import store
from tidings.templates import snippets as snippet_store


def customer(conn: Connection, person_pk: int) -> dict[str, Any]:
    """The person's attributes as JSON values, with `id`, `email` and `cio_id`."""
    person = store.by_pk(conn, person_pk)
    if person is None:
        return {}
    found = {
        name: store.restore_value(item)
        for name, item in store.load_attributes(conn, person_pk).items()
    }
    found["id"] = person.customer_id
    found.setdefault("email", person.email)
    found["cio_id"] = person.cio_id
    return found


def snippets(conn: Connection, workspace_id: int) -> dict[str, str]:
    return snippet_store.values(conn, workspace_id)


class Collections(Mapping[str, Any]):
    """Collections by name; a collection's rows are read when a template first names it.

    Holds the connection: use it only inside the transaction it was made in.
    """

    def __init__(self, conn: Connection, workspace_id: int) -> None:
        self._conn = conn
        self._ids: dict[str, int] = {
            name: cid
            for cid, name in conn.execute(
                select(collections.c.id, collections.c.name).where(
                    collections.c.workspace_id == workspace_id
                )
            )
        }
        self._rows: dict[str, Any] = {}

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
