"""Reading integers out of text that came from a request.

`str.isdigit` also accepts superscripts and other scripts' digits, which
`int()` then refuses (a 500) or reads as numbers nobody typed; and an id
beyond a column's range fails inside the database rather than as a 400 or
404. These helpers accept ASCII digits only, within a range.
"""

from __future__ import annotations

from tidings.errors import not_found

MAX_ID = 2**31 - 1  # INTEGER id columns (PostgreSQL's `integer`)
MAX_BIGINT = 2**63 - 1  # BIGINT id columns


def is_digits(text: str) -> bool:
    """Non-empty and only the ASCII digits 0-9."""
    return text.isascii() and text.isdigit()


def path_id(raw: str, what: str, maximum: int = MAX_ID) -> int:
    """A `{..._id}` path value; anything that cannot be one is a 404 "<what> not found"."""
    if not is_digits(raw) or int(raw) > maximum:
        raise not_found(f"{what} not found")
    return int(raw)
