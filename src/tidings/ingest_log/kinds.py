"""Each kind of record: how a handler makes it, and the use case that applies it.

A kind's `apply(conn, records)` calls exactly what the direct path's handler
would have called, with the record's `now`, so a message applied from the
log writes what the request would have written. Bulk kinds take a run of
consecutive records together (one multi-row write, as the group-commit
writer does for concurrent requests); the others take one record at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tidings.events import bulk as bulk_events
from tidings.ingest_log.records import Record
from tidings.people import service as people
from tidings.people.identifiers import Identifier


@dataclass(frozen=True)
class Kind:
    apply: Callable[[Connection, list[Record]], Any]
    bulk: bool = False


def _identity(ident: Identifier) -> str:
    return f"{ident.kind}:{ident.key}"


# --- Track v1 ------------------------------------------------------------------------


def identify_v1(workspace: int, ident: Identifier, body: dict[str, Any], now: int) -> Record:
    """`PUT /api/v1/customers/{identifier}`: the path identifier and the validated body."""
    return Record("v1.identify", workspace, now, _identity(ident), [ident.kind, ident.value, body])


def _apply_identify_v1(conn: Connection, records: list[Record]) -> None:
    for record in records:
        kind, value, body = record.payload
        parsed = people.parse_identify(body, record.now)
        people.identify(conn, record.workspace, Identifier(kind, value), parsed, record.now)


def track_v1(workspace: int, ident: Identifier, event: bulk_events.Plain, now: int) -> Record:
    """`POST /api/v1/customers/{identifier}/events`: the event as `events.bulk.Plain`."""
    return Record("v1.track", workspace, now, _identity(ident), list(event), dedup=event[6])


def _apply_track_v1(conn: Connection, records: list[Record]) -> None:
    queued = [(record.workspace, tuple(record.payload), record.now) for record in records]
    bulk_events.track_queued(conn, queued)


KINDS: dict[str, Kind] = {
    "v1.identify": Kind(_apply_identify_v1),
    "v1.track": Kind(_apply_track_v1, bulk=True),
}
