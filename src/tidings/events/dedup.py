"""Dedup of incoming events by the client's id (Track `id`, Pipelines `messageId`).

A key is recorded in the same transaction as the event it admits, so a
client's retry after a lost answer is stored once. Keys are kept 48 hours
(`runtime.housekeeping.DEDUP_WINDOW`).

Lock order. On PostgreSQL an insert waits for another transaction's
uncommitted row with the same key, so two transactions taking shared keys
in opposite orders deadlock. `record_keys` sorts the keys of one call, but
a writer batch calls it many times (per bulk run, per workspace and second
within a run). So the writer's optimistic pass first takes every key its
bulk items will ask for in one sorted pass (`preclaim`, wired by
`runtime.wiring.batch_scope`), and `record_keys` answers those keys from
what that pass found.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import Connection

from tidings.db import raw
from tidings.db.schema import event_dedup
from tidings.db.writer import BatchScope, Job

T = TypeVar("T")

KEYS_PER_INSERT = 300  # 900 parameters

_CLAIMED = "tidings.dedup.claimed"  # the open `claimed` block's answers in `conn.info`

Claim = tuple[int, str, int]  # workspace, key, receipt time
# The claims one queued item of a bulk function will ask `record_keys` for.
ClaimsOf = Callable[[Any], Iterable[Claim]]


def event_key(dedup_id: str | None) -> str | None:
    """The dedup key of a Track event's `id` (v1 and v2); None for an event without one."""
    return f"event:{dedup_id}" if dedup_id else None


def first_sighting(conn: Connection, workspace_id: int, key: str | None, now: int) -> bool:
    """Record a dedup key; False if the workspace has seen it before (no key: True).

    Keys are kept 48 hours (`runtime.housekeeping.DEDUP_WINDOW`), so a client's
    retry of an event with the same `id` or `messageId` is stored once.
    Whether the row went in is read from RETURNING, not `rowcount`: SQLAlchemy
    keeps no INSERT rowcount on PostgreSQL (it reports -1).
    """
    if not key:
        return True
    return bool(record_keys(conn, workspace_id, [key], now))


def first_sightings(
    conn: Connection,
    workspace_id: int,
    items: list[T],
    key_of: Callable[[T], str | None],
    now: int,
) -> list[T]:
    """The items whose dedup key (`key_of`, None for none) is new to the workspace.

    A key repeated later in `items` drops the later item too.
    """
    keys = [key_of(item) for item in items]
    if not any(keys):
        return items
    new = record_keys(conn, workspace_id, [key for key in keys if key], now)
    fresh = []
    for item, key in zip(items, keys, strict=True):
        if key:
            if key not in new:
                continue
            new.discard(key)
        fresh.append(item)
    return fresh


def record_keys(conn: Connection, workspace_id: int, keys: list[str], now: int) -> set[str]:
    """Record dedup keys (as `first_sighting`, many at once); the new ones.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING key` per chunk both
    records the keys and says which of them were new. The keys go in sorted:
    on PostgreSQL an insert waits for another transaction's uncommitted row
    with the same key, so two nodes inserting overlapping keys in arrival
    order could each wait for the other (a deadlock); in one order, one waits.
    Keys the open `claimed` block took are answered from it instead (new on
    the first ask only), without a statement.
    """
    new: set[str] = set()
    unique = sorted(set(keys))
    claimed: dict[tuple[int, str], bool] | None = conn.info.get(_CLAIMED)
    if claimed:
        unique = _answer_claimed(claimed, workspace_id, unique, new)
    for start in range(0, len(unique), KEYS_PER_INSERT):
        chunk = unique[start : start + KEYS_PER_INSERT]
        sql = _dedup_sql(conn.dialect.paramstyle, len(chunk))
        params = tuple(value for key in chunk for value in (workspace_id, key, now))
        new.update(row[0] for row in raw.execute(conn, sql, params))
    return new


def _answer_claimed(
    claimed: dict[tuple[int, str], bool], workspace_id: int, keys: list[str], new: set[str]
) -> list[str]:
    """Answer the claimed keys (new on the first ask only) into `new`; the others."""
    rest = []
    for key in keys:
        answer = claimed.get((workspace_id, key))
        if answer is None:
            rest.append(key)
        elif answer:
            new.add(key)
            claimed[(workspace_id, key)] = False
    return rest


def preclaim(claims_of: Mapping[Callable[..., Any], ClaimsOf]) -> BatchScope:
    """The writer's batch scope: `claimed` with the keys of the batch's bulk items, each
    read by the `claims_of` of its bulk function (other jobs ask as they run)."""

    def scope(conn: Connection, batch: list[Job]) -> AbstractContextManager[None]:
        claims: list[Claim] = []
        for job in batch:
            of = claims_of.get(job.fn) if job.bulk else None
            if of is not None:
                claims.extend(of(job.args[0]))
        return claimed(conn, claims)

    return scope


@contextlib.contextmanager
def claimed(conn: Connection, claims: Iterable[Claim]) -> Iterator[None]:
    """Record the keys claimed, all in one order (workspace, key), and let `record_keys`
    answer them from what this found until the block ends (it must end with the
    transaction: a rolled-back key was never recorded)."""
    first: dict[tuple[int, str], int] = {}
    for workspace_id, key, now in claims:
        first.setdefault((workspace_id, key), now)
    if not first:
        yield
        return
    answers = dict.fromkeys(first, False)
    ordered = sorted(first)
    for start in range(0, len(ordered), KEYS_PER_INSERT):
        chunk = ordered[start : start + KEYS_PER_INSERT]
        sql = _claim_sql(conn.dialect.paramstyle, len(chunk))
        params = tuple(value for ws, key in chunk for value in (ws, key, first[(ws, key)]))
        for key, workspace_id in raw.execute(conn, sql, params):
            answers[(workspace_id, key)] = True
    conn.info[_CLAIMED] = answers  # the connection's info outlives the transaction
    try:
        yield
    finally:
        del conn.info[_CLAIMED]


def first_asks(conn: Connection) -> Callable[[int, str | None], bool]:
    """Whether an item asking for (workspace, key), asked in batch order, will find it
    new: a key the open `claimed` block found new, on its first ask here (no key: True;
    a key not claimed: False). For a pre-claim that must leave out what dedup will drop
    (`events.bulk.preclaim_people`); it reads the claim and hands out nothing."""
    claimed: dict[tuple[int, str], bool] = conn.info.get(_CLAIMED) or {}
    unasked = {pair for pair, new in claimed.items() if new}

    def new(workspace_id: int, key: str | None) -> bool:
        if not key:
            return True
        if (workspace_id, key) in unasked:
            unasked.discard((workspace_id, key))
            return True
        return False

    return new


@functools.lru_cache(maxsize=64)
def _claim_sql(paramstyle: str, count: int) -> str:
    return _dedup_sql(paramstyle, count) + ", workspace_id"


@functools.lru_cache(maxsize=64)
def _dedup_sql(paramstyle: str, count: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    values = ", ".join([f"({mark}, {mark}, {mark})"] * count)
    return (
        f"INSERT INTO {event_dedup.name} (workspace_id, key, seen_at) VALUES {values} "
        "ON CONFLICT DO NOTHING RETURNING key"
    )
