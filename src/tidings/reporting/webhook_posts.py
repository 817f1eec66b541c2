"""The queue of reporting-webhook posts (`webhook_posts`), in order per webhook.

Only the oldest queued post of an enabled webhook may be claimed; the ones
behind it wait until it is sent or given up (Customer.io's "we backlog
subsequent webhook calls"). A claim bumps `attempts` and sets a lease;
every outcome is recorded only while that claim still holds (same
`attempts`, still queued), so a poster whose lease ran out cannot overwrite
a newer claim. On PostgreSQL concurrent posters claim with `FOR UPDATE SKIP
LOCKED`; on SQLite the one writer serialises claims.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Select, and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from tidings.db.schema import reporting_webhooks, webhook_posts


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
            or_(webhook_posts.c.lease_until.is_(None), webhook_posts.c.lease_until < now),
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
    """The next due post at the head of its webhook's queue, leased until `now + lease`."""
    query = _next_due(now)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=webhook_posts, skip_locked=True)
    post_id = conn.execute(query).scalar()
    if post_id is None:
        return None
    row = conn.execute(
        update(webhook_posts)
        .where(webhook_posts.c.id == post_id)
        .values(attempts=webhook_posts.c.attempts + 1, lease_until=now + lease, last_attempt_at=now)
        .returning(
            webhook_posts.c.workspace_id,
            webhook_posts.c.webhook_id,
            webhook_posts.c.body,
            webhook_posts.c.attempts,
            webhook_posts.c.created_at,
        )
    ).one()
    hook = conn.execute(
        select(reporting_webhooks.c.endpoint, reporting_webhooks.c.signing_key).where(
            reporting_webhooks.c.id == row.webhook_id
        )
    ).one()
    return ClaimedPost(
        post_id,
        row.workspace_id,
        row.webhook_id,
        hook.endpoint,
        hook.signing_key,
        row.body,
        row.attempts,
        row.created_at,
    )


def _head_of_queue():  # type: ignore[no-untyped-def]
    earlier = aliased(webhook_posts)
    return (
        select(func.min(earlier.c.id))
        .where(earlier.c.webhook_id == webhook_posts.c.webhook_id, earlier.c.state == "queued")
        .scalar_subquery()
    )


def sent(conn: Connection, post: ClaimedPost) -> bool:
    return _record(conn, post, state="sent", lease_until=None, last_error=None)


def retry(conn: Connection, post: ClaimedPost, due_at: int, error: str) -> bool:
    return _record(conn, post, due_at=due_at, lease_until=None, last_error=error[:1000])


def failed(conn: Connection, post: ClaimedPost, error: str) -> bool:
    return _record(conn, post, state="failed", lease_until=None, last_error=error[:1000])


def _record(conn: Connection, post: ClaimedPost, **values: object) -> bool:
    held = and_(
        webhook_posts.c.id == post.id,
        webhook_posts.c.attempts == post.attempt,
        webhook_posts.c.state == "queued",
    )
    return conn.execute(update(webhook_posts).where(held).values(**values)).rowcount == 1
