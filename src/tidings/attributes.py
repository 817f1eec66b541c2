"""Attribute values: validation against Customer.io's limits, and rendering.

Customer.io stores every attribute as a string and returns it as one. We keep
the string it would show plus a one-letter kind, so the JSON value can be
recovered exactly (templates and numeric comparisons want numbers back).
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.errors import bad_request
from tidings.numbers import DOUBLE_RANGE, fits_double

MAX_NAME_BYTES = 150
MAX_VALUE_BYTES = 1000
MAX_ATTRIBUTES = 300

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def render(value: Any) -> tuple[str, str]:
    """(string shown by the App API, kind) for a non-null JSON value."""
    if isinstance(value, str):
        return value, "s"
    if isinstance(value, bool):
        return ("true" if value else "false"), "b"
    if isinstance(value, int | float):
        return _encode(value).decode(), "n"
    return _encode(value).decode(), "j"


def restore(text: str, kind: str) -> Any:
    """The JSON value a (string, kind) pair was rendered from."""
    if kind == "s":
        return text
    if kind == "b":
        return text == "true"
    return _decode(text)


def is_removal(value: Any) -> bool:
    """`null` and `""` remove an attribute."""
    return value is None or value == ""


def check_attributes(attrs: dict[str, Any]) -> None:
    """Refuse a whole request whose attributes break a documented limit."""
    if len(attrs) > MAX_ATTRIBUTES:
        raise bad_request(
            f"cannot identify more than {MAX_ATTRIBUTES} attributes in one request", "attributes"
        )
    for name, value in attrs.items():
        check_attribute(name, value)


def check_attribute(name: str, value: Any) -> None:
    if name == "":
        raise bad_request("attribute name cannot be blank", "attributes")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise bad_request(
            f"attribute name cannot be longer than {MAX_NAME_BYTES} bytes", f"attributes.{name}"
        )
    if value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and not fits_double(value):
        raise bad_request(
            f"attribute value is out of range: {name} ({DOUBLE_RANGE})", f"attributes.{name}"
        )
    text, _ = render(value)
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise bad_request(
            f"attribute value cannot be longer than {MAX_VALUE_BYTES} bytes: {name}",
            f"attributes.{name}",
        )


def is_truthy_flag(value: Any) -> bool:
    """`unsubscribed`: true, "TRUE", 1 and "1" all mean yes."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return False
