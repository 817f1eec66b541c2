"""The `import` job: apply an import's stored file, batch by batch.

Idempotent across retries and lost workers: each batch commits together
with the import's counts (`service.save_progress`), and a new attempt skips
the rows already counted. A file that cannot be imported at all (no
header, a required column missing) fails the import for good; so does a
file that is no longer stored.
"""

from __future__ import annotations

from sqlalchemy import Connection

from tidings import files
from tidings.imports import service
from tidings.imports.reading import FileRejected
from tidings.imports.run import Progress, run_import
from tidings.jobs.queue import Claimed
from tidings.jobs.worker import JobContext, Permanent


class ImportJob:
    def run(self, ctx: JobContext, job: Claimed) -> None:
        import_id = int(job.payload["import_id"])
        stored = ctx.read(service.load, job.workspace_id, import_id)
        if stored is None or stored.status in ("done", "failed"):
            return
        ctx.write(service.start, import_id, ctx.now())
        content = ctx.read(files.describe, job.workspace_id, stored.file_id or 0)
        if content is None:
            raise Permanent("the import's file is no longer stored")

        def record(conn: Connection, progress: Progress, now: int) -> None:
            service.save_progress(conn, import_id, progress, now)

        try:
            run_import(
                stored.spec,
                job.workspace_id,
                files.iter_content(ctx.db, content),
                ctx.write,
                ctx.now,
                start=stored.progress,
                record=record,
                after_batch=lambda _: ctx.heartbeat(),
            )
        except FileRejected as exc:
            raise Permanent(str(exc)) from exc
        ctx.write(service.finish, import_id, ctx.now())

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        service.fail(conn, int(job.payload["import_id"]), error, now)
