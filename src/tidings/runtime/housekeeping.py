"""Housekeeping: removing what has outlived its purpose.

Run by the job worker every few minutes (`JobWorker`), in one transaction
of at most `CHUNK` rows per table, so it never holds the writer for long.
Of the processes sharing a database, one runs it each period (its chore,
`jobs.chores`); were two to run it at once, nothing would go wrong.

- event dedup keys (Track `id`, Pipelines `messageId`): `DEDUP_WINDOW`,
  48 hours, twice the 24 hours we promise;
- `Idempotency-Key` answers: 24 hours;
- download links: until they expire (15 minutes);
- export files: `exports.service.RETENTION` (7 days); the export row stays;
- finished jobs, done or failed: 7 days (a failure's reason stays on the
  export, collection or import it was for);
- web UI sessions past their idle or absolute expiry, and failed logins
  older than the throttle's window;
- refusals found when applying the ingest log (`ingest_refusals`):
  `ingest_log.refusals.RETENTION`, 30 days from the request;
- events counted per minute (`event_minutes`): `event_rate.KEPT`, 8 days;
  messages counted per day (`delivery_days`): `DELIVERY_DAYS_KEPT`, 32 days.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, tuple_, update

from tidings import files
from tidings.db.schema import (
    delivery_days,
    download_links,
    event_dedup,
    event_minutes,
    exports,
    idempotency_keys,
    ingest_refusals,
    jobs,
    login_failures,
    ui_sessions,
)
from tidings.exports.service import RETENTION as EXPORT_RETENTION
from tidings.ingest_log import refusals
from tidings.reporting import event_rate
from tidings.users import sessions, throttle

DEDUP_WINDOW = 48 * 3600
IDEMPOTENCY_WINDOW = 24 * 3600
JOB_RETENTION = 7 * 86400
DELIVERY_DAYS_KEPT = 32 * 86400  # the dashboard shows 30
CHUNK = 5_000


def prune(conn: Connection, now: int) -> dict[str, int]:
    """One round: up to `CHUNK` rows of each kind; how many of each went."""
    return {
        "event_dedup": _delete_oldest(
            conn,
            event_dedup,
            (event_dedup.c.workspace_id, event_dedup.c.key),
            event_dedup.c.seen_at < now - DEDUP_WINDOW,
        ),
        "idempotency_keys": _delete_oldest(
            conn,
            idempotency_keys,
            (idempotency_keys.c.workspace_id, idempotency_keys.c.key),
            idempotency_keys.c.created_at < now - IDEMPOTENCY_WINDOW,
        ),
        "download_links": _delete_oldest(
            conn,
            download_links,
            (download_links.c.token_hash,),
            download_links.c.expires_at < now,
        ),
        "jobs": _delete_oldest(
            conn,
            jobs,
            (jobs.c.id,),
            jobs.c.state.in_(("done", "failed")),
            jobs.c.updated_at < now - JOB_RETENTION,
        ),
        "export_files": _expired_export_files(conn, now),
        "ui_sessions": _delete_oldest(
            conn,
            ui_sessions,
            (ui_sessions.c.id_hash,),
            sessions.expired(now),
        ),
        "event_minutes": _delete_oldest(
            conn,
            event_minutes,
            (event_minutes.c.workspace_id, event_minutes.c.minute),
            event_minutes.c.minute < now - event_rate.KEPT,
        ),
        "delivery_days": _delete_oldest(
            conn,
            delivery_days,
            (delivery_days.c.workspace_id, delivery_days.c.day, delivery_days.c.metric),
            delivery_days.c.day < now - DELIVERY_DAYS_KEPT,
        ),
        "ingest_refusals": _delete_oldest(
            conn,
            ingest_refusals,
            (ingest_refusals.c.id,),
            ingest_refusals.c.received_at < now - refusals.RETENTION,
        ),
        "login_failures": _delete_oldest(
            conn,
            login_failures,
            (login_failures.c.id,),
            login_failures.c.at <= now - throttle.WINDOW,
        ),
    }


def _delete_oldest(conn: Connection, table: Any, key: tuple[Any, ...], *where: Any) -> int:
    chosen = select(*key).where(*where).limit(CHUNK)
    condition = key[0].in_(chosen) if len(key) == 1 else tuple_(*key).in_(chosen)
    return int(conn.execute(delete(table).where(condition)).rowcount)


def _expired_export_files(conn: Connection, now: int) -> int:
    rows = conn.execute(
        select(exports.c.id, exports.c.file_id)
        .where(
            exports.c.created_at < now - EXPORT_RETENTION,
            exports.c.status == "done",
            exports.c.file_id.is_not(None),
        )
        .limit(100)
    ).all()
    for row in rows:
        files.remove(conn, row.file_id)
        conn.execute(update(exports).where(exports.c.id == row.id).values(file_id=None))
    return len(rows)
