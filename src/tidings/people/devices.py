"""Devices (push tokens) on people, parsed leniently: clients disagree on the shape.

v1 names the token `id`, v2 `token`; Go sends `last_used` as a string and
`attributes: null`; Python and Ruby put custom attributes flat inside
`device`. All of these are accepted; a token that is not a string is not (both
Track schemas type it as one). A token belongs to one person: adding it
to someone else moves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings.activity import stream
from tidings.attributes import render
from tidings.db.schema import devices
from tidings.errors import ApiError
from tidings.people import service as people
from tidings.people import store
from tidings.people.identifiers import Identifier
from tidings.people.store import Person
from tidings.timestamps import unix_seconds

PLATFORMS = ("ios", "android")
MAX_TOKEN_BYTES = 255  # the `devices.token` column
_KNOWN = frozenset({"id", "token", "platform", "last_used", "attributes"})
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Device:
    token: str
    platform: str
    last_used: int | None
    attributes: dict[str, str]


def parse_device(body: Any, *, token_key: str, require_platform: bool = True) -> Device:
    """Validate a device; problems come back together in the `meta.errors` form."""
    if not isinstance(body, dict):
        raise _invalid(["device must be an object"])
    problems: list[str] = []
    token = body.get(token_key, body.get("token" if token_key == "id" else "id"))
    if token is None or token == "":
        problems.append(f"device.{token_key} is required")
    elif not isinstance(token, str):
        problems.append(f"device.{token_key} must be a string")
    elif len(token.encode()) > MAX_TOKEN_BYTES:
        problems.append(f"device.{token_key} cannot be longer than {MAX_TOKEN_BYTES} bytes")
    platform = body.get("platform")
    if require_platform and platform not in PLATFORMS:
        problems.append("device.platform must be one of: ios, android")
    last_used = _last_used(body.get("last_used"), problems)
    attrs = _attributes(body, problems)
    if problems:
        raise _invalid(problems)
    return Device(str(token), str(platform or ""), last_used, attrs)


def _last_used(value: Any, problems: list[str]) -> int | None:
    if value is None or value == "":
        return None
    seconds = unix_seconds(value, digit_strings=True)
    if seconds is None:
        problems.append("device.last_used must be a unix timestamp")
    return seconds


def _attributes(body: dict[str, Any], problems: list[str]) -> dict[str, str]:
    nested = body.get("attributes")
    if nested is not None and not isinstance(nested, dict):
        problems.append("device.attributes must be an object")
        nested = None
    flat = {k: v for k, v in body.items() if k not in _KNOWN}
    merged = {**flat, **(nested or {})}
    return {k: render(v)[0] for k, v in merged.items() if v is not None}


def _invalid(problems: list[str]) -> ApiError:
    return ApiError(400, problems[0], errors=problems, field="device")


def upsert(conn: Connection, person: Person, device: Device, now: int) -> None:
    row = conn.execute(
        select(devices.c.id, devices.c.attributes, devices.c.platform, devices.c.person_id).where(
            devices.c.workspace_id == person.workspace_id, devices.c.token == device.token
        )
    ).first()
    last_used = device.last_used if device.last_used is not None else now
    stream.publish(conn, person.workspace_id, [person.pk, row.person_id if row else None], now)
    if row is None:
        conn.execute(
            insert(devices).values(
                workspace_id=person.workspace_id,
                person_id=person.pk,
                token=device.token,
                platform=device.platform,
                last_used=last_used,
                attributes=_encode(device.attributes).decode(),
                updated_at=now,
            )
        )
        return
    merged = {**msgspec.json.decode(row.attributes), **device.attributes}
    conn.execute(
        update(devices)
        .where(devices.c.id == row.id)
        .values(
            person_id=person.pk,
            platform=device.platform or row.platform,
            last_used=last_used,
            attributes=_encode(merged).decode(),
            updated_at=now,
        )
    )


def remove(conn: Connection, person: Person, token: str) -> None:
    conn.execute(delete(devices).where(devices.c.person_id == person.pk, devices.c.token == token))
    stream.publish(conn, person.workspace_id, [person.pk])


def move(conn: Connection, from_pk: int, to_pk: int) -> None:
    conn.execute(update(devices).where(devices.c.person_id == from_pk).values(person_id=to_pk))


def of_person(conn: Connection, person_pk: int) -> list[dict[str, Any]]:
    """Devices in the v1 shape the App API returns: `id` is the token."""
    rows = conn.execute(
        select(devices.c.token, devices.c.platform, devices.c.last_used, devices.c.attributes)
        .where(devices.c.person_id == person_pk)
        .order_by(devices.c.id)
    )
    result = []
    for token, platform, last_used, attrs in rows:
        item: dict[str, Any] = {"id": token, "platform": platform, "last_used": last_used}
        decoded = msgspec.json.decode(attrs)
        if decoded:
            item["attributes"] = decoded
        result.append(item)
    return result


def add_to(
    conn: Connection, workspace_id: int, ident: Identifier, device: Device, now: int
) -> None:
    """Add or update a device on the named person, creating them on first mention."""
    person = people.find_or_create(conn, workspace_id, ident, now)
    if person is not None:
        upsert(conn, person, device, now)


def remove_from(conn: Connection, workspace_id: int, ident: Identifier, token: str) -> None:
    person = store.find(conn, workspace_id, ident)
    if person is not None:
        remove(conn, person, token)
