"""From a file's bytes, arriving in chunks, to numbered records (pure, streaming).

A record's `line` is the file's physical line (1-based, the CSV header being
line 1) on which the record starts, so a quoted CSV field holding a newline
does not shift the numbers of the rows after it. Blank lines are skipped.

Text is UTF-8 (a leading byte-order mark is ignored). A line that is not
valid UTF-8, or holds a NUL character (PostgreSQL cannot store one), makes
the record it belongs to a bad record; the rest of the file still reads.
Lines end with `\\n` (or `\\r\\n`); a lone `\\r` does not end a line.

Problems with the file as a whole (no header, duplicate column names, a
required column missing) raise `FileRejected`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

BOM = b"\xef\xbb\xbf"
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class FileRejected(Exception):
    """The file cannot be imported at all; the message says why."""


@dataclass(frozen=True)
class Record:
    """One row: its values (column -> value), or why it cannot be read."""

    line: int
    values: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    problem: str | None  # not UTF-8, or holds NUL


def physical_lines(chunks: Iterable[bytes]) -> Iterator[Line]:
    """The file's lines, each with its line ending kept, decoded one at a time."""
    pending = bytearray()
    number = 0
    first = True
    for chunk in chunks:
        pending += chunk
        if first and len(pending) >= len(BOM):
            if pending.startswith(BOM):
                del pending[: len(BOM)]
            first = False
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        block = bytes(pending[: cut + 1])
        del pending[: cut + 1]
        for raw in block.split(b"\n")[:-1]:
            number += 1
            yield _decode(number, raw + b"\n")
    if pending:
        yield _decode(number + 1, bytes(pending))


def _decode(number: int, raw: bytes) -> Line:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Line(number, raw.decode("utf-8", "replace"), "is not valid UTF-8")
    if "\x00" in text:
        return Line(number, text.replace("\x00", ""), "contains a NUL character")
    return Line(number, text, None)


class _Feed:
    """The lines handed to `csv.reader`, remembering how far it read and what was bad."""

    def __init__(self, lines: Iterator[Line]) -> None:
        self._lines = lines
        self.read = 0
        self.problems: dict[int, str] = {}

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.read = line.number
        if line.problem is not None:
            self.problems[line.number] = line.problem
        return line.text

    def problem_since(self, start: int) -> str | None:
        found = [(n, p) for n, p in self.problems.items() if n >= start]
        self.problems.clear()
        return f"line {found[0][0]} {found[0][1]}" if found else None


def csv_records(chunks: Iterable[bytes]) -> tuple[list[str], Iterator[Record]]:
    """The header's column names, and the data rows as records of strings.

    A row with more cells than the header is a bad record; missing trailing
    cells read as empty.
    """
    feed = _Feed(physical_lines(chunks))
    reader = csv.reader(feed, strict=True)
    header = _header(reader, feed)
    return header, _csv_rows(reader, feed, header)


def _header(reader: Any, feed: _Feed) -> list[str]:
    try:
        row = next(row for row in reader if row)
    except StopIteration:
        raise FileRejected("the file is empty: the first line must name the columns") from None
    except csv.Error as exc:
        raise FileRejected(f"the header line is not valid CSV: {exc}") from None
    problem = feed.problem_since(1)
    if problem:
        raise FileRejected(f"the header: {problem}")
    names = [name.strip() for name in row]
    if "" in names:
        raise FileRejected(f"column {names.index('') + 1} of the header has no name")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileRejected("the header names a column twice: " + ", ".join(repeated))
    return names


def _csv_rows(reader: Any, feed: _Feed, header: list[str]) -> Iterator[Record]:
    while True:
        start = feed.read + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            feed.problem_since(start)
            yield Record(start, error=f"malformed CSV: {exc}")
            continue
        problem = feed.problem_since(start)
        if not row:  # a blank line
            continue
        if problem:
            yield Record(start, error=problem)
        elif len(row) > len(header):
            yield Record(start, error=f"{len(row)} cells but the header names {len(header)}")
        else:
            yield Record(start, values=dict(zip(header, row, strict=False)))


def jsonl_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    """One JSON object per line."""
    for line in physical_lines(chunks):
        if not line.text.strip():
            continue
        if line.problem is not None:
            yield Record(line.number, error=f"line {line.number} {line.problem}")
            continue
        yield _json_record(line)


def _json_record(line: Line) -> Record:
    try:
        value = msgspec.json.decode(line.text)
    except (msgspec.DecodeError, RecursionError) as exc:
        return Record(line.number, error=f"malformed JSON: {exc}")
    if not isinstance(value, dict):
        return Record(line.number, error="each line must be a JSON object")
    if "\\u0000" in line.text and _JSON_NUL.search(line.text):
        return Record(line.number, error="text cannot contain NUL (\\u0000) characters")
    return Record(line.number, values=value)
