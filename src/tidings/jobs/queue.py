"""The job queue, in the `jobs` table: a lease queue (`jobs.lease`).

A job is enqueued inside the transaction that asks for it, so it exists
exactly when that change committed. A worker claims one with a lease: the
claim sets `state='running'`, bumps `attempts` and sets `lease_until` on the
database's clock. If the worker dies, the lease runs out and the job is
claimable again. Every outcome is recorded only while the claim still holds
(same `attempts`, still running), so a worker that lost its lease cannot
overwrite a newer claim. `run_at` (when a job may run) is on the caller's
clock.

On PostgreSQL several workers claim concurrently with `FOR UPDATE SKIP
LOCKED`; on SQLite one writer serialises the claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, Select, and_, func, insert, or_, select

from tidings.db.schema import jobs
from tidings.jobs.lease import Leases

DEFAULT_MAX_ATTEMPTS = 5  # stored with each job: its own limit
LEASES = Leases(jobs, held_state="running")


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds until its lease runs out."""

    id: int
    workspace_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


def enqueue(
    conn: Connection,
    workspace_id: int,
    kind: str,
    payload: dict[str, Any],
    now: int,
    *,
    run_at: int | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int:
    now = int(now)
    result = conn.execute(
        insert(jobs).values(
            workspace_id=workspace_id,
            kind=kind,
            payload=msgspec.json.encode(payload).decode(),
            state="queued",
            attempts=0,
            max_attempts=max_attempts,
            run_at=now if run_at is None else run_at,
            created_at=now,
            updated_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


def _next_due(kinds: Sequence[str], now: int) -> Select[tuple[int]]:
    due = or_(
        and_(jobs.c.state == "queued", jobs.c.run_at <= now),
        and_(jobs.c.state == "running", LEASES.expired()),
    )
    return (
        select(jobs.c.id)
        .where(jobs.c.kind.in_(kinds), due)
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(1)
    )


def due(conn: Connection, kinds: Sequence[str], now: int) -> bool:
    """Whether `claim` would find a job: a cheap look from a reading connection,
    so that an idle worker's poll takes no write transaction."""
    return conn.execute(_next_due(kinds, now)).first() is not None


def claim(conn: Connection, kinds: Sequence[str], now: int, lease: int) -> Claimed | None:
    """Take the next due job of one of `kinds` (queued and due at `now`, or running
    with a lease that ran out), leased for `lease` seconds."""
    c = jobs.c
    returning = (c.id, c.workspace_id, c.kind, c.payload, c.attempts, c.max_attempts)
    rows = LEASES.claim(
        conn, _next_due(kinds, now), lease, returning, state="running", updated_at=now
    )
    if not rows:
        return None
    [row] = rows
    return Claimed(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        payload=msgspec.json.decode(row.payload),
        attempt=row.attempts,
        max_attempts=row.max_attempts,
    )


def extend(conn: Connection, job: Claimed, now: int, lease: int) -> bool:
    """Renew the lease for `lease` seconds; False when it was lost (expired and
    claimed again)."""
    return LEASES.renew(conn, [(job.id, job.attempt)], lease, updated_at=now) == 1


def finish(conn: Connection, job: Claimed, now: int) -> bool:
    return LEASES.record(conn, job.id, job.attempt, state="done", last_error=None, updated_at=now)


def retry(conn: Connection, job: Claimed, now: int, run_at: int, error: str) -> bool:
    values = {"state": "queued", "run_at": run_at, "last_error": error, "updated_at": now}
    return LEASES.record(conn, job.id, job.attempt, **values)


def fail(conn: Connection, job: Claimed, now: int, error: str) -> bool:
    """The dead letter: failed for good, kept with its error."""
    values = {"state": "failed", "last_error": error, "updated_at": now}
    return LEASES.record(conn, job.id, job.attempt, **values)


def backlog(conn: Connection, now: int) -> dict[str, int]:
    """Due jobs per kind (for /readyz and /metrics)."""
    rows = conn.execute(
        select(jobs.c.kind, func.count())
        .where(jobs.c.state.in_(("queued", "running")), jobs.c.run_at <= now)
        .group_by(jobs.c.kind)
    ).all()
    return {kind: count for kind, count in rows}
