"""Parsers for `type: person` operations (identify, delete, event, page, screen, ...).

Person identifiers are exactly one of `id`, `email` or `cio_id`; `phone` is
refused because phone is not an identifier here. `merge` names `primary` and
`secondary` instead of `identifiers`.
"""

from __future__ import annotations

from typing import Any

from tidings.errors import bad_request
from tidings.events import service as events
from tidings.objects.store import parse_ref
from tidings.people import devices, merge, objects
from tidings.people import service as people
from tidings.people.identifiers import Identifier, one_of
from tidings.track_v2.operation import (
    Operation,
    Parser,
    relationship_attributes,
    relationship_list,
    timestamp,
)


def _person(raw: dict[str, Any]) -> Identifier:
    return one_of(raw.get("identifiers"), "identifiers")


def parse_identify(raw: dict[str, Any], now: int) -> people.IdentifyRequest:
    """A v2 person identify: `attributes{..., _update}`, top-level `timestamp`.

    The top-level `timestamp` (never one inside `attributes`) orders racing
    updates; `cio_relationships` is a list of objects to relate the person to.
    """
    attrs = raw.get("attributes")
    if attrs is None:
        attrs = {}
    elif not isinstance(attrs, dict):
        raise bad_request("attributes must be an object", "attributes")
    update = attrs.get("_update", False)
    if not isinstance(update, bool):
        raise bad_request("attributes._update must be a boolean", "attributes._update")
    ts = timestamp(raw.get("timestamp"))
    relationships = raw.get("cio_relationships")
    if relationships is not None:
        _object_relationships(relationships)
    body = {k: v for k, v in attrs.items() if k != "_update"}
    body["_timestamp"] = ts
    request = people.parse_identify(body, now)
    request.update_only = update
    request.relationships = relationships
    return request


def _object_relationships(items: Any) -> list[dict[str, Any]]:
    """`[{identifiers: {object ids}, relationship_attributes?}]`, checked, unchanged."""
    for index, item in enumerate(relationship_list(items)):
        field = f"cio_relationships[{index}]"
        parse_ref(item.get("identifiers"), f"{field}.identifiers")
        relationship_attributes(item, field)
    return items  # type: ignore[no-any-return]


def _identify(raw: dict[str, Any], now: int) -> Operation:
    ident, request = _person(raw), parse_identify(raw, now)
    claimed = people.claimed_anonymous_id(request)
    anonymous = (claimed,) if claimed else ()
    return Operation(people.identify, (ident, request, now), anonymous=anonymous)


def _delete(raw: dict[str, Any], now: int) -> Operation:
    return Operation(people.delete_person, (_person(raw),), may_refuse=False)


def _event(action: str) -> Parser:
    def parse(raw: dict[str, Any], now: int) -> Operation:
        ident = _person(raw)
        event = events.parse_event(raw, data_key="attributes", type_=action)
        return Operation(events.track, (ident, event, now), False, ident, event)

    return parse


def _relationships(action: str) -> Parser:
    def parse(raw: dict[str, Any], now: int) -> Operation:
        ident = _person(raw)
        items = _object_relationships(raw.get("cio_relationships"))
        return Operation(objects.relate_person, (ident, action, items, now))

    return parse


def _add_device(raw: dict[str, Any], now: int) -> Operation:
    ident = _person(raw)
    device = devices.parse_device(raw.get("device"), token_key="token")
    return Operation(devices.add_to, (ident, device, now), may_refuse=False)


def _delete_device(raw: dict[str, Any], now: int) -> Operation:
    ident = _person(raw)
    device = raw.get("device")
    if not isinstance(device, dict):
        raise bad_request("device must be an object", "device")
    token = device.get("token", device.get("id"))
    if isinstance(token, bool) or not isinstance(token, str | int) or str(token) == "":
        raise bad_request("device.token is required", "device.token")
    return Operation(devices.remove_from, (ident, str(token)), may_refuse=False)


def _merge(raw: dict[str, Any], now: int) -> Operation:
    primary = one_of(raw.get("primary"), "primary")
    secondary = one_of(raw.get("secondary"), "secondary")
    return Operation(merge.merge_people, (primary, secondary, now), may_refuse=False)


def _suppress(raw: dict[str, Any], now: int) -> Operation:
    return Operation(people.suppress, (_person(raw), now), may_refuse=False)


def _unsuppress(raw: dict[str, Any], now: int) -> Operation:
    return Operation(people.unsuppress, (_person(raw),), may_refuse=False)


PERSON: dict[str, Parser] = {
    "identify": _identify,
    "delete": _delete,
    "event": _event("event"),
    "page": _event("page"),
    "screen": _event("screen"),
    "add_relationships": _relationships("add_relationships"),
    "delete_relationships": _relationships("delete_relationships"),
    "add_device": _add_device,
    "delete_device": _delete_device,
    "merge": _merge,
    "suppress": _suppress,
    "unsuppress": _unsuppress,
}
