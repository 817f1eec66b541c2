"""Applying parsed Track v2 operations inside the caller's transaction.

`apply_batch` is one write job for a whole `/api/v2/batch` request: every
operation that may still be refused runs in a SAVEPOINT of its own, so a
refused item writes nothing while the others commit together. Runs of
consecutive person events are inserted together (`bulk_events`), which is
what makes large event batches cheap. Operations apply in request order.

A batch of nothing but person events (and items refused while parsing) can
be queued instead (`apply_queued`, through `Writer.submit_many`, its events
as `events.bulk.Plain` tuples), so that the batches sharing a commit share
their statements too.
"""

from __future__ import annotations

import itertools

from sqlalchemy import Connection

from tidings.db import counters
from tidings.errors import ApiError
from tidings.events import bulk as bulk_events
from tidings.events.dedup import Claim, event_key
from tidings.people import anonymous_locks
from tidings.people.anonymous_locks import AnonymousId
from tidings.people.bulk import Named
from tidings.track_v2.operation import Operation

Item = Operation | ApiError


def run_operation(conn: Connection, workspace_id: int, op: Operation) -> None:
    """Apply one operation (`/api/v2/entity`); an `ApiError` leaves it unapplied."""
    op.fn(conn, workspace_id, *op.args)


def apply_batch(
    conn: Connection, workspace_id: int, items: list[Item], now: int
) -> list[tuple[int, ApiError]]:
    """Apply the valid items in order; (batch_index, error) for every refused one.

    Items that failed parsing arrive as `ApiError`s and are reported as they
    are. Any other exception propagates: the writer then retries the whole
    request on its own, so nothing is half-applied. The anonymous ids the items will
    look up or claim are locked first, sorted (`anonymous_ids`).
    """
    with anonymous_locks.held(conn, anonymous_ids(workspace_id, items)):
        return _apply_items(conn, workspace_id, items, now)


def _apply_items(
    conn: Connection, workspace_id: int, items: list[Item], now: int
) -> list[tuple[int, ApiError]]:
    errors = [(index, item) for index, item in enumerate(items) if isinstance(item, ApiError)]
    index, count = 0, len(items)
    while index < count:
        item = items[index]
        if isinstance(item, ApiError):
            index += 1
        elif item.event is not None:
            end = _event_run_end(items, index)
            bulk_events.track_many(conn, workspace_id, plain_events(items[index:end]), now)
            index = end
        else:
            error = _apply_one(conn, workspace_id, item)
            if error is not None:
                errors.append((index, error))
            index += 1
    errors.sort(key=lambda pair: pair[0])
    return errors


def anonymous_ids(workspace_id: int, items: list[Item]) -> list[AnonymousId]:
    """The anonymous ids the operations will look up or claim (`Operation.anonymous`),
    for their transaction to lock first."""
    ops = (item for item in items if isinstance(item, Operation))
    return [(workspace_id, anonymous_id) for op in ops for anonymous_id in op.anonymous]


Queued = tuple[int, list[bulk_events.Plain], int]  # workspace, a batch's events, receipt time


def only_events(items: list[Item]) -> bool:
    """Whether `apply_queued` may apply the batch: person events and parse errors only."""
    return all(isinstance(item, ApiError) or item.event is not None for item in items)


def plain_events(items: list[Item]) -> list[bulk_events.Plain]:
    """The person events among `items` (a batch, or a run of one), as `track_many` takes them."""
    return [
        bulk_events.plain(op.ident, op.event)
        for op in items
        if isinstance(op, Operation) and op.ident is not None and op.event is not None
    ]


def apply_queued(conn: Connection, queued: list[Queued]) -> None:
    """The writer's bulk function for batches of person events (`plain_events`).

    The effect is `apply_batch` on each batch in turn (whose errors are the
    parse errors the caller holds): the batches of one workspace
    received in the same second are one `track_many` run, which drops a
    dedup `id` repeated later in the run as it would in a later batch.
    """
    # By workspace (stable: each keeps its order), so that a transaction records the
    # dedup keys and people of its workspaces in one order (see `events.dedup`).
    ordered = sorted(queued, key=lambda q: q[0])
    for (workspace_id, now), group in itertools.groupby(ordered, key=lambda q: (q[0], q[2])):
        run = [item for _, batch, _ in group for item in batch]
        bulk_events.track_many(conn, workspace_id, run, now)


def queued_claims(item: Queued) -> list[Claim]:
    """The dedup keys `apply_queued` will ask for on a batch's behalf (`dedup.preclaim`)."""
    workspace_id, events, now = item
    keys = (event_key(event[6]) for event in events)
    return [(workspace_id, key, now) for key in keys if key]


def queued_people(item: Queued, is_new: bulk_events.IsNew) -> list[Named]:
    """The people `apply_queued` will record a batch's events on (`preclaim_people`)."""
    workspace_id, events, now = item
    return bulk_events.named_by(workspace_id, events, now, is_new)


def _event_run_end(items: list[Item], start: int) -> int:
    """The end of the run of person events (and skipped invalid items) from `start`."""
    end = start
    while end < len(items):
        item = items[end]
        if isinstance(item, Operation) and item.event is None:
            break
        end += 1
    return end


def _apply_one(conn: Connection, workspace_id: int, op: Operation) -> ApiError | None:
    if not op.may_refuse:
        op.fn(conn, workspace_id, *op.args)
        return None
    try:
        with counters.savepoint(conn):  # undone counts are forgotten too
            op.fn(conn, workspace_id, *op.args)
    except ApiError as exc:
        return exc
    return None
