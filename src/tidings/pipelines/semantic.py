"""Customer.io's semantic events: `track` calls whose `event` name asks for an action.

| event                       | needs                           | effect                     |
| --------------------------- | ------------------------------- | -------------------------- |
| `Device Created or Updated` | userId, `context.device.token`  | add or update the device   |
| `Device Deleted`            | userId, `context.device.token`  | remove the device          |
| `User Deleted`              | userId                          | delete the person          |
| `User Suppressed`           | userId                          | delete and suppress them   |
| `User Unsuppressed`         | userId                          | unsuppress the userId      |
| `Relationship Deleted`      | userId, `properties.objectId`   | unrelate person and object |
| `Object Deleted`            | `properties.objectId`           | delete the object          |
| `Report Delivery Event`     | `properties.deliveryId, metric` | record a delivery metric   |

`context.device.type` (ios or android) is the device's platform; its other
keys and then `properties` become device attributes, and the message
timestamp its `last_used`. `properties.objectTypeId` defaults to 1. Each
effect is the Track API's use case for the same thing (`add_device`,
`delete`, `suppress`, `delete_relationships`, object `delete`), with its
rules: a device or a relationship creates the person on first mention,
deletes never create anything. Parsing here is pure; `act` runs in the
caller's transaction.

`Report Delivery Event` is how Customer.io's mobile and web SDKs report a
message's metrics (properties `deliveryId`, `metric`, optionally `recipient`,
`reason`, `href`); it is validated as Track's `POST /api/v1/metrics` is, at
the message's timestamp, and recorded against the delivery id whoever the
message names (no userId needed: the delivery says whose it is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tidings.errors import ApiError, bad_request
from tidings.objects.store import ObjectRef, parse_ref
from tidings.people import devices, objects
from tidings.people import service as people
from tidings.people.devices import Device, parse_device
from tidings.people.identifiers import Identifier
from tidings.reporting import metrics

NAMES = {
    "Device Created or Updated": "device_upsert",
    "Device Deleted": "device_delete",
    "User Deleted": "delete",
    "User Suppressed": "suppress",
    "User Unsuppressed": "unsuppress",
    "Relationship Deleted": "relationship_delete",
    "Object Deleted": "object_delete",
    "Report Delivery Event": "delivery_metric",
}
_NO_USER_NEEDED = ("object_delete", "delivery_metric")
_METRIC_EXTRAS = ("recipient", "reason", "href")
_PLATFORMS = ("ios", "android")


@dataclass(frozen=True, slots=True)
class Semantic:
    action: str  # a value of NAMES
    device: Device | None = None
    token: str = ""
    ref: ObjectRef | None = None
    metric: tuple[str, str, int, dict[str, Any]] | None = None  # metrics.parse_metric's


def parse(
    name: str, user_id: str | None, raw: dict[str, Any], properties: dict[str, Any], when: int
) -> Semantic | None:
    """The action a track event asks for, validated; None for an ordinary event."""
    action = NAMES.get(name)
    if action is None:
        return None
    if action not in _NO_USER_NEEDED and user_id is None:
        raise bad_request(f"{name} needs a userId", "userId")
    if action == "device_upsert":
        return Semantic(action, device=_device(raw, properties, when))
    if action == "device_delete":
        return Semantic(action, token=_device(raw, {}, when).token)
    if action in ("relationship_delete", "object_delete"):
        return Semantic(action, ref=_object_ref(properties))
    if action == "delivery_metric":
        return Semantic(action, metric=_metric(properties, when))
    return Semantic(action)


def _metric(properties: dict[str, Any], when: int) -> tuple[str, str, int, dict[str, Any]]:
    """`properties` checked as a Track metrics body; problems name the properties."""
    body = {k: properties[k] for k in _METRIC_EXTRAS if k in properties}
    body["delivery_id"] = properties.get("deliveryId", properties.get("delivery_id"))
    body["metric"] = properties.get("metric")
    try:
        return metrics.parse_metric({**body, "timestamp": when}, when)
    except ApiError as exc:
        message = exc.message.replace("delivery_id", "deliveryId")
        raise bad_request(f"properties.{message}", "properties") from exc


def _device(raw: dict[str, Any], properties: dict[str, Any], when: int) -> Device:
    context = raw.get("context")
    device = context.get("device") if isinstance(context, dict) else None
    if not isinstance(device, dict):
        raise bad_request("context.device.token is required", "context.device.token")
    platform = device.get("type")
    if isinstance(platform, str):
        platform = platform.lower()
    if platform is not None and platform not in _PLATFORMS:
        message = "context.device.type must be one of: " + ", ".join(_PLATFORMS)
        raise bad_request(message, "context.device.type")
    extras = {k: v for k, v in device.items() if k not in ("token", "type", "id")}
    body = {
        **extras,
        "token": device.get("token"),
        "platform": platform,
        "last_used": when,
        "attributes": properties,
    }
    return parse_device(body, token_key="token", require_platform=False)


def _object_ref(properties: dict[str, Any]) -> ObjectRef:
    object_id = properties.get("objectId")
    if isinstance(object_id, bool) or not isinstance(object_id, str | int) or object_id == "":
        raise bad_request("properties.objectId is required", "properties.objectId")
    type_id = properties.get("objectTypeId", 1)
    if isinstance(type_id, bool) or not isinstance(type_id, str | int):
        raise bad_request("properties.objectTypeId must be an integer", "properties.objectTypeId")
    return parse_ref({"object_type_id": str(type_id), "object_id": str(object_id)}, "properties")


def act(conn: Connection, workspace_id: int, sem: Semantic, user_id: str | None, now: int) -> None:
    """Carry out a semantic event inside the caller's transaction."""
    person = Identifier("id", user_id) if user_id is not None else None
    _ACTS[sem.action](conn, workspace_id, sem, person, now)


def _device_upsert(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    assert sem.device is not None
    devices.add_to(conn, ws, who, sem.device, now)


def _device_delete(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    devices.remove_from(conn, ws, who, sem.token)


def _delete(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    people.delete_person(conn, ws, who)


def _suppress(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    people.suppress(conn, ws, who, now)


def _unsuppress(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    people.unsuppress(conn, ws, who)


def _relationship_delete(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    assert sem.ref is not None
    item = {"identifiers": {"object_type_id": sem.ref.type_id, "object_id": sem.ref.object_id}}
    objects.relate_person(conn, ws, who, "delete_relationships", [item], now)


def _object_delete(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    assert sem.ref is not None
    objects.delete_object(conn, ws, sem.ref)


def _delivery_metric(conn: Connection, ws: int, sem: Semantic, who: Any, now: int) -> None:
    assert sem.metric is not None
    metrics.record_metric(conn, ws, *sem.metric, now=now)


_ACTS: dict[str, Callable[[Connection, int, Semantic, Any, int], None]] = {
    "device_upsert": _device_upsert,
    "device_delete": _device_delete,
    "delete": _delete,
    "suppress": _suppress,
    "unsuppress": _unsuppress,
    "relationship_delete": _relationship_delete,
    "object_delete": _object_delete,
    "delivery_metric": _delivery_metric,
}
