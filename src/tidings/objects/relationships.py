"""Relationships between people and objects, with attributes of their own.

A relationship names an anonymous person (by `anonymous_id`) until that
person is identified; then it becomes theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings.activity import stream
from tidings.db.schema import objects, relationships
from tidings.errors import bad_request
from tidings.objects import store as objects_store
from tidings.objects.store import Obj, merge_attributes

if TYPE_CHECKING:  # a person is passed in; people sit above objects
    from tidings.people.store import Person

_encode = msgspec.json.Encoder().encode


def link(
    conn: Connection,
    obj: Obj,
    workspace_id: int,
    now: int,
    attrs: Any,
    *,
    person_pk: int | None = None,
    anonymous_id: str | None = None,
) -> None:
    """Relate a person (or anonymous visitor) to an object, merging relationship attributes."""
    attrs = _attributes(attrs)
    who = (
        (relationships.c.person_id == person_pk)
        if person_pk is not None
        else (relationships.c.anonymous_id == anonymous_id)
    )
    row = conn.execute(
        select(relationships.c.id, relationships.c.attributes).where(
            relationships.c.object_pk == obj.pk, who
        )
    ).first()
    if row is None:
        merged = merge_attributes({}, attrs)
        conn.execute(
            insert(relationships).values(
                workspace_id=workspace_id,
                object_pk=obj.pk,
                person_id=person_pk,
                anonymous_id=anonymous_id,
                attributes=_encode(merged).decode(),
                created_at=now,
                updated_at=now,
            )
        )
        stream.publish(conn, workspace_id, [person_pk], now)
        return
    merged = merge_attributes(msgspec.json.decode(row.attributes), attrs)
    conn.execute(
        update(relationships)
        .where(relationships.c.id == row.id)
        .values(attributes=_encode(merged).decode(), updated_at=now)
    )


def unlink(
    conn: Connection, obj: Obj, *, person_pk: int | None = None, anonymous_id: str | None = None
) -> None:
    who = (
        (relationships.c.person_id == person_pk)
        if person_pk is not None
        else (relationships.c.anonymous_id == anonymous_id)
    )
    removed = conn.execute(
        delete(relationships)
        .where(relationships.c.object_pk == obj.pk, who)
        .returning(relationships.c.workspace_id)
    ).first()
    if removed is not None:
        stream.publish(conn, removed.workspace_id, [person_pk])


def _attributes(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request("relationship_attributes must be an object", "relationship_attributes")
    return value


def apply(conn: Connection, person: Person, action: str, items: Any, now: int) -> None:
    """add_relationships / delete_relationships from the person's side."""
    if not isinstance(items, list):
        raise bad_request("cio_relationships must be an array", "cio_relationships")
    for index, item in enumerate(items):
        field = f"cio_relationships[{index}]"
        if not isinstance(item, dict):
            raise bad_request(f"{field} must be an object", field)
        ref = objects_store.parse_ref(item.get("identifiers"), f"{field}.identifiers")
        if action == "add_relationships":
            obj = objects_store.find_or_create(conn, person.workspace_id, ref, now)
            if obj is not None:
                link(
                    conn,
                    obj,
                    person.workspace_id,
                    now,
                    item.get("relationship_attributes"),
                    person_pk=person.pk,
                )
        else:
            obj = objects_store.find(conn, person.workspace_id, ref)
            if obj is not None:
                unlink(conn, obj, person_pk=person.pk)


def apply_v1(conn: Connection, person: Person, value: Any, now: int) -> None:
    """The identify body's `cio_relationships`: `{action, relationships}` or a bare list."""
    if isinstance(value, list):
        apply(conn, person, "add_relationships", value, now)
        return
    if not isinstance(value, dict):
        raise bad_request("cio_relationships must be an object", "cio_relationships")
    action = value.get("action", "add_relationships")
    if action not in ("add_relationships", "delete_relationships"):
        raise bad_request(
            "cio_relationships.action must be add_relationships or delete_relationships",
            "cio_relationships.action",
        )
    apply(conn, person, action, value.get("relationships", []), now)


def adopt_anonymous(conn: Connection, person: Person, anonymous_id: str) -> None:
    """Relationships made for an anonymous visitor become the identified person's."""
    rows = conn.execute(
        select(relationships.c.id, relationships.c.object_pk).where(
            relationships.c.workspace_id == person.workspace_id,
            relationships.c.anonymous_id == anonymous_id,
            relationships.c.person_id.is_(None),
        )
    ).all()
    for row in rows:
        taken = conn.execute(
            select(relationships.c.id).where(
                relationships.c.object_pk == row.object_pk, relationships.c.person_id == person.pk
            )
        ).first()
        if taken is not None:
            conn.execute(delete(relationships).where(relationships.c.id == row.id))
        else:
            conn.execute(
                update(relationships)
                .where(relationships.c.id == row.id)
                .values(person_id=person.pk, anonymous_id=None)
            )


def move(conn: Connection, from_pk: int, to_pk: int) -> None:
    """A merged person's relationships pass to the survivor (the survivor's win)."""
    rows = conn.execute(
        select(relationships.c.id, relationships.c.object_pk).where(
            relationships.c.person_id == from_pk
        )
    ).all()
    for row in rows:
        taken = conn.execute(
            select(relationships.c.id).where(
                relationships.c.object_pk == row.object_pk, relationships.c.person_id == to_pk
            )
        ).first()
        if taken is None:
            conn.execute(
                update(relationships).where(relationships.c.id == row.id).values(person_id=to_pk)
            )


def of_person(conn: Connection, person_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            objects.c.type_id,
            objects.c.object_id,
            objects.c.cio_object_id,
            relationships.c.attributes,
            relationships.c.id,
        )
        .join(objects, objects.c.id == relationships.c.object_pk)
        .where(relationships.c.person_id == person_pk)
        .order_by(relationships.c.id)
    ).all()
    return [
        {
            "object_type_id": r.type_id,
            "object_id": r.object_id,
            "cio_object_id": r.cio_object_id,
            "relationship_attributes": msgspec.json.decode(r.attributes),
            "cursor": r.id,
        }
        for r in rows
    ]
