"""A person's activity log, as `GET /v1/customers/{id}/activities` shows it.

Stored `events.type` -> Customer.io activity `type`:

| stored                    | shown                     | notes                                   |
| ------------------------- | ------------------------- | --------------------------------------- |
| `event`                   | `event`                   | `name` is the event name                |
| `page`                    | `page`                    | `name` and `url` are the page URL       |
| `screen`                  | `screen`                  | `name` is the screen name               |
| `attribute_change`        | `attribute_change`        | `data` is `{attribute: {from, to}}`     |
| `failed_attribute_change` | `failed_attribute_change` | `name` is the attribute                 |
| anything else             | unchanged                 | e.g. `form_submit` (`name` is the form) |

Customer.io's `data` for an attribute change has string `from`/`to`; an
attribute that was absent before (or removed) shows as `""`, as it does there.

Newest first: ordered by `(timestamp, id)` descending and keyset-paged on that
pair. `limit` defaults to 10 and is clamped to 100, Customer.io's documented
default and maximum. `type` filters by shown type (an unknown type matches
nothing); `name` matches the event, page or screen name, or, for attribute
changes, any attribute that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select

from tidings import paging
from tidings.activity import browse
from tidings.db.schema import events
from tidings.errors import bad_request
from tidings.people import read, store
from tidings.people.store import Person

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
SHOWN_TYPES = {
    "event": "event",
    "page": "page",
    "screen": "screen",
    "attribute_change": "attribute_change",
    "failed_attribute_change": "failed_attribute_change",
}
_STORED_TYPES = {shown: stored for stored, shown in SHOWN_TYPES.items()}
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ActivityQuery:
    """Filters and page of one activities request; empty filters match everything."""

    page: paging.PageRequest
    type: str = ""
    name: str = ""


QUERY = (*paging.QUERY, "type", "name")  # what `parse_query` reads


def parse_query(query: dict[str, str]) -> ActivityQuery:
    page = paging.parse_page(query, default=DEFAULT_LIMIT, maximum=MAX_LIMIT, arity=2)
    return ActivityQuery(page, query.get("type", ""), query.get("name", ""))


def activities_of(
    conn: Connection, workspace_id: int, raw: str, id_type: str, request: ActivityQuery
) -> dict[str, Any]:
    """`{"activities": [...], "next": cursor or ""}` for the person named; 404 if unknown."""
    person = read.lookup(conn, workspace_id, raw, id_type)
    query = select(
        events.c.id, events.c.type, events.c.name, events.c.timestamp, events.c.data
    ).where(events.c.workspace_id == workspace_id, events.c.person_id == person.pk)
    query = _filtered(conn, query, request)
    if request.page.after is not None:
        ts, last_id = request.page.after
        query = query.where(
            or_(events.c.timestamp < ts, and_(events.c.timestamp == ts, events.c.id < last_id))
        )
    order = (events.c.timestamp.desc(), events.c.id.desc())
    rows = conn.execute(query.order_by(*order).limit(request.page.limit + 1)).all()
    shown, cursor = paging.cut(rows, request.page.limit, lambda row: (row.timestamp, row.id))
    who = read.identifiers(person, read.shown_email(conn, person))
    return {"activities": [_activity(row, person, who) for row in shown], "next": cursor}


WORKSPACE_QUERY = (*QUERY, "customer_id", "id_type", "deleted")  # what `GET /v1/activities` reads


def parse_workspace_query(query: dict[str, str]) -> tuple[ActivityQuery, str, str]:
    """The filters and page of `GET /v1/activities`, the person (`customer_id`, or
    "" for everyone) and its `id_type`. `deleted` is accepted and changes
    nothing: a deleted person's activities are deleted with them here."""
    if query.get("deleted", "") not in ("", "true", "false"):
        raise bad_request("deleted must be true or false", "deleted")
    return parse_query(query), query.get("customer_id", ""), read.parse_id_type(query)


def workspace_activities(
    conn: Connection, workspace_id: int, request: ActivityQuery, raw: str, id_type: str
) -> dict[str, Any]:
    """`GET /v1/activities`: the workspace's activities, newest first, in the shape of a
    person's (`activities_of`, which answers when a person is named).

    The walk is `activity.browse`'s: with a type or name filter a page reads a
    bounded window of the log, and a page short for that reason still has `next`.
    An anonymous visitor's activity shows with null identifiers.
    """
    if raw:
        return activities_of(conn, workspace_id, raw, id_type, request)
    after = request.page.after
    log = browse.LogQuery(
        limit=request.page.limit,
        after=(after[0], after[1]) if after is not None else None,
        type=_STORED_TYPES.get(request.type, request.type),
        name=request.name,
    )
    found = browse.recent(conn, workspace_id, log)
    people = store.by_pks(conn, list({e.person_pk for e in found.entries if e.person_pk}))
    attributes = store.attributes_of(conn, list(people))  # one statement, not one per person
    shown = {pk: read.identifiers(p, _shown_email(p, attributes[pk])) for pk, p in people.items()}
    items = [
        _activity(entry, people.get(entry.person_pk or 0), shown.get(entry.person_pk or 0))
        for entry in found.entries
    ]
    cursor = paging.encode_cursor(found.next) if found.next is not None else ""
    return {"activities": items, "next": cursor}


def _shown_email(person: Person, attributes: dict[str, store.Stored]) -> str | None:
    """`read.shown_email` from attributes already loaded."""
    email = attributes.get("email")
    return email.value if email is not None else person.email


def _filtered(conn: Connection, query: Select, request: ActivityQuery) -> Select:  # type: ignore[type-arg]
    if request.type:
        query = query.where(events.c.type == _STORED_TYPES.get(request.type, request.type))
    if request.name:
        changed = and_(events.c.type == "attribute_change", _changed_attribute(conn, request.name))
        query = query.where(or_(events.c.name == request.name, changed))
    return query


def _changed_attribute(conn: Connection, name: str) -> ColumnElement[bool]:
    """Whether an attribute_change row's JSON names `name` among its changes.

    The stored document is `{"attributes": {name: {"from": ..., "to": ...}}}`;
    a JSON-encoded key followed by `:{"from":` cannot occur inside a string
    value (its quotes would be escaped), so a case-sensitive substring test
    is exact.
    """
    needle = _encode(name).decode() + ':{"from":'
    position = func.instr if conn.dialect.name == "sqlite" else func.strpos
    return position(events.c.data, needle) > 0


def _activity(row: Any, person: Person | None, who: dict[str, Any] | None) -> dict[str, Any]:
    data = msgspec.json.decode(row.data)
    shown = SHOWN_TYPES.get(row.type, row.type)
    if row.type == "attribute_change":
        data = {
            attr: {"from": _text(change.get("from")), "to": _text(change.get("to"))}
            for attr, change in data.get("attributes", {}).items()
        }
    item = {
        "id": str(row.id),
        "customer_id": person.customer_id if person is not None else None,
        "customer_identifiers": who or {"email": None, "id": None, "cio_id": None},
        "type": shown,
        "name": row.name,
        "timestamp": row.timestamp,
        "data": data,
        "delivery_id": None,
        "delivery_type": None,
    }
    if shown == "page":
        item["url"] = row.name
    return item


def _text(value: Any) -> str:
    return "" if value is None else str(value)
