"""The `export` job: builds an export's CSV into a stored file.

Idempotent: each attempt writes a fresh file (`service.start_attempt` drops a
previous attempt's partial one) and the export turns `done` only with the
file of the attempt that finished, so a retry or a second worker cannot mix
rows. Memory holds one page of people and at most about two file parts,
whatever the export's size; the lease is renewed between pages. A job that
fails for good marks its export `failed` (`give_up`).
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from tidings.errors import ApiError
from tidings.exports import deliveries_csv, people_csv, service
from tidings.exports.csv_format import encode_rows
from tidings.files import FileSink
from tidings.jobs.queue import Claimed
from tidings.jobs.runner import JobContext, Permanent

log = logging.getLogger("tidings.exports")


class ExportJob:
    """The job handler registered for `service.JOB_KIND`."""

    def run(self, ctx: JobContext, job: Claimed) -> None:
        export_id = _export_id(job)
        try:
            attempt = ctx.write(service.start_attempt, job.workspace_id, export_id, ctx.now())
        except ApiError as exc:  # a stored filter today's rules refuse: retrying cannot help
            raise Permanent(f"the export's filter is not valid: {exc.message}") from exc
        if attempt is None:
            return  # done or failed meanwhile: nothing left to do
        sink = FileSink(ctx.write, attempt.file_id)
        if isinstance(attempt.source, deliveries_csv.DeliveriesExport):
            total = write_deliveries(ctx, attempt.source, sink)
        else:
            total = write_people(ctx, attempt.source, sink)
        sink.close()
        if not ctx.write(service.mark_done, attempt, total, ctx.now()):
            log.warning("export %s was finished by another attempt", export_id)

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        export_id = job.payload.get("export_id")
        if isinstance(export_id, int):
            service.mark_failed(conn, job.workspace_id, export_id, error, now)


def write_people(ctx: JobContext, export: people_csv.PeopleExport, sink: FileSink) -> int:
    """Stream the header and every matching person's row into `sink`; returns the row count."""
    sink.add(encode_rows([people_csv.header(export)]))
    after, total = 0, 0
    while (page := ctx.read(people_csv.read_page, export, after)) is not None:
        sink.add(encode_rows(page.rows))
        total += len(page.rows)
        after = page.last_key
        ctx.heartbeat()
    return total


def write_deliveries(
    ctx: JobContext, export: deliveries_csv.DeliveriesExport, sink: FileSink
) -> int:
    """Stream the header and every matching delivery's row into `sink`; returns the row count."""
    sink.add(encode_rows([deliveries_csv.header(export)]))
    after: tuple[int, str] | None = None
    total = 0
    while (page := ctx.read(deliveries_csv.read_page, export, after)) is not None:
        sink.add(encode_rows(page.rows))
        total += len(page.rows)
        after = page.last_key
        ctx.heartbeat()
    return total


def _export_id(job: Claimed) -> int:
    export_id = job.payload.get("export_id")
    if not isinstance(export_id, int):
        raise Permanent(f"export job {job.id} has no export_id")
    return export_id
