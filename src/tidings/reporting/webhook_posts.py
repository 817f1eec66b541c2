"""The queue of reporting-webhook posts (`webhook_posts`), in order per webhook.

Only the oldest queued post of an enabled webhook may be claimed; the ones
behind it wait until it is sent or given up (Customer.io's "we backlog
subsequent webhook calls"). It is a lease queue (`jobs.lease`): a claim
bumps `attempts` and sets a lease on the database's clock, and leaves the
post queued, so that the ones behind it keep waiting; every outcome is
recorded only while that claim still holds (same `attempts`, still queued),
so a poster whose lease ran out cannot overwrite a newer claim. On
PostgreSQL concurrent posters claim with `FOR UPDATE SKIP LOCKED`; on SQLite
the one writer serialises claims. `due_at` (when a post may next be tried)
is on the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, ScalarSelect, Select, exists, func, or_, select

from tidings.db.schema import reporting_webhooks, webhook_posts
from tidings.jobs.lease import Leases

LEASES = Leases(webhook_posts, held_state="queued")


@dataclass(frozen=True)
class ClaimedPost:
    id: int
    workspace_id: int
    webhook_id: int
    endpoint: str
    signing_key: str
    body: str
    attempt: int
    created_at: int


def due(conn: Connection, now: int) -> bool:
    """Whether `claim` would find a post: a cheap look from a reading connection,
    so that an idle poster's poll takes no write transaction."""
    return conn.execute(_next_due(now)).first() is not None


def _next_due(now: int) -> Select[tuple[int]]:
    return (
        select(webhook_posts.c.id)
        .where(
            webhook_posts.c.state == "queued",
            webhook_posts.c.due_at <= now,
            or_(webhook_posts.c.lease_until.is_(None), LEASES.expired()),
            webhook_posts.c.id == _head_of_queue(),
            exists().where(
                reporting_webhooks.c.id == webhook_posts.c.webhook_id,
                reporting_webhooks.c.disabled == 0,
            ),
        )
        .order_by(webhook_posts.c.due_at, webhook_posts.c.id)
        .limit(1)
    )


def claim(conn: Connection, now: int, lease: int) -> ClaimedPost | None:
    """The next due post at the head of its webhook's queue, leased for `lease` seconds."""
    c = webhook_posts.c
    returning = (c.id, c.workspace_id, c.webhook_id, c.body, c.attempts, c.created_at)
    rows = LEASES.claim(conn, _next_due(now), lease, returning, last_attempt_at=now)
    if not rows:
        return None
    [row] = rows
    hook = conn.execute(
        select(reporting_webhooks.c.endpoint, reporting_webhooks.c.signing_key).where(
            reporting_webhooks.c.id == row.webhook_id
        )
    ).one()
    return ClaimedPost(
        row.id,
        row.workspace_id,
        row.webhook_id,
        hook.endpoint,
        hook.signing_key,
        row.body,
        row.attempts,
        row.created_at,
    )


def _head_of_queue() -> ScalarSelect[Any]:
    earlier = webhook_posts.alias()  # Core's alias: sqlalchemy.orm costs 0.1 s to import
    return (
        select(func.min(earlier.c.id))
        .where(earlier.c.webhook_id == webhook_posts.c.webhook_id, earlier.c.state == "queued")
        .scalar_subquery()
    )


def sent(conn: Connection, post: ClaimedPost) -> bool:
    return LEASES.record(conn, post.id, post.attempt, state="sent", last_error=None)


def retry(conn: Connection, post: ClaimedPost, due_at: int, error: str) -> bool:
    return LEASES.record(conn, post.id, post.attempt, due_at=due_at, last_error=error[:1000])


def failed(conn: Connection, post: ClaimedPost, error: str) -> bool:
    """The dead letter: failed for good, and the webhook's queue moves on."""
    return LEASES.record(conn, post.id, post.attempt, state="failed", last_error=error[:1000])
