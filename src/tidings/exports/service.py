"""Export rows: requests, the export object, download links, job bookkeeping, retention.

An export is created `pending` together with its job, in one transaction, so
there is never an export without a job to build it nor a job without its row.
The job (`job.py`) starts an attempt (a fresh file), streams the CSV and marks
the export `done` with its `total`; when the job fails for good, `mark_failed`
runs in the transaction that records it. Every lookup is scoped to the
workspace: another workspace's export ids are plain 404s.

What the request asked for stays in the `spec` column as JSON: for customers
`{"filter": <condition JSON or null>, "attributes": [<extra columns>]}`, for
deliveries the window and filters of `deliveries_csv.DeliveriesExport`.

Files are kept `RETENTION` seconds (7 days). Customer.io documents no number;
its exports are also kept for a limited time and re-created on demand. The
export row stays (listed, with `status: "done"`); downloading it afterwards is
a 400 saying the file expired. Expired files are removed by housekeeping
(`runtime/housekeeping.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, insert, select, update

from tidings import files, numbers
from tidings.attributes import MAX_ATTRIBUTES, MAX_NAME_BYTES
from tidings.db.schema import exports
from tidings.errors import bad_request, not_found
from tidings.exports.deliveries_csv import DeliveriesExport
from tidings.exports.deliveries_csv import parse_request as parse_deliveries
from tidings.exports.people_csv import IDENTIFIERS, PeopleExport
from tidings.jobs import queue
from tidings.segments.conditions import parse

JOB_KIND = "export"
RETENTION = 7 * 86400


@dataclass(frozen=True)
class CustomersRequest:
    """A validated `POST /v1/exports/customers` body."""

    filter: Any  # the condition's JSON, or None for everyone
    attributes: tuple[str, ...]

    def spec(self) -> str:
        return msgspec.json.encode({"filter": self.filter, "attributes": self.attributes}).decode()


def parse_customers_request(body: dict[str, Any]) -> CustomersRequest:
    """The filter and extra columns of a customers export; a 400 naming the bad part.

    The filter is under `filters` (Customer.io's documented key, what
    customerio-node sends) or `filter` (the key customer search uses); the
    condition language is the one search and segments use. A missing or null
    filter in a body exports everyone (our leniency: the language has no
    "match all"); the handler refuses a request with no body at all.
    """
    key = "filters" if "filters" in body else "filter"
    condition = body.get(key)
    if condition is not None:
        parse(condition, key)
    return CustomersRequest(condition, _extra_columns(body.get("attributes")))


def _extra_columns(value: Any) -> tuple[str, ...]:
    """Requested attribute names, in order, without repeats or the identifier columns."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request("attributes: must be an array of attribute names", "attributes")
    if len(value) > MAX_ATTRIBUTES:
        raise bad_request(f"attributes: at most {MAX_ATTRIBUTES} names", "attributes")
    for i, name in enumerate(value):
        if len(name.encode()) > MAX_NAME_BYTES:
            message = f"attributes[{i}]: longer than {MAX_NAME_BYTES} bytes"
            raise bad_request(message, f"attributes[{i}]")
    return tuple(name for name in dict.fromkeys(value) if name not in IDENTIFIERS)


def parse_export_id(raw: str) -> int:
    """An `{export_id}` path value; anything that cannot be an export id is a 404."""
    return numbers.path_id(raw, "export", numbers.MAX_BIGINT)


