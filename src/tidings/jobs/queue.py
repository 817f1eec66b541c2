"""The job queue, in the `jobs` table.

A job is enqueued inside the transaction that asks for it, so it exists
exactly when that change committed. A worker claims one with a lease: the
claim sets `state='running'`, bumps `attempts` and sets `lease_until`. If the
worker dies, the lease runs out and the job is claimable again. Every outcome
is recorded only while the claim still holds (same `attempts`, still
running), so a worker that lost its lease cannot overwrite a newer claim.

On PostgreSQL several workers claim concurrently with `FOR UPDATE SKIP
LOCKED`; on SQLite one writer serialises the claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, Select, and_, func, insert, or_, select, update

from tidings.db.schema import jobs

DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds until `lease_until`."""

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
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _next_due(kinds: Sequence[str], now: int) -> Select[tuple[int]]:
    due = or_(
        and_(jobs.c.state == "queued", jobs.c.run_at <= now),
        and_(jobs.c.state == "running", jobs.c.lease_until < now),
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
    """Take the next due job of one of `kinds` (queued, or running with an expired lease)."""
    query = _next_due(kinds, now)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = conn.execute(query).scalar()
    if job_id is None:
        return None
    row = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            state="running",
            attempts=jobs.c.attempts + 1,
            lease_until=now + lease,
            updated_at=now,
        )
        .returning(
            jobs.c.id,
            jobs.c.workspace_id,
            jobs.c.kind,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.max_attempts,
        )
    ).one()
    return Claimed(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        payload=msgspec.json.decode(row.payload),
        attempt=row.attempts,
        max_attempts=row.max_attempts,
    )


def _held(job: Claimed) -> Any:
    return and_(jobs.c.id == job.id, jobs.c.attempts == job.attempt, jobs.c.state == "running")


def extend(conn: Connection, job: Claimed, now: int, lease: int) -> bool:
    """Renew the lease; False when it was lost (expired and claimed again)."""
    changed = conn.execute(
        update(jobs).where(_held(job)).values(lease_until=now + lease, updated_at=now)
    ).rowcount
    return changed == 1


def finish(conn: Connection, job: Claimed, now: int) -> bool:
    changed = conn.execute(
        update(jobs)
        .where(_held(job))
        .values(state="done", lease_until=None, last_error=None, updated_at=now)
    ).rowcount
    return changed == 1


def retry(conn: Connection, job: Claimed, now: int, run_at: int, error: str) -> bool:
    changed = conn.execute(
        update(jobs)
        .where(_held(job))
        .values(state="queued", run_at=run_at, lease_until=None, last_error=error, updated_at=now)
    ).rowcount
    return changed == 1


def fail(conn: Connection, job: Claimed, now: int, error: str) -> bool:
    changed = conn.execute(
        update(jobs)
        .where(_held(job))
        .values(state="failed", lease_until=None, last_error=error, updated_at=now)
    ).rowcount
    return changed == 1


def backlog(conn: Connection, now: int) -> dict[str, int]:
    """Due jobs per kind (for /readyz and /metrics)."""
    rows = conn.execute(
        select(jobs.c.kind, func.count())
        .where(jobs.c.state.in_(("queued", "running")), jobs.c.run_at <= now)
        .group_by(jobs.c.kind)
    ).all()
    return {kind: count for kind, count in rows}
