"""`spells_number(text)`: the SQL form of `numbers.number_in`, per dialect, never raising.

PostgreSQL raises on a CAST of text that is not a double (or is out of its
range), so the test must be complete before any CAST to a double runs: a
regular expression for the shape, then exact `numeric` comparisons with the
overflow and underflow thresholds (a CASE, since PostgreSQL may evaluate the
operands of AND in any order). SQLite never raises on a CAST, but reads any
text as some number, so the shape is checked with GLOB patterns and
`json_valid`, and the range on the double itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from tidings.numbers import DOUBLE_MAX, MAX_NUMBER_CHARS, NUMBER_PATTERN, OVERFLOW, UNDERFLOW


class spells_number(FunctionElement[bool]):  # noqa: N801 (a SQL function, named like one)
    """True when the text argument is a number by `numbers.number_in`'s rule."""

    type = Boolean()
    inherit_cache = True


@compiles(spells_number, "postgresql")
def _spells_number_pg(element: Any, compiler: Any, **kw: Any) -> str:
    text = compiler.process(element.clauses, **kw)
    value = f"CAST({text} AS numeric)"
    return (
        f"(CASE WHEN char_length({text}) <= {MAX_NUMBER_CHARS} "
        f"AND {text} ~ '^{NUMBER_PATTERN}$' "
        f"THEN abs({value}) < {OVERFLOW} "
        f"AND ({value} = 0 OR abs({value}) > {UNDERFLOW:f}) ELSE false END)"
    )


@compiles(spells_number)
def _spells_number_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    text = compiler.process(element.clauses, **kw)
    value = f"CAST({text} AS REAL)"
    mantissa = (
        f"CASE WHEN instr(lower({text}), 'e') > 0 "
        f"THEN substr({text}, 1, instr(lower({text}), 'e') - 1) ELSE {text} END"
    )
    return (
        f"(length({text}) <= {MAX_NUMBER_CHARS} "
        f"AND ({text} GLOB '[0-9]*' OR {text} GLOB '-[0-9]*') AND {text} GLOB '*[0-9]' "
        f"AND {text} NOT GLOB '*[^0-9eE.+-]*' "
        f"AND {text} NOT GLOB '*[eE][0-9][0-9][0-9][0-9]*' "
        f"AND {text} NOT GLOB '*[eE][+-][0-9][0-9][0-9][0-9]*' "
        f"AND json_valid({text}) AND abs({value}) <= {DOUBLE_MAX!r} "
        f"AND ({value} <> 0 OR ({mantissa}) NOT GLOB '*[1-9]*'))"
    )
