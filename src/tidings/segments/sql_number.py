"""`number_of(text)`: the SQL form of `numbers.number_in`, per dialect, never raising.

The double a text spells, or NULL. PostgreSQL raises on a CAST of text that
is not a double (or is out of its range), so the test is complete before the
CAST runs: a regular expression for the shape, then, only for a text with an
exponent or over 308 characters (others are always in range), exact
`numeric` comparisons with the overflow and underflow thresholds; all in a
CASE, since PostgreSQL may evaluate the operands of AND in any order.

SQLite has no regular expressions, and spelling the shape out with GLOB and
string functions cost 7-12 us a row; it calls `number_in` itself instead, as
the function `tidings_number` that `db/engine.py` registers on every
connection (about 3 us a row; `bench/condition_numbers.py`).

On a stored column both first try the commonest case with plain string
functions: unsigned digits without a leading zero, at most 15 of them
(timestamps, counts): such a text is a number by the rule and both stores
cast it exactly. An event data key, read out of its JSON, is read once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.functions import FunctionElement

from tidings.numbers import (
    MAX_NUMBER_CHARS,
    NUMBER_PATTERN,
    OVERFLOW,
    SQLITE_NUMBER_FUNCTION,
    UNDERFLOW,
)

# A number without an exponent, of at most this many characters, is always a
# double: below 1e308 and, if not zero, at least 1e-306.
_ALWAYS_IN_RANGE = 308


def _plain_integer(t: str) -> str:
    """SQL true when `t` is 1 to 15 digits without a leading zero (below 2**53: exact)."""
    return (
        f"(length({t}) BETWEEN 1 AND 15 AND ltrim({t}, '0123456789') = '' "
        f"AND ({t} = '0' OR substr({t}, 1, 1) <> '0'))"
    )


class number_of(FunctionElement[float]):  # noqa: N801 (a SQL function, named like one)
    """The double its text argument spells by `numbers.number_in`'s rule, else NULL."""

    type = Float()
    inherit_cache = True


@compiles(number_of, "postgresql")
def _number_of_pg(element: Any, compiler: Any, **kw: Any) -> str:
    t = compiler.process(element.clauses, **kw)
    if _is_column(element):
        return _pg_reading(t)
    # An expression (an event data key read out of JSON) is computed once, not at
    # each of the reading's mentions (OFFSET 0 keeps the planner from inlining it).
    return f"(SELECT {_pg_reading('v')} FROM (SELECT {t} AS v OFFSET 0) AS number_text)"


def _pg_reading(t: str) -> str:
    value = f"CAST({t} AS numeric)"
    in_range = (
        f"CASE WHEN char_length({t}) <= {_ALWAYS_IN_RANGE} AND {t} !~ '[eE]' THEN true "
        f"ELSE abs({value}) < {OVERFLOW} AND ({value} = 0 OR abs({value}) > {UNDERFLOW:f}) END"
    )
    return (
        f"(CASE WHEN {_plain_integer(t)} THEN CAST({t} AS FLOAT) "
        f"WHEN char_length({t}) > {MAX_NUMBER_CHARS} OR {t} !~ '^{NUMBER_PATTERN}$' "
        f"THEN NULL WHEN {in_range} THEN CAST({t} AS FLOAT) END)"
    )


@compiles(number_of)
def _number_of_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    t = compiler.process(element.clauses, **kw)
    if not _is_column(element):  # read once: the shortcut would read it four more times
        return f"{SQLITE_NUMBER_FUNCTION}({t})"
    plain = f"WHEN {_plain_integer(t)} THEN CAST({t} AS REAL)"
    return f"(CASE {plain} ELSE {SQLITE_NUMBER_FUNCTION}({t}) END)"


def _is_column(element: Any) -> bool:
    """Whether the argument is a stored column, cheap to mention again."""
    return isinstance(next(iter(element.clauses)), ColumnClause)
