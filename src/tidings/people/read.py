"""What the App API shows of a person, in Customer.io's shapes.

Every read starts from `lookup`, which only ever sees the caller's workspace:
another workspace's person is a 404 exactly like a person who does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings import paging
from tidings.attributes import is_truthy_flag
from tidings.db.schema import objects, relationships
from tidings.errors import ApiError, bad_request, not_found
from tidings.people import devices, store
from tidings.people.identifiers import KINDS, Identifier, coerce_id, of_type
from tidings.people.store import Person

MAX_BULK_IDS = 100
# Customer.io documents no default or maximum page size for relationships.
RELATIONSHIPS_LIMIT = 100
RELATIONSHIPS_MAX = 1000


def parse_id_type(query: dict[str, str]) -> str:
    id_type = query.get("id_type", "id") or "id"
    if id_type not in KINDS:
        raise ApiError(400, f"id_type must be one of: {', '.join(KINDS)}", field="id_type")
    return id_type


def lookup(conn: Connection, workspace_id: int, raw: str, id_type: str) -> Person:
    """The person an App API path names; another workspace's person is a 404 like any other."""
    person = store.find(conn, workspace_id, of_type(id_type, raw, field="customer_id"))
    if person is None:
        raise not_found("customer not found")
    return person


def identifiers(person: Person, shown_email: str | None) -> dict[str, Any]:
    """`{email, id, cio_id}`: unset ones are null; email as the person last sent it."""
    return {
        "email": shown_email if shown_email is not None else person.email,
        "id": person.customer_id,
        "cio_id": person.cio_id,
    }


def shown_email(conn: Connection, person: Person) -> str | None:
    """The `email` attribute as sent (the identifier column is lower-cased)."""
    stored = store.load_attributes(conn, person.pk).get("email")
    return stored.value if stored is not None else person.email


# Attributes computed rather than stored (by the subscription center, above this
# layer): name -> value as text, shown with timestamp 0 as Customer.io shows them.
Computed = Callable[[Connection, Person], dict[str, str]]


def customer(conn: Connection, person: Person, computed: Computed | None = None) -> dict[str, Any]:
    """The `customer` object of `GET /v1/customers/{id}/attributes`.

    Every attribute value is a string; `timestamps` says when each was set.
    """
    stored = store.load_attributes(conn, person.pk)
    attrs = {name: item.value for name, item in stored.items()}
    stamps = {name: item.updated_at for name, item in stored.items()}
    attrs["cio_id"] = person.cio_id
    stamps["cio_id"] = person.created_at
    for name, value in (computed(conn, person) if computed is not None else {}).items():
        attrs[name], stamps[name] = value, 0
    unsubscribed = stored.get("unsubscribed")
    return {
        "id": person.customer_id,
        "identifiers": identifiers(person, attrs.get("email")),
        "attributes": attrs,
        "timestamps": stamps,
        "unsubscribed": bool(unsubscribed and is_truthy_flag(unsubscribed.value)),
        "devices": devices.of_person(conn, person.pk),
    }


def attributes_of(
    conn: Connection,
    workspace_id: int,
    raw: str,
    id_type: str,
    computed: Computed | None = None,
) -> dict[str, Any]:
    return {"customer": customer(conn, lookup(conn, workspace_id, raw, id_type), computed)}


def parse_bulk_ids(body: Any) -> list[str]:
    """`{"ids": [...]}` of `POST /v1/customers/attributes`: 1 to 100 strings or numbers."""
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise bad_request("ids must be a non-empty array", "ids")
    if len(ids) > MAX_BULK_IDS:
        raise bad_request(f"ids cannot hold more than {MAX_BULK_IDS} entries", "ids")
    return [coerce_id(value, "ids") for value in ids]


def attributes_of_many(
    conn: Connection,
    workspace_id: int,
    ids: list[str],
    id_type: str,
    computed: Computed | None = None,
) -> dict[str, Any]:
    """`POST /v1/customers/attributes`: each known person once, in request order.

    Unknown identifiers are left out rather than reported, as Customer.io does.
    """
    keys = list(dict.fromkeys(of_type(id_type, value, field="ids").key for value in ids))
    found = {
        _key(person, id_type): person
        for person in store.find_many(conn, workspace_id, id_type, keys)
    }
    people = [found[key] for key in keys if key in found]
    return {"customers": [{"customer": customer(conn, person, computed)} for person in people]}


def _key(person: Person, id_type: str) -> str | None:
    return {"id": person.customer_id, "email": person.email, "cio_id": person.cio_id}[id_type]


def by_email(conn: Connection, workspace_id: int, email: str) -> dict[str, Any]:
    """`GET /v1/customers?email=`: everyone with that email (at most one here)."""
    person = store.find(conn, workspace_id, Identifier("email", email)) if email else None
    results = []
    if person is not None:
        results.append(identifiers(person, shown_email(conn, person)))
    return {"results": results}


def relationships_of(
    conn: Connection, workspace_id: int, raw: str, id_type: str, page: paging.PageRequest
) -> dict[str, Any]:
    """`GET /v1/customers/{id}/relationships`: the objects the person relates to.

    Oldest relationship first, keyset-paged on the relationship's id.
    """
    person = lookup(conn, workspace_id, raw, id_type)
    query = (
        select(
            relationships.c.id,
            relationships.c.attributes,
            objects.c.type_id,
            objects.c.object_id,
            objects.c.cio_object_id,
        )
        .join(objects, objects.c.id == relationships.c.object_pk)
        .where(relationships.c.person_id == person.pk)
    )
    if page.after is not None:
        query = query.where(relationships.c.id > page.after[0])
    rows = conn.execute(query.order_by(relationships.c.id).limit(page.limit + 1)).all()
    shown, cursor = paging.cut(rows, page.limit, lambda row: (row.id,))
    return {"cio_relationships": [_relationship(row) for row in shown], "next": cursor}


def _relationship(row: Any) -> dict[str, Any]:
    return {
        "identifiers": {
            "object_type_id": row.type_id,
            "object_id": row.object_id,
            "cio_object_id": row.cio_object_id,
        },
        "relationship_attributes": msgspec.json.decode(row.attributes),
    }
