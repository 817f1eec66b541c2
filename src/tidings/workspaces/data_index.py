"""The data index's metadata: `POST /v1/data_index/attributes` and `/events`.

Customer.io's data index lists the attribute and event names a workspace has
seen; these two calls add or change what is known about a name (a
description, for attributes a privacy level), 1 to 100 at a time, and answer
204. A name may be described before any person has it (Customer.io shows it
once one does). An attribute is a person's unless it names an
`object_type_id` (an object attribute, or with `is_relationship` a
relationship attribute) or an `event_name` (an event's data attribute), so
one name can be described once in each scope. A field left out keeps its
value; `null` clears it. The whole batch is checked before any of it is
written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from tidings.db.schema import data_index
from tidings.errors import bad_request

MAX_ITEMS = 100
MAX_NAME = 255
MAX_DESCRIPTION = 10_000


@dataclass(frozen=True)
class Entry:
    """One name's metadata as asked: `given` holds the fields the request named
    (`description`, `privacy_level`); the others are kept as they are. Plain
    values only: entries travel to the writer process pickled."""

    kind: str  # attribute | event
    scope: str
    name: str
    given: dict[str, Any] = field(default_factory=dict)


def parse(kind: str, body: dict[str, Any]) -> list[Entry]:
    """The entries of an `attributes` or `events` body; a 400 names the first problem."""
    key = kind + "s"
    items = body.get(key)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise bad_request(f"{key} must be an array of 1 to {MAX_ITEMS} objects", key)
    return [_entry(kind, item, f"{key}[{i}]") for i, item in enumerate(items)]


def _entry(kind: str, item: Any, where: str) -> Entry:
    if not isinstance(item, dict):
        raise bad_request(f"{where} must be an object", where)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise bad_request(f"{where}.name must be a name of 1 to {MAX_NAME} characters", where)
    found: dict[str, Any] = {}
    if "description" in item:
        found["description"] = _description(item["description"], where)
    if kind == "attribute" and "privacy_level" in item:
        found["privacy_level"] = _privacy_level(item["privacy_level"], where)
    scope = _scope(item, where) if kind == "attribute" else ""
    return Entry(kind, scope, name, found)


def _description(value: Any, where: str) -> str | None:
    if value is None or (isinstance(value, str) and len(value) <= MAX_DESCRIPTION):
        return value
    raise bad_request(
        f"{where}.description must be text of at most {MAX_DESCRIPTION} characters", where
    )


def _privacy_level(value: Any, where: str) -> int | None:
    if value is None or (type(value) is int and 0 <= value <= 100):
        return value
    raise bad_request(f"{where}.privacy_level must be an integer from 0 to 100", where)


def _scope(item: dict[str, Any], where: str) -> str:
    object_type = item.get("object_type_id")
    event_name = item.get("event_name")
    if object_type is not None and event_name is not None:
        raise bad_request(f"{where} names both object_type_id and event_name", where)
    if object_type is not None:
        if type(object_type) is not int or object_type < 1:
            raise bad_request(f"{where}.object_type_id must be a positive integer", where)
        relationship = item.get("is_relationship") is True
        return f"{'relationship' if relationship else 'object'}:{object_type}"
    if event_name is not None:
        if not isinstance(event_name, str) or not event_name or len(event_name) > 150:
            raise bad_request(f"{where}.event_name must be an event name", where)
        return f"event:{event_name}"
    return ""


def update(conn: Connection, workspace_id: int, entries: list[Entry], now: int) -> None:
    """Add or change each entry's metadata (the last of a name in the batch wins)."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    for entry in entries:
        given = entry.given
        statement = dialect.insert(data_index).values(
            workspace_id=workspace_id,
            kind=entry.kind,
            scope=entry.scope,
            name=entry.name,
            updated_at=now,
            **given,
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    data_index.c.workspace_id,
                    data_index.c.kind,
                    data_index.c.scope,
                    data_index.c.name,
                ],
                set_={**given, "updated_at": now},
            )
        )


def described(conn: Connection, workspace_id: int, kind: str) -> list[dict[str, Any]]:
    """The metadata stored for a kind, by scope and name (for reads and tests)."""
    rows = conn.execute(
        data_index.select()
        .where(data_index.c.workspace_id == workspace_id, data_index.c.kind == kind)
        .order_by(data_index.c.scope, data_index.c.name)
    ).all()
    return [
        {
            "scope": r.scope,
            "name": r.name,
            "description": r.description,
            "privacy_level": r.privacy_level,
        }
        for r in rows
    ]
