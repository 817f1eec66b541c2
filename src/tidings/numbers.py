"""Reading numbers out of requests and stored text.

`str.isdigit` also accepts superscripts and other scripts' digits, which
`int()` then refuses (a 500) or reads as numbers nobody typed; and an id
beyond a column's range fails inside the database rather than as a 400 or
404. These helpers accept ASCII digits only, within a range.

JSON integers have no size limit, doubles do: `fits_double` and `number_in`
hold the range every numeric comparison (Python and SQL) relies on.
"""

from __future__ import annotations

import math
import re
import sys
from decimal import Decimal

from tidings.errors import bad_request, not_found

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


def query_int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter from `low` to `high` (`default` when absent);
    anything else is a 400 naming it."""
    raw = query.get(name)
    if raw is None:
        return default
    if not is_digits(raw) or not low <= int(raw) <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}", name)
    return int(raw)


# --- numbers in values ------------------------------------------------------------------
#
# Every number Tidings compares is an IEEE double. A JSON number is accepted as
# an attribute value or a condition operand only if a double holds it (finite);
# a stored text takes part in numeric comparisons only if it spells such a
# number (`number_in`). docs/conditions.md states the rule for users.

DOUBLE_MAX = sys.float_info.max
# What a 400 for a number beyond a double says, on every surface that refuses one.
DOUBLE_RANGE = f"numbers are doubles, at most {DOUBLE_MAX:.4g}"
MAX_NUMBER_CHARS = 1000  # the attribute value limit; PostgreSQL's numeric reads any such text
NUMBER_PATTERN = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?"
_NUMBER = re.compile(NUMBER_PATTERN)
_NONZERO = re.compile(r"[1-9]")
# Texts whose magnitude reaches OVERFLOW round to infinity; those with a
# magnitude of at most UNDERFLOW (but not zero) round to 0 (PostgreSQL refuses both).
OVERFLOW = Decimal(2**1024 - 2**970)
UNDERFLOW = Decimal(f"{5**1075}E-1075")  # 2**-1075, exactly


def fits_double(value: int | float) -> bool:
    """Whether a JSON number (int or float) is a finite double, as comparisons need."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the double range
        return False


SQLITE_NUMBER_FUNCTION = "tidings_number"


def sqlite_number(value: object) -> float | None:
    """`number_in` as the SQLite function `tidings_number` (NULL for anything not text)."""
    return number_in(value) if isinstance(value, str) else None


def number_in(text: str) -> float | None:
    """The double a text spells, or None: a JSON number (no spaces, no leading zeros,
    an exponent of at most three digits, at most MAX_NUMBER_CHARS long) that neither
    overflows nor underflows to zero."""
    if len(text) > MAX_NUMBER_CHARS or not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    if math.isinf(number):
        return None
    if number == 0 and _NONZERO.search(text.lower().partition("e")[0]):
        return None
    return number
