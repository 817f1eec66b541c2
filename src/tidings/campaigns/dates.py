"""Date-triggered campaigns: everyone's next entry scheduled when the campaign starts.

Once running, a date campaign follows each person's date attribute through
the activity stream (`triggers.on_activity` re-schedules an entry when the
attribute changes). The people who already had the attribute when it started
are scheduled by the `campaign_dates` job, enqueued in the transaction that
started it: it walks the workspace's people holding the attribute in pages
of `PAGE` by person key, each page one transaction that schedules their
entries (`journeys.reschedule_date`), so a crash resumes where it stopped
(scheduling again is a no-op: an entry is keyed by its date).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.campaigns import journeys, store
from tidings.db.schema import attributes, campaigns
from tidings.jobs.queue import Claimed
from tidings.jobs.runner import JobContext

JOB_KIND = store.DATES_JOB
PAGE = 1000


def schedule_page(
    conn: Connection, workspace_id: int, campaign_id: int, after: int, now: int
) -> int | None:
    """Schedule the next page of people after key `after`; the last key done, or None
    when there are no more (or the campaign is no longer a running date campaign)."""
    row = conn.execute(
        select(campaigns.c.state, campaigns.c.trigger_kind, campaigns.c.definition).where(
            campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id
        )
    ).first()
    if row is None or row.state != "running" or row.trigger_kind != "date":
        return None
    trigger = msgspec.json.decode(row.definition)["trigger"]
    a = attributes.c
    pks = list(
        conn.execute(
            select(a.person_id)
            .where(
                a.workspace_id == workspace_id,
                a.name == trigger["date"]["attribute"],
                a.person_id > after,
            )
            .order_by(a.person_id)
            .limit(PAGE)
        ).scalars()
    )
    for pk in pks:
        journeys.reschedule_date(conn, workspace_id, campaign_id, pk, trigger, now)
    return pks[-1] if pks else None


class DateScheduleJob:
    """The handler registered for `JOB_KIND`."""

    def run(self, ctx: JobContext, job: Claimed) -> None:
        campaign_id = _campaign_id(job.payload)
        after = 0
        while True:
            done = ctx.write(schedule_page, job.workspace_id, campaign_id, after, ctx.now())
            if done is None:
                return
            after = done
            ctx.heartbeat()

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        return None  # the entries scheduled so far stay; attribute changes schedule the rest


def _campaign_id(payload: dict[str, Any]) -> int:
    value = payload.get("campaign_id")
    return value if isinstance(value, int) else 0
