"""A parsed Track v2 operation, and validators the person and object parsers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tidings.errors import bad_request
from tidings.events.service import Event
from tidings.people.identifiers import Identifier
from tidings.timestamps import optional_seconds


class Operation(msgspec.Struct, frozen=True):
    """One validated operation: `fn(conn, workspace_id, *args)` applies it.

    `may_refuse` is False when the use case cannot raise `ApiError` once
    parsed, so a batch need not wrap it in a savepoint of its own. Person
    events (`event`, `page`, `screen`) carry `ident` and `event` so a batch
    can insert a run of them together. `anonymous` names the anonymous ids the
    use case will look up or claim (an identify's `anonymous_id`, the visitors of an
    object's `identify_anonymous`), for its transaction to lock first
    (`people.anonymous_locks`). A msgspec Struct: a batch builds one per item.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    may_refuse: bool = True
    ident: Identifier | None = None
    event: Event | None = None
    anonymous: tuple[str, ...] = ()


Parser = Callable[[dict[str, Any], int], Operation]


def timestamp(value: Any) -> int | None:
    """An optional unix timestamp in seconds (floats are truncated)."""
    return optional_seconds(value)


def relationship_list(items: Any, required: bool = True) -> list[Any]:
    """`cio_relationships`: an array of objects (an absent one is `[]` unless required)."""
    if items is None and not required:
        return []
    if not isinstance(items, list):
        raise bad_request("cio_relationships must be an array", "cio_relationships")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            field = f"cio_relationships[{index}]"
            raise bad_request(f"{field} must be an object", field)
    return items


def relationship_attributes(item: dict[str, Any], field: str) -> dict[str, Any]:
    """An item's `relationship_attributes` (absent or null: none)."""
    attrs = item.get("relationship_attributes")
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        message = f"{field}.relationship_attributes must be an object"
        raise bad_request(message, f"{field}.relationship_attributes")
    return attrs
