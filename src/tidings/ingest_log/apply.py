"""Applying a batch of one partition's messages: one transaction, fenced, offset moved.

`apply_batch` runs in a transaction the caller opens and commits: it locks
the partition's row and checks the claim (`partitions.fence`), skips every
message at or below the stored offset (a redelivery after a commit whose
acknowledgement was lost), applies the rest in order through their kinds'
use cases, and advances the offset. Only after the commit does the applier
acknowledge them to the stream.

Like the group-commit writer, it first applies the whole batch at once (runs
of a bulk kind together) inside a savepoint; if anything raises, it rolls
that back and applies each record in a savepoint of its own. A record
refused there with an `ApiError` (what the direct path would have answered
4xx) is recorded in `ingest_refusals`, never dropped silently; any other
error fails the batch, which is tried again from the stored offset.

Partitions apply concurrently, and the records of one anonymous id can sit in
two (an anonymous event under its anonymousId, the alias or identify that claims
it under the userId): before anything else the batch takes the advisory locks of every
anonymous id its records will look up or claim, sorted, in one statement
(`people.anonymous_locks.held`), so the two transactions serialize on the id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy import Connection, insert
from sqlalchemy.exc import SQLAlchemyError

from tidings.db.schema import ingest_refusals
from tidings.errors import ApiError
from tidings.ingest_log import partitions
from tidings.ingest_log.kinds import KINDS, anonymous_ids
from tidings.ingest_log.records import Record, decode
from tidings.people import anonymous_locks

log = logging.getLogger("tidings.ingest_log")
UNREADABLE = ApiError(400, "not a record of a known kind", code="unreadable")


@dataclass(frozen=True)
class Message:
    seq: int  # the stream sequence
    data: bytes
    at: int = 0  # when the stream stored it (Unix seconds): an unreadable one's only time


@dataclass(frozen=True)
class Outcome:
    held: bool  # False: the claim was lost and nothing was applied
    applied: int = 0  # records (a message holds a request's records of one partition)
    refused: int = 0


def apply_batch(
    conn: Connection, stream: str, claim: partitions.Claim, batch: Sequence[Message]
) -> Outcome:
    offset = partitions.fence(conn, claim)
    if offset is None:
        return Outcome(held=False)
    fresh = [message for message in batch if message.seq > offset]
    if not fresh:
        return Outcome(held=True)
    applied, refused = _apply(conn, stream, claim.partition, fresh)
    partitions.advance(conn, claim, max(m.seq for m in fresh), applied)
    return Outcome(held=True, applied=applied, refused=refused)


def _apply(conn: Connection, stream: str, partition: int, batch: list[Message]) -> tuple[int, int]:
    """Apply the messages' records in order; how many were applied, and refused (and
    recorded)."""
    decoded = [(message, _decode(message)) for message in batch]
    readable = [(m, r) for m, rs in decoded if rs is not None for r in rs]
    with anonymous_locks.held(conn, _anonymous_ids(readable)):
        savepoint = conn.begin_nested()
        try:
            for run in _runs(readable):
                _call(conn, [record for _, record in run])
            savepoint.commit()
            refusals = []
        except Exception:
            savepoint.rollback()
            refusals = [error for error in (_one(conn, m, r) for m, r in readable) if error]
    rows = [_refusal(stream, partition, m, r, e) for m, r, e in refusals]
    rows += [_refusal(stream, partition, m, None, UNREADABLE) for m, rs in decoded if rs is None]
    if rows:
        conn.execute(insert(ingest_refusals), rows)
    return len(readable), len(rows)


def _anonymous_ids(readable: list[tuple[Message, Record]]) -> list[anonymous_locks.AnonymousId]:
    """The anonymous ids of the records (a record its kind cannot read is refused later,
    when applied: it names none here)."""
    found = []
    for _, record in readable:
        try:
            found.extend(anonymous_ids([record]))
        except Exception:  # whatever reading it raises, applying it raises again
            continue
    return found


def _decode(message: Message) -> list[Record] | None:
    """The message's records; None if it is not one of ours (recorded as refused)."""
    try:
        part = decode(message.data)
    except msgspec.DecodeError:
        log.error("ingest log: message %d is not a list of records", message.seq)
        return None
    return part if all(record.kind in KINDS for record in part) else None


def _runs(items: list[tuple[Message, Record]]) -> Iterator[list[tuple[Message, Record]]]:
    """Consecutive records of one bulk kind together; the others one at a time."""
    run: list[tuple[Message, Record]] = []
    for item in items:
        kind = item[1].kind
        if run and not (KINDS[kind].bulk and run[0][1].kind == kind):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


def _call(conn: Connection, records: list[Record]) -> None:
    KINDS[records[0].kind].apply(conn, records)


def _one(
    conn: Connection, message: Message, record: Record
) -> tuple[Message, Record, ApiError] | None:
    savepoint = conn.begin_nested()
    try:
        _call(conn, [record])
        savepoint.commit()
        return None
    except ApiError as exc:
        savepoint.rollback()
        return message, record, exc
    except SQLAlchemyError:
        savepoint.rollback()
        raise  # the database's trouble (a race, a lost connection): the batch is tried again
    except Exception as exc:  # a record its use case cannot take: trying again cannot help
        savepoint.rollback()
        log.exception("ingest log: message %d cannot be applied", message.seq)
        return message, record, ApiError(500, f"{type(exc).__name__}: {exc}", code="apply_failed")


def _refusal(
    stream: str, partition: int, message: Message, record: Record | None, error: ApiError
) -> dict[str, object]:
    return {
        "workspace_id": record.workspace if record else 0,
        "stream": stream,
        "partition": partition,
        "seq": message.seq,
        "kind": record.kind if record else "",
        "received_at": record.now if record else message.at,
        "status": error.status,
        "code": error.code[:64],
        "message": error.message,
        "record": message.data.decode("utf-8", "replace"),
    }
