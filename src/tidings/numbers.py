"""Reading integers out of text that came from a request.

`str.isdigit` also accepts superscripts and other scripts' digits, which
`int()` then refuses (a 500) or reads as numbers nobody typed; and an id
beyond a column's range fails inside the database rather than as a 400 or
404. These helpers accept ASCII digits only, within a range.
"""

from __future__ import annotations

MAX_ID = 2**31 - 1  # INTEGER id columns (PostgreSQL's `integer`)


def is_digits(text: str) -> bool:
    """Non-empty and only the ASCII digits 0-9."""
    return text.isascii() and text.isdigit()


def parse_id(text: str) -> int | None:
    """A positive id that fits an INTEGER column, or None."""
    if not is_digits(text) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
