"""Parsers for `type: object` and `type: delivery` operations.

Objects are named by `object_type_id` + `object_id`, or by `cio_object_id`.
Their `cio_relationships` name people (`id`, `email` or `cio_id`), or for
`identify_anonymous` anonymous visitors (`anonymous_id`; a top-level
`anonymous_id` is accepted too, as the spec's example shows).
"""

from __future__ import annotations

from typing import Any

from tidings.attributes import check_attributes
from tidings.errors import bad_request
from tidings.objects.store import ObjectRef, parse_ref
from tidings.people import objects
from tidings.people.identifiers import Identifier, check_id, one_of
from tidings.reporting import metrics
from tidings.track_v2.operation import (
    Operation,
    Parser,
    relationship_attributes,
    relationship_list,
    timestamp,
)

DELIVERY_EVENTS = ("opened", "converted", "delivered")


def _ref(raw: dict[str, Any]) -> ObjectRef:
    return parse_ref(raw.get("identifiers"), "identifiers")


def _attributes(raw: dict[str, Any]) -> dict[str, Any]:
    attrs = raw.get("attributes")
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise bad_request("attributes must be an object", "attributes")
    check_attributes(attrs)
    return attrs


def people_relationships(items: Any, required: bool) -> list[tuple[Identifier, dict[str, Any]]]:
    """`[{identifiers: {id|email|cio_id}, relationship_attributes?}]` as (person, attributes)."""
    parsed = []
    for index, item in enumerate(relationship_list(items, required)):
        field = f"cio_relationships[{index}]"
        ident = one_of(item.get("identifiers"), f"{field}.identifiers")
        parsed.append((ident, relationship_attributes(item, field)))
    return parsed


def anonymous_relationships(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """`[{identifiers: {anonymous_id}, relationship_attributes?}]`, plus a top-level one."""
    parsed = []
    for index, item in enumerate(relationship_list(raw.get("cio_relationships"), False)):
        field = f"cio_relationships[{index}]"
        ids = item.get("identifiers")
        if not isinstance(ids, dict) or set(ids) != {"anonymous_id"}:
            message = f"{field}.identifiers must hold exactly anonymous_id"
            raise bad_request(message, f"{field}.identifiers")
        parsed.append(
            (_anonymous_id(ids["anonymous_id"], field), relationship_attributes(item, field))
        )
    if raw.get("anonymous_id") is not None:
        parsed.append((_anonymous_id(raw["anonymous_id"], ""), {}))
    return parsed


def _anonymous_id(value: Any, field: str) -> str:
    name = f"{field}.identifiers.anonymous_id" if field else "anonymous_id"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"{name} must be a string", name)
    check_id(str(value), name)
    return str(value)


def _identify(raw: dict[str, Any], now: int) -> Operation:
    ref, attrs = _ref(raw), _attributes(raw)
    related = people_relationships(raw.get("cio_relationships"), required=False)
    return Operation(objects.identify_object, (ref, attrs, related, now))


def _identify_anonymous(raw: dict[str, Any], now: int) -> Operation:
    ref, attrs = _ref(raw), _attributes(raw)
    related = anonymous_relationships(raw)
    visitors = tuple(anonymous_id for anonymous_id, _ in related)
    return Operation(objects.identify_anonymous, (ref, attrs, related, now), anonymous=visitors)


def _delete(raw: dict[str, Any], now: int) -> Operation:
    return Operation(objects.delete_object, (_ref(raw),), may_refuse=False)


def _relationships(action: str) -> Parser:
    def parse(raw: dict[str, Any], now: int) -> Operation:
        ref = _ref(raw)
        related = people_relationships(raw.get("cio_relationships"), required=True)
        return Operation(objects.relate_people, (ref, action, related, now))

    return parse


def _delivery_event(raw: dict[str, Any], now: int) -> Operation:
    """A push metric against a delivery id: `name` is the metric, `device_token` required."""
    ids = raw.get("identifiers")
    delivery_id = ids.get("id") if isinstance(ids, dict) else None
    if not isinstance(delivery_id, str) or not delivery_id:
        raise bad_request("identifiers.id must be the delivery id", "identifiers.id")
    name = raw.get("name")
    if name not in DELIVERY_EVENTS:
        raise bad_request("name must be one of: " + ", ".join(DELIVERY_EVENTS), "name")
    attrs = raw.get("attributes")
    token = attrs.get("device_token") if isinstance(attrs, dict) else None
    if not isinstance(token, str) or not token:
        raise bad_request("attributes.device_token is required", "attributes.device_token")
    ts = timestamp(raw.get("timestamp"))
    args = (delivery_id, name, now if ts is None else ts, {"device_id": token})
    return Operation(metrics.record_metric, args, may_refuse=False)


OBJECT: dict[str, Parser] = {
    "identify": _identify,
    "identify_anonymous": _identify_anonymous,
    "delete": _delete,
    "add_relationships": _relationships("add_relationships"),
    "delete_relationships": _relationships("delete_relationships"),
}

DELIVERY: dict[str, Parser] = {"event": _delivery_event}
