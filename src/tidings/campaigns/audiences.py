"""A broadcast trigger's audience, a chunk at a time: who, and why someone is not.

Every function here reads a bounded amount: a filter's next `limit` people
by person key (the key is the fan-out's checkpoint), the people a chunk of
ids or emails names (one `IN` per identifier kind), the lines of a data
file as they stream in. So the fan-out's memory does not grow with the
audience. Nothing here writes.

Who a name is missing from is said in the text `/errors` shows: `ids[3]:
no person has the id "x"`, `per_user_data[0]: ...`, `line 12: ...` (lines
count from 1, blank ones too).

Emails are identifiers in Tidings, unique in a workspace, so an address
never names two people and `email_add_duplicates` has nothing to add.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import Connection, Select, select

from tidings.campaigns.broadcasts import per_user_entry
from tidings.db.schema import people
from tidings.errors import ApiError
from tidings.people import store as people_store
from tidings.people.identifiers import stored_key
from tidings.segments import compile, conditions

CHUNK = 1000  # people per fan-out transaction
MAX_LINE = 2 * 1024 * 1024  # bytes per data-file line (BEHAVIOUR.md 2.9)

# One named recipient: where it was named ("ids[3]", "line 12"), the identifier's
# kind and value, and its per-user data (None: only the trigger's data).
Named = tuple[str, str, str, dict[str, Any] | None]


@dataclass
class Chunk:
    """What one fan-out transaction applies: the people it starts (pk, their own data),
    the errors it records, and the checkpoint it moves `position` to."""

    position: int
    people: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def people_after(
    conn: Connection, workspace_id: int, condition: Any, after: int, now: int
) -> list[int]:
    """The keys of the next `CHUNK` people (key > `after`) the condition holds for."""
    return list(conn.execute(people_query(workspace_id, condition, after, now)).scalars())


def people_query(workspace_id: int, condition: Any, after: int, now: int) -> Select[Any]:
    """`people_after`'s query: a range of the (workspace_id, id) index, in key order."""
    parsed = conditions.parse(condition, "recipients")
    return (
        select(people.c.id)
        .where(
            people.c.workspace_id == workspace_id,
            people.c.id > after,
            compile.where_clause(parsed, workspace_id, now),
        )
        .order_by(people.c.id)
        .limit(CHUNK)
    )


def resolve(
    conn: Connection, workspace_id: int, named: list[Named], ignore: dict[str, bool]
) -> tuple[list[tuple[int, dict[str, Any] | None]], list[str]]:
    """The people `named` names, in order, and an error for each one nobody has
    (unless `ignore[kind]`, the request's `*_ignore_missing`)."""
    found: dict[tuple[str, str], int] = {}
    for kind in ("id", "email"):
        keys = sorted({stored_key(kind, value) for _, k, value, _ in named if k == kind})
        for start in range(0, len(keys), CHUNK):
            for person in people_store.find_many(
                conn, workspace_id, kind, keys[start : start + CHUNK]
            ):
                key = person.customer_id if kind == "id" else person.email
                found[(kind, str(key))] = person.pk
    starts, errors = [], []
    for where, kind, value, own in named:
        pk = found.get((kind, stored_key(kind, value)))
        if pk is not None:
            starts.append((pk, own))
        elif not ignore.get(kind, False):
            errors.append(
                f"{where}: no person has the {kind} {msgspec.json.encode(value).decode()}"
            )
    return starts, errors


def named_entries(audience: dict[str, Any], start: int, stop: int) -> list[Named]:
    """Entries [start, stop) of an `ids`, `emails` or `per_user_data` audience."""
    form = audience["form"]
    items = audience[form][start:stop]
    if form == "ids":
        return [(f"ids[{start + n}]", "id", value, None) for n, value in enumerate(items)]
    if form == "emails":
        return [(f"emails[{start + n}]", "email", value, None) for n, value in enumerate(items)]
    return [_entry(f"per_user_data[{start + n}]", item) for n, item in enumerate(items)]


def _entry(where: str, item: dict[str, Any]) -> Named:
    kind = "id" if "id" in item else "email"
    return (where, kind, item[kind], item.get("data") or None)


def ignored(audience: dict[str, Any]) -> dict[str, bool]:
    return {
        "id": bool(audience.get("id_ignore_missing")),
        "email": bool(audience.get("email_ignore_missing")),
    }


# --- data files ------------------------------------------------------------------------------


def file_chunks(body: Iterable[bytes], after: int) -> Iterator[tuple[int, list[Named], list[str]]]:
    """A JSON-lines body in chunks of up to `CHUNK` lines after line `after`: the last
    line number of the chunk, the entries its lines name, and its lines' errors."""
    named: list[Named] = []
    errors: list[str] = []
    last = yielded = after
    for number, line in numbered_lines(body):
        if number <= after:
            continue
        last = number
        _read_line(number, line, named, errors)
        if len(named) + len(errors) >= CHUNK:
            yield last, named, errors
            named, errors, yielded = [], [], last
    if last > yielded:  # trailing blank lines move the checkpoint too
        yield last, named, errors


def _read_line(number: int, line: bytes | None, named: list[Named], errors: list[str]) -> None:
    where = f"line {number}"
    if line is None:
        errors.append(f"{where}: longer than {MAX_LINE} bytes")
        return
    if not line.strip():
        return
    try:
        item = msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        errors.append(f"{where}: not a JSON object")
        return
    try:
        entry = per_user_entry(item, "the line")
    except ApiError as exc:
        errors.append(f"{where}: {exc.message}")
        return
    named.append(_entry(where, entry))


def numbered_lines(
    body: Iterable[bytes], max_line: int = MAX_LINE
) -> Iterator[tuple[int, bytes | None]]:
    """The body's lines, numbered from 1, without their end of line; None for a
    line longer than `max_line` bytes (never held whole)."""
    number, buffer, oversize = 0, bytearray(), False
    for chunk in body:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not oversize:
                buffer += piece
                if len(buffer) > max_line + 1:  # room for a "\r" before the "\n"
                    oversize = True
                    buffer.clear()
            if end < 0:
                break
            number += 1
            yield number, _line(buffer, oversize, max_line)
            buffer.clear()
            oversize, start = False, end + 1
    if buffer or oversize:
        yield number + 1, _line(buffer, oversize, max_line)


def _line(buffer: bytearray, oversize: bool, max_line: int) -> bytes | None:
    line = bytes(buffer).removesuffix(b"\r")
    return None if oversize or len(line) > max_line else line
