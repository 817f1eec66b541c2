"""Child process of bench/synthetic.py: one export of every person, timed.

    .venv/bin/python bench/synthetic_export.py STORE.sqlite3 '["plan", "country"]'

Creates a customers export with no filter and the given extra columns, runs
the `export` job through a `JobWorker` (the code `tidings worker` runs),
prints one JSON line (seconds, rows, bytes), then deletes the export, its job
and its file so the store stays as generated. The parent reads this process's
peak RSS from wait4().
"""

from __future__ import annotations

import json
import sys
import time

from sqlalchemy import delete, select

from tidings import files
from tidings.clock import SystemClock
from tidings.db.engine import open_database
from tidings.db.schema import exports, jobs
from tidings.exports import service
from tidings.exports.job import ExportJob
from tidings.jobs.runner import JobWorker
from tidings.runtime import wiring


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    path, columns = sys.argv[1], json.loads(sys.argv[2])
    db = open_database(f"sqlite:///{path}")
    now = int(time.time())
    request = service.parse_customers_request({"attributes": columns})
    with db.writer.begin() as conn:
        export_id = service.create_customers_export(conn, 1, request, now)["id"]
    worker = JobWorker(db, SystemClock(), {service.JOB_KIND: ExportJob()})
    started = time.perf_counter()
    while worker.run_once():
        pass
    seconds = time.perf_counter() - started
    with db.writer.begin() as conn:
        row = conn.execute(select(exports).where(exports.c.id == export_id)).one()
        if row.status != "done":
            raise SystemExit(f"export ended {row.status}: {row.error}")
        size = files.describe(conn, 1, row.file_id).size
        files.remove(conn, row.file_id)
        conn.execute(delete(exports).where(exports.c.id == export_id))
        conn.execute(delete(jobs).where(jobs.c.workspace_id == 1))
    db.dispose()
    print(json.dumps({"seconds": seconds, "rows": row.total, "bytes": size}))


if __name__ == "__main__":
    main()
