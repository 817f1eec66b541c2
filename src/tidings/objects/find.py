"""Objects through the App API: find with a filter, one object's attributes, the types.

`POST /v1/objects` takes `{"object_type_id": "1", "filter": ...}` where the
filter is Customer.io's object filter: `object_attribute` leaves
(`{field, operator: eq|exists, value, type_id}`) combined with `and` / `or`
(arrays) and `not` (one filter). `eq` compares the attribute's string form
(object attributes are stored as the strings Customer.io shows) with the
value's; `exists` asks for the attribute. A leaf whose `type_id` names
another type than the request's matches nothing, as it names no attribute
of these objects.

Paging: oldest object first, keyset-paged on the object's row id (`start` /
`limit`, `next` is `""` on the last page). Objects are read in batches of
`BATCH` rows and the filter evaluated here, so a page reads at most
`SCAN_ROWS` objects; a page short for that reason still carries `next`.

Object types: Customer.io declares them in its UI; here a type exists once an
object of it does (Track v1/v2 and Pipelines create objects with their
`object_type_id`), and is listed with a name made from its id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings import paging
from tidings.attributes import render
from tidings.db.schema import objects
from tidings.errors import bad_request, not_found
from tidings.numbers import is_digits
from tidings.objects import store
from tidings.objects.store import Obj, ObjectRef

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
BATCH = 500
SCAN_ROWS = 10_000
ID_TYPES = ("object_id", "cio_object_id")
MAX_DEPTH = 16

Matcher = Callable[[dict[str, str]], bool]


def parse_type_id(raw: Any, field: str = "object_type_id") -> str:
    """An object type id: an integer of at least 1, sent as a string or a number."""
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not is_digits(text) or int(text) < 1:
        raise bad_request(f"{field} must be an integer of at least 1", field)
    return text


def parse_id_type(query: dict[str, str]) -> str:
    id_type = query.get("id_type", "") or "object_id"
    if id_type not in ID_TYPES:
        raise bad_request(f"id_type must be one of: {', '.join(ID_TYPES)}", "id_type")
    return id_type


def ref_of(type_id: str, raw: str, id_type: str) -> ObjectRef:
    """How a path names an object: its type and `object_id`, or its `cio_object_id`."""
    type_id = parse_type_id(type_id)
    if id_type == "cio_object_id":
        return ObjectRef(type_id=type_id, cio_object_id=raw)
    return ObjectRef(type_id=type_id, object_id=raw)


def lookup(conn: Connection, workspace_id: int, ref: ObjectRef) -> Obj:
    """The object a path names; one of another type or workspace is a 404."""
    found = store.find(conn, workspace_id, ref)
    if found is None or found.type_id != ref.type_id:
        raise not_found("object not found")
    return found


def parse_search(body: dict[str, Any]) -> tuple[str, Matcher]:
    """The body of `POST /v1/objects`: the type searched and the filter, as a predicate."""
    if "object_type_id" not in body:
        raise bad_request("object_type_id is required", "object_type_id")
    type_id = parse_type_id(body["object_type_id"])
    if "filter" not in body:
        raise bad_request("filter is required", "filter")
    return type_id, _matcher(body["filter"], type_id, "filter", 0)


def _matcher(node: Any, type_id: str, field: str, depth: int) -> Matcher:
    if depth > MAX_DEPTH:
        raise bad_request(f"filter cannot nest more than {MAX_DEPTH} levels", field)
    if not isinstance(node, dict) or len(node) != 1:
        raise bad_request(
            "each filter must be an object with one of: and, or, not, object_attribute", field
        )
    ((key, value),) = node.items()
    if key in ("and", "or"):
        if not isinstance(value, list) or not value:
            raise bad_request(f"{key} must be a non-empty array of filters", f"{field}.{key}")
        parts = [
            _matcher(item, type_id, f"{field}.{key}[{i}]", depth + 1)
            for i, item in enumerate(value)
        ]
        combine = all if key == "and" else any
        return lambda attrs: combine(part(attrs) for part in parts)
    if key == "not":
        inner = _matcher(value, type_id, f"{field}.not", depth + 1)
        return lambda attrs: not inner(attrs)
    if key == "object_attribute":
        return _leaf(value, type_id, f"{field}.object_attribute")
    raise bad_request(f"unknown filter {key!r}: use and, or, not or object_attribute", field)


def _leaf(node: Any, type_id: str, field: str) -> Matcher:
    if not isinstance(node, dict):
        raise bad_request("object_attribute must be an object", field)
    name, operator = node.get("field"), node.get("operator")
    if not isinstance(name, str) or not name:
        raise bad_request("object_attribute.field must be a non-empty string", f"{field}.field")
    if operator not in ("eq", "exists"):
        raise bad_request("object_attribute.operator must be eq or exists", f"{field}.operator")
    if "type_id" not in node:
        raise bad_request("object_attribute.type_id is required", f"{field}.type_id")
    same_type = parse_type_id(node["type_id"], f"{field}.type_id") == type_id
    if operator == "exists":
        return lambda attrs: same_type and name in attrs
    if node.get("value") is None:
        raise bad_request("object_attribute.value is required with eq", f"{field}.value")
    wanted = render(node["value"])[0]
    return lambda attrs: same_type and attrs.get(name) == wanted


def find_objects(
    conn: Connection, workspace_id: int, type_id: str, matches: Matcher, page: paging.PageRequest
) -> dict[str, Any]:
    """`{"identifiers": [{object_id, cio_object_id}], "ids": [...], "next": cursor}`."""
    found: list[Any] = []
    after = page.after[0] if page.after is not None else 0
    for _ in range(SCAN_ROWS // BATCH):
        rows = _batch(conn, workspace_id, type_id, after)
        found += [row for row in rows if matches(msgspec.json.decode(row.attributes))]
        if len(rows) < BATCH or len(found) > page.limit:
            break
        after = rows[-1].id
    else:  # the scan window ended before the page filled: go on from where it stopped
        return _answer(found, paging.encode_cursor((after,)))
    shown, cursor = paging.cut(found, page.limit, lambda row: (row.id,))
    return _answer(shown, cursor)


def _batch(conn: Connection, workspace_id: int, type_id: str, after: int) -> list[Any]:
    query = (
        select(objects.c.id, objects.c.object_id, objects.c.cio_object_id, objects.c.attributes)
        .where(
            objects.c.workspace_id == workspace_id,
            objects.c.type_id == type_id,
            objects.c.id > after,
        )
        .order_by(objects.c.id)
        .limit(BATCH)
    )
    return list(conn.execute(query).all())


def _answer(rows: list[Any], cursor: str) -> dict[str, Any]:
    return {
        "identifiers": [
            {"object_id": row.object_id, "cio_object_id": row.cio_object_id} for row in rows
        ],
        "ids": [row.object_id for row in rows],
        "next": cursor,
    }


def attributes_of(conn: Connection, workspace_id: int, ref: ObjectRef) -> dict[str, Any]:
    """`{"object": {attributes, timestamps, identifiers, object_type_id}}`.

    Attributes are kept as one document per object, so each timestamp is when
    the object was last changed.
    """
    obj = lookup(conn, workspace_id, ref)
    updated = conn.execute(select(objects.c.updated_at).where(objects.c.id == obj.pk)).scalar_one()
    return {
        "object": {
            "attributes": obj.attributes,
            "timestamps": {name: updated for name in obj.attributes},
            "identifiers": {"object_id": obj.object_id, "cio_object_id": obj.cio_object_id},
            "object_type_id": obj.type_id,
        }
    }


def object_types(conn: Connection, workspace_id: int) -> dict[str, Any]:
    """`{"types": [...]}`: every type some object of the workspace has, by id."""
    found = conn.execute(
        select(objects.c.type_id).where(objects.c.workspace_id == workspace_id).distinct()
    ).scalars()
    ids = sorted(found, key=int)
    return {"types": [_type(type_id) for type_id in ids]}


def _type(type_id: str) -> dict[str, Any]:
    return {
        "id": type_id,
        "name": f"Object type {type_id}",
        "singular_name": f"Object type {type_id}",
        "slug": f"object-type-{type_id}",
        "singular_slug": f"object-type-{type_id}",
        "enabled": True,
        "icon": "",
    }
