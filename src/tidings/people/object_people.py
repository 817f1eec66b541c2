"""`GET /v1/objects/{type}/{id}/relationships`: the people related to an object.

Oldest relationship first, keyset-paged on the relationship's row id. A
relationship still held by an anonymous visitor (not yet identified) is not
a person's, so it is not listed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings import paging
from tidings.db.schema import relationships
from tidings.objects import find
from tidings.objects.store import ObjectRef
from tidings.people import read, store

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def people_of_object(
    conn: Connection, workspace_id: int, ref: ObjectRef, page: paging.PageRequest
) -> dict[str, Any]:
    """`{"cio_relationships": [{identifiers, relationship_attributes, ...}], "next": cursor}`."""
    obj = find.lookup(conn, workspace_id, ref)
    query = select(relationships.c.id, relationships.c.person_id, relationships.c.attributes).where(
        relationships.c.object_pk == obj.pk, relationships.c.person_id.is_not(None)
    )
    if page.after is not None:
        query = query.where(relationships.c.id > page.after[0])
    rows = conn.execute(query.order_by(relationships.c.id).limit(page.limit + 1)).all()
    shown, cursor = paging.cut(rows, page.limit, lambda row: (row.id,))
    pks = [row.person_id for row in shown]
    people = store.by_pks(conn, pks)
    attributes = store.attributes_of(conn, pks)  # one statement, not one per person
    items = [
        _item(people[row.person_id], attributes[row.person_id], row, obj.type_id) for row in shown
    ]
    return {"cio_relationships": items, "next": cursor}


def _item(
    person: store.Person, attributes: dict[str, store.Stored], row: Any, type_id: str
) -> dict[str, Any]:
    email = attributes.get("email")  # as sent, as `read.shown_email` reads it
    return {
        "identifiers": read.identifiers(person, email.value if email is not None else person.email),
        "relationship_attributes": msgspec.json.decode(row.attributes),
        "object_type_id": type_id,
        "object_type_disabled": False,
    }
