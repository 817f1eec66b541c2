"""Each kind of record: how a handler makes it, and the use case that applies it.

A kind's `apply(conn, records)` calls exactly what the direct path's handler
would have called, with the record's `now`, so a message applied from the
log writes what the request would have written. Bulk kinds take a run of
consecutive records together (one multi-row write, as the group-commit
writer does for concurrent requests); the others take one record at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection

from tidings.errors import ApiError
from tidings.events import bulk as bulk_events
from tidings.ingest_log.records import Record
from tidings.people import service as people
from tidings.people.anonymous_locks import AnonymousId
from tidings.people.identifiers import Identifier, one_of
from tidings.pipelines import ingest as pipelines
from tidings.pipelines import rejections
from tidings.pipelines.parse import Message
from tidings.pipelines.rejections import Rejected
from tidings.pipelines.rules import Plain as PlainMessage
from tidings.track_v2 import apply as v2
from tidings.track_v2.parse import parse_operation


@dataclass(frozen=True)
class Kind:
    apply: Callable[[Connection, list[Record]], Any]
    # The endpoints whose requests make records of this kind (shown with a refusal).
    route: str
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


# --- Track v2 ------------------------------------------------------------------------

_sorted = msgspec.json.Encoder(order="sorted")


def track_v2(workspace: int, raw: list[Any], items: list[v2.Item], now: int) -> list[Record]:
    """A v2 entity or batch: one record per valid operation (the refused ones are answered
    207 or 400 before anything is published), person events as `events.bulk.Plain`, any
    other operation as its validated JSON, parsed again when applied."""
    made = []
    for body, item in zip(raw, items, strict=True):
        if isinstance(item, ApiError):
            continue
        identity = _v2_identity(body)
        if item.event is not None and item.ident is not None:
            event = bulk_events.plain(item.ident, item.event)
            made.append(Record("v2.event", workspace, now, identity, list(event), dedup=event[6]))
        else:
            made.append(Record("v2.op", workspace, now, identity, body))
    return made


def _v2_identity(body: dict[str, Any]) -> str:
    """A person's identifier (a merge's primary), as Track v1 names it; else the type and
    the identifiers the operation names."""
    if body.get("type") == "person":
        try:
            return _identity(one_of(body.get("identifiers") or body.get("primary")))
        except ApiError:
            pass  # named otherwise (an anonymous_id): partitioned by what it names
    return f"{body.get('type')}:{_sorted.encode(body.get('identifiers')).decode()}"


def _apply_v2_event(conn: Connection, records: list[Record]) -> None:
    queued = [(record.workspace, [tuple(record.payload)], record.now) for record in records]
    v2.apply_queued(conn, queued)


def _apply_v2_op(conn: Connection, records: list[Record]) -> None:
    for record in records:
        v2.run_operation(conn, record.workspace, parse_operation(record.payload, record.now))


# --- Pipelines -------------------------------------------------------------------------


def pipelines_items(workspace: int, items: list[pipelines.Item], now: int) -> list[Record]:
    """A Pipelines request: each message as validated (a msgspec Struct, JSON both ways),
    plain events as `pipelines.rules.Plain`; each refused one too, to be recorded
    among the rejections in its partition's order."""
    made = []
    for item in items:
        if isinstance(item, Rejected):
            made.append(Record("cdp.rejected", workspace, now, "", dataclasses.asdict(item)))
            continue
        if item.plain:
            made.append(_cdp_event(workspace, item.as_plain(), now))
        else:
            identity = _cdp_identity(item.user_id, item.anonymous_id)
            made.append(Record("cdp.message", workspace, now, identity, item, item.message_id))
    return made


def pipelines_plain(workspace: int, plain: list[PlainMessage], now: int) -> list[Record]:
    """A Pipelines batch of plain events only, as its fast reading gives them."""
    return [_cdp_event(workspace, item, now) for item in plain]


def _cdp_event(workspace: int, plain: PlainMessage, now: int) -> Record:
    _, user_id, anonymous_id, message_id, *_ = plain
    identity = _cdp_identity(user_id, anonymous_id)
    return Record("cdp.event", workspace, now, identity, list(plain), message_id or None)


def _cdp_identity(user_id: str | None, anonymous_id: str | None) -> str:
    """A userId is the person's `id`, as Track names it; without one, the anonymousId."""
    return f"id:{user_id}" if user_id else f"anonymous:{anonymous_id}"


def _apply_cdp_event(conn: Connection, records: list[Record]) -> None:
    queued = [(record.workspace, [tuple(record.payload)], record.now) for record in records]
    pipelines.ingest_queued(conn, queued)  # type: ignore[arg-type]


def _apply_cdp_message(conn: Connection, records: list[Record]) -> None:
    for record in records:
        message = msgspec.convert(record.payload, Message)
        pipelines.ingest(conn, record.workspace, [message], record.now, strict=False)


def anonymous_ids(records: list[Record]) -> list[AnonymousId]:
    """The anonymous ids the records' use cases will look up or claim, for their
    transaction to lock first: Pipelines messages' (`pipelines.ingest.anonymous_ids`),
    the `anonymous_id` a Track v1 identify sets, a Track v2 operation's
    (`track_v2.apply.anonymous_ids`). Raises what parsing a record raises."""
    found: list[AnonymousId] = []
    for record in records:
        if record.kind == "v1.identify":
            parsed = people.parse_identify(record.payload[2], record.now)
            found.extend(people.anonymous_ids(record.workspace, parsed))
        elif record.kind == "v2.op":
            op = parse_operation(record.payload, record.now)
            found.extend(v2.anonymous_ids(record.workspace, [op]))
        elif record.kind == "cdp.event":
            queued = (record.workspace, [tuple(record.payload)], record.now)
            found.extend(pipelines.queued_anonymous(queued))  # type: ignore[arg-type]
        elif record.kind == "cdp.message":
            message = msgspec.convert(record.payload, Message)
            found.extend(pipelines.anonymous_ids(record.workspace, [message]))
    return found


def _apply_cdp_rejected(conn: Connection, records: list[Record]) -> None:
    for record in records:
        refused = Rejected(**record.payload)
        rejections.record(conn, record.workspace, [refused], record.now)


_V2 = "POST /api/v2/entity, /api/v2/batch"
_CDP = "POST /v1/identify, track, page, screen, group, alias or batch (Pipelines)"

KINDS: dict[str, Kind] = {
    "v1.identify": Kind(_apply_identify_v1, "PUT /api/v1/customers/{identifier}"),
    "v1.track": Kind(_apply_track_v1, "POST /api/v1/customers/{identifier}/events", bulk=True),
    "v2.event": Kind(_apply_v2_event, _V2, bulk=True),
    "v2.op": Kind(_apply_v2_op, _V2),
    "cdp.event": Kind(_apply_cdp_event, _CDP, bulk=True),
    "cdp.message": Kind(_apply_cdp_message, _CDP),
    "cdp.rejected": Kind(_apply_cdp_rejected, _CDP),
}