def export_json(row: Any) -> dict[str, Any]:
    """An export in Customer.io's exportObject shape (BEHAVIOUR.md 5.8).

    Exports made through the API have no dashboard user: `user_id` 0 and
    `user_email` null. A failed export also carries `error` (our extension).
    """
    shown = {
        "id": row.id,
        "user_id": 0,
        "user_email": None,
        "total": row.total,
        "deduplicate_id": f"{row.id}:{row.created_at}",
        "type": row.type,
        "failed": row.status == "failed",
        "status": row.status,
        "description": row.description,
        "downloads": row.downloads,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.status == "failed":
        shown["error"] = row.error
    return shown


def create_customers_export(
    conn: Connection, workspace_id: int, request: CustomersRequest, now: int
) -> dict[str, Any]:
    """A pending export and the job that builds it, committed together."""
    description = "customers: " + ("matching a filter" if request.filter else "everyone")
    return _create(conn, workspace_id, "customers", description, request.spec(), now)


def parse_deliveries_request(body: dict[str, Any], workspace_id: int, now: int) -> DeliveriesExport:
    """A deliveries export's window and filters (`deliveries_csv`); a 400 naming the bad part."""
    return parse_deliveries(body, workspace_id, now, _extra_columns(body.get("attributes")))


def create_deliveries_export(
    conn: Connection, workspace_id: int, request: DeliveriesExport, now: int
) -> dict[str, Any]:
    description = f"deliveries: created {request.start} to {request.end}"
    return _create(conn, workspace_id, "deliveries", description, request.spec(), now)


def _create(
    conn: Connection, workspace_id: int, kind: str, description: str, spec: str, now: int
) -> dict[str, Any]:
    result = conn.execute(
        insert(exports).values(
            workspace_id=workspace_id,
            type=kind,
            status="pending",
            description=description,
            spec=spec,
            total=0,
            downloads=0,
            created_at=now,
            updated_at=now,
        )
    )
    export_id = int(result.inserted_primary_key[0])
    queue.enqueue(conn, workspace_id, JOB_KIND, {"export_id": export_id}, now)
    return get(conn, workspace_id, export_id)


def row_of(conn: Connection, workspace_id: int, export_id: int) -> Any:
    row = conn.execute(
        select(exports).where(exports.c.workspace_id == workspace_id, exports.c.id == export_id)
    ).first()
    if row is None:
        raise not_found("export not found")
    return row


def get(conn: Connection, workspace_id: int, export_id: int) -> dict[str, Any]:
    return export_json(row_of(conn, workspace_id, export_id))


def list_all(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    """The workspace's exports, oldest first (bounded: files expire, rows are small)."""
    rows = conn.execute(
        select(exports).where(exports.c.workspace_id == workspace_id).order_by(exports.c.id)
    )
    return [export_json(row) for row in rows]


def create_download(conn: Connection, workspace_id: int, export_id: int, now: int) -> str:
    """A 15-minute download token for a done export's file; counts the download."""
    row = row_of(conn, workspace_id, export_id)
    if row.status != "done":
        raise bad_request(f"export {export_id} is {row.status}: only a done export has a file")
    if row.file_id is None:
        days = RETENTION // 86400
        raise bad_request(f"export {export_id} has expired: files are kept {days} days")
    token, _ = files.create_link(conn, workspace_id, row.file_id, now)
    conn.execute(
        update(exports).where(exports.c.id == export_id).values(downloads=exports.c.downloads + 1)
    )
    return token


# The job's side.


@dataclass(frozen=True)
class Attempt:
    """One run of an export's job: what to write, and the fresh file to write it to."""

    export_id: int
    file_id: int
    source: PeopleExport | DeliveriesExport


def start_attempt(conn: Connection, workspace_id: int, export_id: int, now: int) -> Attempt | None:
    """Give a pending export a fresh, empty file; None when it is no longer pending.

    A previous attempt's partial file (its worker died or it failed and is
    being retried) is removed first, so a retry starts from the first row.
    """
    row = conn.execute(
        select(exports).where(exports.c.workspace_id == workspace_id, exports.c.id == export_id)
    ).first()
    if row is None or row.status != "pending":
        return None
    if row.file_id is not None:
        files.remove(conn, row.file_id)
    name = f"{row.type}_export_{export_id}.csv"
    file_id = files.create(conn, workspace_id, "export", name, "text/csv; charset=utf-8", now)
    conn.execute(update(exports).where(exports.c.id == export_id).values(file_id=file_id))
    if row.type == "deliveries":
        return Attempt(export_id, file_id, DeliveriesExport.from_spec(workspace_id, row.spec))
    spec = msgspec.json.decode(row.spec)
    condition = parse(spec["filter"], "filter") if spec["filter"] is not None else None
    people = PeopleExport(workspace_id, condition, tuple(spec["attributes"]), now)
    return Attempt(export_id, file_id, people)


def mark_done(conn: Connection, attempt: Attempt, total: int, now: int) -> bool:
    """Done with `total` rows, if this attempt's file is still the export's."""
    changed = conn.execute(
        update(exports)
        .where(
            exports.c.id == attempt.export_id,
            exports.c.status == "pending",
            exports.c.file_id == attempt.file_id,
        )
        .values(status="done", total=total, error=None, updated_at=now)
    ).rowcount
    return changed == 1


def mark_failed(conn: Connection, workspace_id: int, export_id: int, error: str, now: int) -> None:
    """Failed for good: keep the reason, drop the partial file."""
    row = conn.execute(
        select(exports.c.status, exports.c.file_id).where(
            exports.c.workspace_id == workspace_id, exports.c.id == export_id
        )
    ).first()
    if row is None or row.status != "pending":
        return
    if row.file_id is not None:
        files.remove(conn, row.file_id)
    conn.execute(
        update(exports)
        .where(exports.c.id == export_id)
        .values(status="failed", error=error, file_id=None, updated_at=now)
    )


def progress_of(conn: Connection, workspace_id: int, export_ids: list[int]) -> dict[int, str]:
    """Each of these exports' status and rows as people read it ("done, 42 rows"), by id:
    one read for a page of jobs (the Jobs page)."""
    if not export_ids:
        return {}
    rows = conn.execute(
        select(exports.c.id, exports.c.status, exports.c.total).where(
            exports.c.workspace_id == workspace_id, exports.c.id.in_(export_ids)
        )
    )
    return {row.id: f"{row.status}, {row.total} rows" for row in rows}
