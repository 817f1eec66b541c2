"""CSV text for exports: RFC 4180 quoting, UTF-8, spreadsheet formulas neutralised.

Quoting is the standard library's: a cell holding a comma, a quote or a line
break is quoted, quotes are doubled, rows end in CRLF. Files are UTF-8 without
a byte-order mark, so any CSV reader sees the header as written.

Formula neutralising follows OWASP's CSV-injection guidance: a cell that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`,
so a spreadsheet shows it as text instead of evaluating it. A cell that is
entirely a plain decimal number (`-5`, `+3.25`, `1e3`) is left alone: a number
cannot run anything, and exports are full of negative numbers that must stay
numbers. Every cell is checked, the header too (attribute names are user data).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

_TRIGGERS = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise(cell: str) -> str:
    """The cell as a spreadsheet will show it verbatim (see the module docstring)."""
    if cell[:1] in _TRIGGERS and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def encode_rows(rows: Iterable[Sequence[str]]) -> bytes:
    """CSV bytes for `rows` (lists of strings), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    # The test inlined: this runs for every cell of an export.
    writer.writerows(
        [neutralise(cell) if cell[:1] in _TRIGGERS else cell for cell in row] for row in rows
    )
    return buffer.getvalue().encode()
