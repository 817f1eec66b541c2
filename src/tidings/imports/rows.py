"""One record of an import file -> the request a Track call would make (pure).

Every row goes through Track's own parsers (`people.service.parse_identify`,
`events.service.parse_event`, `identifiers.of_type`), so an imported row is
accepted, refused and stored exactly as the same identify or event call
would be. This module only maps file columns onto Track bodies:

People, CSV: the `identifier` column (`id` or `email`) names the person;
every column, that one included, is an attribute of an identify body. An
empty cell leaves the attribute unchanged (a CSV cannot tell "no value"
from "remove"; to remove attributes, use JSON Lines with `null`). A
`_timestamp` cell of digits is read as unix seconds.

People, JSON Lines: each line is an identify body (Track v1 form) that
holds the identifier key.

Events, CSV: the `identifier` column names the person, `name` the event;
optional `timestamp` (unix seconds or ISO 8601; none = time of import),
`event_id` (the dedup key Track calls `id`) and `type` (event, page or
screen); every other non-empty cell is a key of the event's `data`.

Events, JSON Lines: each line is a Track v1 event body (`name`, `type`,
`data`, `timestamp`) plus the identifier key and an optional `event_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tidings.errors import bad_request
from tidings.events import service as events
from tidings.imports.reading import FileRejected
from tidings.numbers import is_digits
from tidings.people import service as people
from tidings.people.identifiers import Identifier, of_type

KINDS = ("people", "events")
IDENTIFIERS = ("id", "email")
FORMATS = ("csv", "jsonl")
PROCESS = ("all", "only_new", "only_existing")
EVENT_COLUMNS = ("name", "type", "timestamp", "event_id")
EVENT_KEYS = frozenset({"name", "type", "data", "timestamp", "event_id"})


@dataclass(frozen=True)
class Spec:
    """What a file holds and how to apply it."""

    kind: str  # people | events
    identifier: str  # id | email: the column (or key) that names the person
    format: str = "csv"  # csv | jsonl
    process: str = "all"  # all | only_new | only_existing (people that exist already)


def check_header(spec: Spec, header: list[str]) -> None:
    """Refuse a CSV file whose columns cannot make the rows the spec asks for."""
    if spec.identifier not in header:
        raise FileRejected(f"the header has no {spec.identifier!r} column to name people by")
    if spec.kind == "events" and "name" not in header:
        raise FileRejected("the header has no 'name' column for the event names")


def parse_row(spec: Spec, values: dict[str, Any], now: int) -> tuple[Identifier, Any]:
    """(person, IdentifyRequest | Event) for one row; `ApiError` when Track would refuse it."""
    if spec.kind == "people":
        return _person(spec, values, now)
    return _event(spec, values, now)


def _person(spec: Spec, values: dict[str, Any], now: int) -> tuple[Identifier, Any]:
    body = values
    if spec.format == "csv":
        body = {k: v for k, v in values.items() if v != ""}
        if isinstance(body.get("_timestamp"), str) and is_digits(body["_timestamp"].strip()):
            body["_timestamp"] = int(body["_timestamp"])
    ident = _identifier(spec, body)
    return ident, people.parse_identify(body, now)


def _event(spec: Spec, values: dict[str, Any], now: int) -> tuple[Identifier, Any]:
    if spec.format == "csv":
        data = {k: v for k, v in values.items() if k not in _reserved(spec) and v != ""}
        body = {k: values.get(k) or None for k in EVENT_COLUMNS} | {"data": data}
    else:
        unknown = sorted(set(values) - EVENT_KEYS - {spec.identifier})
        if unknown:
            raise bad_request("unknown keys (event properties go in data): " + ", ".join(unknown))
        body = dict(values)
    ident = _identifier(spec, values)
    body["id"] = body.pop("event_id", None)
    body["timestamp"] = _iso_seconds(body.get("timestamp"))
    present = {k: v for k, v in body.items() if v is not None}  # an empty cell is no value
    return ident, events.parse_event(present).received(now)


def _reserved(spec: Spec) -> frozenset[str]:
    return frozenset(EVENT_COLUMNS) | {spec.identifier}


def _identifier(spec: Spec, values: dict[str, Any]) -> Identifier:
    raw = values.get(spec.identifier)
    if raw is None or raw == "":
        raise bad_request(f"{spec.identifier} is required to name the person", spec.identifier)
    return of_type(spec.identifier, raw, field=spec.identifier)


def _iso_seconds(value: Any) -> Any:
    """An ISO 8601 string as unix seconds (UTC unless it says otherwise); else as it was.

    What is neither ISO 8601 nor unix seconds is left for Track's parser to refuse.
    """
    if not isinstance(value, str) or is_digits(value.strip()):
        return value
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
