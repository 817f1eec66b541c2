"""What the App API shows of a person, in Customer.io's shapes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tidings.errors import ApiError, not_found
from tidings.people import devices, store
from tidings.people.attributes import is_truthy_flag
from tidings.people.identifiers import KINDS, Identifier, of_type
from tidings.people.store import Person


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


def customer(conn: Connection, person: Person) -> dict[str, Any]:
    """The `customer` object of `GET /v1/customers/{id}/attributes`.

    Every attribute value is a string; `timestamps` says when each was set.
    """
    stored = store.load_attributes(conn, person.pk)
    attrs = {name: item.value for name, item in stored.items()}
    stamps = {name: item.updated_at for name, item in stored.items()}
    attrs["cio_id"] = person.cio_id
    stamps["cio_id"] = person.created_at
    unsubscribed = stored.get("unsubscribed")
    return {
        "id": person.customer_id,
        "identifiers": {
            "email": attrs.get("email", person.email),
            "id": person.customer_id,
            "cio_id": person.cio_id,
        },
        "attributes": attrs,
        "timestamps": stamps,
        "unsubscribed": bool(unsubscribed and is_truthy_flag(unsubscribed.value)),
        "devices": devices.of_person(conn, person.pk),
    }


def attributes_of(conn: Connection, workspace_id: int, raw: str, id_type: str) -> dict[str, Any]:
    return {"customer": customer(conn, lookup(conn, workspace_id, raw, id_type))}


def by_email(conn: Connection, workspace_id: int, email: str) -> dict[str, Any]:
    """`GET /v1/customers?email=`: everyone with that email (at most one here)."""
    person = store.find(conn, workspace_id, Identifier("email", email)) if email else None
    results = []
    if person is not None:
        shown = store.load_attributes(conn, person.pk).get("email")
        results.append(
            {
                "email": shown.value if shown else person.email,
                "id": person.customer_id,
                "cio_id": person.cio_id,
            }
        )
    return {"results": results}
