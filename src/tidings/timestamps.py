"""Unix timestamps as clients send them, checked before they reach a BIGINT column.

A number outside the signed 64-bit range (or an infinite float, or a digit
string as long) cannot be stored, and PostgreSQL refuses it mid-transaction;
callers turn a None from here into their own 400.
"""

from __future__ import annotations

import math
from typing import Any

from tidings.errors import bad_request

LIMIT = 2**63


def unix_seconds(value: Any, *, digit_strings: bool = False) -> int | None:
    """`value` as whole seconds, or None when it is not a storable unix timestamp.

    Floats are truncated; `digit_strings` also accepts "1700000000" (Go sends
    some timestamps as strings).
    """
    if digit_strings and isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    seconds = int(value)
    return seconds if -LIMIT <= seconds < LIMIT else None


def optional_seconds(
    value: Any, field: str = "timestamp", *, digit_strings: bool = False
) -> int | None:
    """An optional timestamp field: None when absent, a 400 naming `field` when unusable."""
    if value is None:
        return None
    seconds = unix_seconds(value, digit_strings=digit_strings)
    if seconds is None:
        raise bad_request("timestamp must be a unix timestamp in seconds", field)
    return seconds
