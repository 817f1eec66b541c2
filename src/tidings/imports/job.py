"""The `import` job: apply an import's file, batch by batch.

A `data_file_url` import first downloads the file (through the SSRF-guarded
`tidings.fetch`, at most `service.MAX_FILE_BYTES`) into the files table, so
a retry imports the same bytes; an upload's file is stored already.

Idempotent across retries and lost workers: each batch commits together
with the import's counts (`service.save_progress`), and a new attempt skips
the rows already counted. A file that cannot be imported at all (no
header, a required column missing), a refused URL or a download that
cannot succeed fail the import for good; network trouble is retried.
"""

from __future__ import annotations

import functools

from sqlalchemy import Connection

from tidings import files
from tidings.fetch import Allowlist, FetchFailed, FetchRefused, open_url
from tidings.imports import service
from tidings.imports.reading import FileRejected
from tidings.imports.run import Progress, run_import
from tidings.jobs.queue import Claimed
from tidings.jobs.runner import JobContext, Permanent

DOWNLOAD_TIMEOUT = 600.0  # seconds for the whole download


class ImportJob:
    def __init__(self, allow: Allowlist | None = None) -> None:
        self.allow = allow or Allowlist.parse("")

    def run(self, ctx: JobContext, job: Claimed) -> None:
        import_id = int(job.payload["import_id"])
        stored = ctx.read(service.load, job.workspace_id, import_id)
        if stored is None or stored.status in ("done", "failed"):
            return
        ctx.write(service.start, import_id, ctx.now())
        file_id = stored.file_id
        if file_id is None and stored.url:
            file_id = self._download(ctx, stored)
        content = ctx.read(files.describe, job.workspace_id, file_id or 0)
        if content is None:
            raise Permanent("the import's file is no longer stored")

        try:
            run_import(
                stored.spec,
                job.workspace_id,
                files.iter_content(ctx.db, content),
                ctx.write,
                ctx.now,
                start=stored.progress,
                # A module-level function: it may cross to the writer process.
                record=functools.partial(_record_progress, import_id),
                after_batch=lambda _: ctx.heartbeat(),
            )
        except FileRejected as exc:
            raise Permanent(str(exc)) from exc
        ctx.write(service.finish, import_id, ctx.now())

    def _download(self, ctx: JobContext, stored: service.Stored) -> int:
        """Store the URL's body as the import's file; its id."""
        assert stored.url is not None
        name = stored.url.rsplit("/", 1)[-1][:255] or "download"
        file_id = ctx.write(files.create, stored.workspace_id, "import", name, "", ctx.now())
        sink = files.FileSink(ctx.write, file_id)
        try:
            with open_url(
                stored.url,
                allow=self.allow,
                max_bytes=service.MAX_FILE_BYTES,
                timeout=DOWNLOAD_TIMEOUT,
            ) as opened:
                for chunk in opened.iter_bytes():
                    sink.add(chunk)
                    ctx.heartbeat()
            sink.close()
        except BaseException as exc:
            ctx.write(files.remove, file_id)
            if isinstance(exc, FetchRefused) or (isinstance(exc, FetchFailed) and exc.permanent):
                raise Permanent(str(exc)) from exc
            raise
        ctx.write(service.set_file, stored.id, file_id, ctx.now())
        return int(file_id)

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        service.fail(conn, int(job.payload["import_id"]), error, now)


def _record_progress(import_id: int, conn: Connection, progress: Progress, now: int) -> None:
    service.save_progress(conn, import_id, progress, now)
