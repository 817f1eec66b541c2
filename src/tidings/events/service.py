"""Tracking events: validate, deduplicate on `id`, attach to a person or an anonymous id."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection

from tidings.activity import log as activity_log
from tidings.errors import bad_request
from tidings.events import bulk, dedup
from tidings.people import anonymous_locks
from tidings.people import store as people_store
from tidings.people.anonymous_locks import AnonymousId
from tidings.people.identifiers import Identifier, check_id
from tidings.timestamps import optional_seconds

MAX_NAME_BYTES = 100
MAX_DATA_BYTES = 100_000
TYPES = ("event", "page", "screen")

_encode = msgspec.json.Encoder().encode


class Event(msgspec.Struct, frozen=True):
    """A validated event; a frozen msgspec Struct, cheap to build for every batch item."""

    name: str
    type: str
    data_json: str
    timestamp: int | None
    dedup_id: str | None

    def received(self, now: int) -> Event:
        """This event with its timestamp defaulted to the receipt time (`bulk.occurred`)."""
        stamped = bulk.occurred(self.timestamp, now)
        return (
            self if stamped == self.timestamp else msgspec.structs.replace(self, timestamp=stamped)
        )


def parse_event(
    body: dict[str, Any],
    *,
    data_key: str = "data",
    name_required: bool = True,
    type_: str | None = None,
) -> Event:
    """Validate an event body (v1 `data`, v2 `attributes`) against the documented limits.

    `timestamp` and (v1) `type` may be left out but not sent as `null`: the
    schema types them integer and string, and no official client sends null.
    """
    for key in ("timestamp",) if type_ else ("timestamp", "type"):
        if key in body and body[key] is None:
            raise bad_request(f"{key} cannot be null; leave it out instead", key)
    name = body.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        if name_required:
            raise bad_request("name cannot be blank", "name")
        name = ""
    if not isinstance(name, str):
        raise bad_request("name must be a string", "name")
    name = name.strip()
    if len(name.encode()) > MAX_NAME_BYTES:
        raise bad_request(f"event name cannot be longer than {MAX_NAME_BYTES} bytes", "name")
    kind = type_ or body.get("type") or "event"
    if kind not in TYPES:
        raise bad_request("type must be one of event, page or screen", "type")
    return Event(
        name,
        kind,
        _data(body.get(data_key), data_key),
        _ts(body.get("timestamp")),
        _dedup_id(body.get("id")),
    )


def _data(value: Any, field: str) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be an object", field)
    encoded = _encode(value)
    if len(encoded) > MAX_DATA_BYTES:
        raise bad_request(f"event data cannot be larger than {MAX_DATA_BYTES} bytes", field)
    return encoded.decode()


def _ts(value: Any) -> int | None:
    return optional_seconds(value, digit_strings=True)


def _dedup_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise bad_request("id must be a string", "id")
    if len(str(value).encode()) > 200:
        raise bad_request("id cannot be longer than 200 bytes", "id")
    return str(value)


def parse_anonymous_id(value: Any) -> str | None:
    """An anonymous id (at most 150 bytes, like person ids); empty means an invite event."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request("anonymous_id must be a string", "anonymous_id")
    check_id(value, "anonymous_id")
    return value


def track(conn: Connection, workspace_id: int, ident: Identifier, event: Event, now: int) -> None:
    """Record an event for the person named, creating them on first mention.

    An event whose `id` this workspace has seen before is dropped (a retry).
    A run of one of `events.bulk.track_many`, which holds the rules.
    """
    bulk.track_many(conn, workspace_id, [bulk.plain(ident, event)], now)


def anonymous_ids(workspace_id: int, anonymous_id: str | None) -> list[AnonymousId]:
    """The anonymous id `track_anonymous` looks up (none for an invite event)."""
    return [(workspace_id, anonymous_id)] if anonymous_id else []


def track_anonymous(
    conn: Connection, workspace_id: int, anonymous_id: str | None, event: Event, now: int
) -> None:
    """An event for someone not yet identified (or, without anonymous_id, an invite).

    If a person already carries this `anonymous_id`, the event is theirs at once.
    Dedup and timestamp follow `events.bulk.track_many`. The id is locked first
    (`people.anonymous_locks`), so an identify claiming it at once sees the event.
    """
    anonymous_locks.lock(conn, anonymous_ids(workspace_id, anonymous_id))
    if not dedup.first_sighting(conn, workspace_id, dedup.event_key(event.dedup_id), now):
        return
    person_pk = None
    if anonymous_id:
        owner = people_store.find_by_attribute(conn, workspace_id, "anonymous_id", anonymous_id)
        person_pk = owner.pk if owner is not None else None
    activity_log.append(
        conn,
        workspace_id,
        person_pk=person_pk,
        anonymous_id=anonymous_id or None,
        type=event.type,
        name=event.name,
        timestamp=bulk.occurred(event.timestamp, now),
        received_at=now,
        data=event.data_json,
    )
