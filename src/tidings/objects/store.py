"""Object rows (companies, accounts, courses...): find, create, update, delete."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings.attributes import check_attributes, is_removal, render
from tidings.db.schema import objects
from tidings.errors import bad_request
from tidings.numbers import is_digits

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ObjectRef:
    """How a request names an object: type and id, or the immutable cio_object_id."""

    type_id: str | None = None
    object_id: str | None = None
    cio_object_id: str | None = None


@dataclass(frozen=True)
class Obj:
    pk: int
    type_id: str
    object_id: str
    cio_object_id: str
    attributes: dict[str, str]


def parse_ref(identifiers: Any, field: str = "identifiers") -> ObjectRef:
    if not isinstance(identifiers, dict):
        raise bad_request(f"{field} must be an object", field)
    if "cio_object_id" in identifiers:
        value = identifiers["cio_object_id"]
        if not isinstance(value, str) or not value:
            raise bad_request("cio_object_id must be a non-empty string", f"{field}.cio_object_id")
        return ObjectRef(cio_object_id=value)
    type_id, object_id = identifiers.get("object_type_id"), identifiers.get("object_id")
    if type_id is None or object_id is None:
        raise bad_request(
            "object identifiers need object_type_id and object_id, or cio_object_id", field
        )
    type_id, object_id = str(type_id), str(object_id)
    if not is_digits(type_id) or int(type_id) < 1:
        raise bad_request(
            "object_type_id must be an integer of at least 1, as a string",
            f"{field}.object_type_id",
        )
    if not object_id or len(object_id.encode()) > 150:
        raise bad_request("object_id must be 1 to 150 bytes", f"{field}.object_id")
    return ObjectRef(type_id=type_id, object_id=object_id)


_COLUMNS = select(
    objects.c.id,
    objects.c.type_id,
    objects.c.object_id,
    objects.c.cio_object_id,
    objects.c.attributes,
)


def find(conn: Connection, workspace_id: int, ref: ObjectRef) -> Obj | None:
    query = _COLUMNS.where(objects.c.workspace_id == workspace_id)
    if ref.cio_object_id is not None:
        query = query.where(objects.c.cio_object_id == ref.cio_object_id)
    else:
        query = query.where(objects.c.type_id == ref.type_id, objects.c.object_id == ref.object_id)
    row = conn.execute(query).first()
    return _obj(row) if row is not None else None


def by_pk(conn: Connection, pk: int) -> Obj | None:
    row = conn.execute(_COLUMNS.where(objects.c.id == pk)).first()
    return _obj(row) if row is not None else None


def _obj(row: Any) -> Obj:
    return Obj(
        row.id, row.type_id, row.object_id, row.cio_object_id, msgspec.json.decode(row.attributes)
    )


def find_or_create(conn: Connection, workspace_id: int, ref: ObjectRef, now: int) -> Obj | None:
    """The named object, created when named by type and id; None for an unknown cio_object_id."""
    found = find(conn, workspace_id, ref)
    if found is not None or ref.cio_object_id is not None:
        return found
    cio_object_id = "ob" + secrets.token_hex(6)
    result = conn.execute(
        insert(objects).values(
            workspace_id=workspace_id,
            type_id=ref.type_id,
            object_id=ref.object_id,
            cio_object_id=cio_object_id,
            attributes="{}",
            created_at=now,
            updated_at=now,
        )
    )
    (pk,) = result.inserted_primary_key
    return Obj(pk, ref.type_id or "", ref.object_id or "", cio_object_id, {})


def merge_attributes(current: dict[str, str], values: dict[str, Any]) -> dict[str, str]:
    """Object and relationship attributes: strings, `null` or `""` removes one."""
    check_attributes(values)
    merged = dict(current)
    for name, value in values.items():
        if is_removal(value):
            merged.pop(name, None)
        else:
            merged[name] = render(value)[0]
    return merged


def set_attributes(conn: Connection, obj: Obj, values: dict[str, Any], now: int) -> Obj:
    merged = merge_attributes(obj.attributes, values)
    if len(_encode(merged)) > 100_000:
        raise bad_request("object attributes cannot exceed 100 KB in total", "attributes")
    conn.execute(
        update(objects)
        .where(objects.c.id == obj.pk)
        .values(attributes=_encode(merged).decode(), updated_at=now)
    )
    return Obj(obj.pk, obj.type_id, obj.object_id, obj.cio_object_id, merged)


def remove(conn: Connection, obj: Obj) -> None:
    """Delete an object; its relationships go with it."""
    conn.execute(delete(objects).where(objects.c.id == obj.pk))
