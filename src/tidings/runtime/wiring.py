"""Where the layers meet: the activity stream's subscribers and the job handlers.

Lower layers publish and queue without knowing who listens or who runs the
work; this module is the one place that says so. Every process that runs use
cases calls `wire()` before its first one: the server (`create_app`), the
worker process (`create_worker`), SQLite's writer process and the CLI. A
server's group-commit writer on PostgreSQL takes its `batch_scope()` from
here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Connection

from tidings.activity import stream
from tidings.campaigns import broadcasts, dates, merging, newsletter_ab, newsletters, triggers
from tidings.campaigns.dates import DateScheduleJob
from tidings.campaigns.fanout import FanoutJob
from tidings.collections.job import CollectionFetchJob
from tidings.db.writer import BatchScope, Job
from tidings.events import bulk as bulk_events
from tidings.events import dedup
from tidings.events import service as events
from tidings.exports.job import ExportJob
from tidings.fetch import Allowlist
from tidings.imports import run as imports
from tidings.imports.job import ImportJob
from tidings.jobs.runner import Handler
from tidings.people import anonymous_locks, forms
from tidings.people import service as people_service
from tidings.pipelines import ingest
from tidings.reporting import customer_events
from tidings.segments import dirty
from tidings.track_v2 import apply


def wire() -> None:
    """Subscribe this process's activity subscribers (idempotent): segment marks,
    then campaign entries (which see the marks' transaction, not their outcome),
    then a merged person's journeys handed to the survivor (`campaigns.merging`),
    then the reporting webhooks' `customer_*` posts (`reporting.customer_events`)."""
    stream.subscribe(
        dirty.on_activity, triggers.on_activity, merging.on_activity, customer_events.on_activity
    )


def job_handlers(allowlist: Allowlist) -> dict[str, Handler]:
    """Every job kind this build knows; `allowlist`: the private addresses the jobs
    that fetch user-supplied URLs may reach (`--fetch-allow`)."""
    return {
        "export": ExportJob(),
        "import": ImportJob(allowlist),
        "collection_fetch": CollectionFetchJob(allowlist),
        dates.JOB_KIND: DateScheduleJob(),
        broadcasts.JOB_KIND: FanoutJob(allowlist),
        newsletters.JOB_KIND: newsletters.ScheduledSendJob(),
        newsletter_ab.JOB_KIND: newsletter_ab.WinnerJob(),
    }


def batch_scope() -> BatchScope:
    """The writer's scope for a batch, so that two processes' batches take shared rows
    in one order: the advisory locks of the anonymous ids its jobs will look up or
    claim (Pipelines messages; Track v1 anonymous events, identifies and form
    submissions; Track v2 operations; imported people) taken first
    (`people.anonymous_locks.preclaim`), then the dedup keys of its queued events
    (`events.dedup.preclaim`), then the people they name found or created
    (`events.bulk.preclaim_people`), and its segment marks made at its end
    (`segments.dirty.deferred`)."""
    anonymous = anonymous_locks.preclaim(
        {
            ingest.ingest_queued: lambda args: ingest.queued_anonymous(args[0]),
            ingest.ingest: lambda args: ingest.anonymous_ids(args[0], args[1]),
            events.track_anonymous: lambda args: events.anonymous_ids(args[0], args[1]),
            people_service.identify: lambda args: people_service.anonymous_ids(args[0], args[2]),
            forms.submit: lambda args: people_service.anonymous_ids(args[0], args[3]),
            apply.run_operation: lambda args: apply.anonymous_ids(args[0], [args[1]]),
            apply.apply_batch: lambda args: apply.anonymous_ids(args[0], args[1]),
            imports.apply_batch: lambda args: imports.anonymous_ids(*args[:3]),
        }
    )
    keys = dedup.preclaim(
        {
            bulk_events.track_queued: bulk_events.queued_claims,
            ingest.ingest_queued: ingest.queued_claims,
            apply.apply_queued: apply.queued_claims,
        }
    )
    people = bulk_events.preclaim_people(
        {
            bulk_events.track_queued: bulk_events.queued_people,
            ingest.ingest_queued: ingest.queued_people,
            apply.apply_queued: apply.queued_people,
        }
    )

    @contextlib.contextmanager
    def scope(conn: Connection, batch: list[Job]) -> Iterator[None]:
        # The marks outermost: the people created by the pre-claim are marked at the end too.
        with dirty.deferred(conn), anonymous(conn, batch), keys(conn, batch), people(conn, batch):
            yield

    return scope
