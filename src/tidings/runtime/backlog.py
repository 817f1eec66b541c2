"""What the background workers have yet to do, for `/readyz` and `/metrics`.

Counts of due work and the age of the oldest due item (its lag: how long it
has been waiting past its due time), read in one short read transaction
through indexed ranges.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from tidings.db.schema import deliveries, jobs, journeys, webhook_posts
from tidings.segments import dirty


def backlog(conn: Connection, now: int) -> dict[str, int]:
    marked, builds = dirty.backlog(conn)
    due_jobs, oldest_job = conn.execute(
        select(func.count(), func.min(jobs.c.run_at)).where(
            jobs.c.state == "queued", jobs.c.run_at <= now
        )
    ).one()
    due_deliveries, oldest_delivery = conn.execute(
        select(func.count(), func.min(deliveries.c.due_at)).where(
            deliveries.c.state == "queued", deliveries.c.due_at <= now
        )
    ).one()
    sending = conn.execute(
        select(func.count()).select_from(deliveries).where(deliveries.c.state == "sending")
    ).scalar_one()
    posts, oldest_post = conn.execute(
        select(func.count(), func.min(webhook_posts.c.due_at)).where(
            webhook_posts.c.state == "queued", webhook_posts.c.due_at <= now
        )
    ).one()
    due_journeys, oldest_journey = conn.execute(
        select(func.count(), func.min(journeys.c.due_at)).where(
            journeys.c.state == "active", journeys.c.due_at <= now
        )
    ).one()
    return {
        "segment_people_pending": marked,
        "segment_builds_pending": builds,
        "jobs_due": due_jobs,
        "jobs_lag_seconds": _lag(oldest_job, now),
        "deliveries_due": due_deliveries,
        "deliveries_sending": sending,
        "deliveries_lag_seconds": _lag(oldest_delivery, now),
        "webhook_posts_due": posts,
        "webhook_posts_lag_seconds": _lag(oldest_post, now),
        "journeys_due": due_journeys,
        "journeys_lag_seconds": _lag(oldest_journey, now),
    }


def _lag(oldest: int | None, now: int) -> int:
    return max(0, now - int(oldest)) if oldest is not None else 0
