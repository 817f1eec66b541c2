"""Imports as the App API shows them: create one (queueing its job), read its state.

An import is shown as Customer.io's import object (`id`, `name`,
`description`, `type` people|event, `identifier`, `data_to_process`,
`state`, `rows_to_import`, `rows_imported`, `error`, times), plus our
`format`, `rows_failed` and `errors` (the first bad rows, `{line, error}`).
States: `preprocessing` (queued), `importing`, `imported`, `failed`.
`rows_to_import` counts the data rows read so far; it is the file's total
once the import is `imported`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, insert, select, update

from tidings import fetch, files, numbers
from tidings.db.schema import imports
from tidings.errors import bad_request, not_found
from tidings.imports.rows import FORMATS, IDENTIFIERS, PROCESS, Spec
from tidings.imports.run import Progress
from tidings.jobs import queue

JOB = "import"
MAX_FILE_BYTES = 100 * 1024 * 1024  # an upload's body, or what a data_file_url may hold
LIST_LIMIT = 100
STATES = {"pending": "preprocessing", "running": "importing", "done": "imported"}
TYPES = {"people": "people", "person": "people", "event": "events", "events": "events"}
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Request:
    """A parsed import request (App API body or upload query)."""

    spec: Spec
    name: str
    description: str
    url: str | None = None


# What `parse_request` reads from an upload's query string.
UPLOAD_QUERY = (
    "type",
    "identifier",
    "data_to_process",
    "people_to_process",
    "format",
    "name",
    "description",
)


def parse_request(fields: dict[str, Any], *, default_format: str = "csv") -> Request:
    """Validate `type`, `identifier`, `data_to_process` (or `people_to_process`), `format`."""
    raw_type = fields.get("type")
    if raw_type in ("object", "relationship"):
        raise bad_request(f"{raw_type} imports are not supported yet: use people or event", "type")
    kind = TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if kind is None:
        raise bad_request("type must be people or event", "type")
    identifier = _choice(fields, "identifier", IDENTIFIERS, "id")
    process_key = "people_to_process" if "people_to_process" in fields else "data_to_process"
    process = _choice(fields, process_key, PROCESS, "all")
    if kind == "events" and process == "only_new":
        raise bad_request("event imports support only all and only_existing", process_key)
    fmt = _choice(fields, "format", FORMATS, default_format)
    url = _url(fields.get("data_file_url"))
    name = _text(fields, "name", 255) or _file_name(url) or f"import.{fmt}"
    spec = Spec(kind, identifier, fmt, process)
    return Request(spec, name, _text(fields, "description", 10_000), url)


def _choice(fields: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(key)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise bad_request(f"{key} must be one of " + ", ".join(allowed), key)
    return str(value)


def _url(value: Any) -> str | None:
    """A `data_file_url` worth queueing (http or https); where it leads is checked on fetch."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request("data_file_url must be a URL", "data_file_url")
    try:
        fetch.parse_url(value)
    except fetch.FetchFailed as exc:
        raise bad_request(f"data_file_url: {exc}", "data_file_url") from exc
    return value


def _file_name(url: str | None) -> str:
    return (url or "").split("?")[0].rstrip("/").rsplit("/", 1)[-1][:255]


def _text(fields: dict[str, Any], key: str, limit: int) -> str:
    value = fields.get(key) or ""
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string", key)
    if len(value) > limit:
        raise bad_request(f"{key} cannot be longer than {limit} characters", key)
    return value


def create(
    conn: Connection, workspace_id: int, req: Request, file_id: int | None, now: int
) -> dict[str, Any]:
    """Record a new import and queue its job, in the caller's transaction."""
    options = {
        "format": req.spec.format,
        "identifier": req.spec.identifier,
        "process": req.spec.process,
        "description": req.description,
        "url": req.url,
    }
    import_id = conn.execute(
        insert(imports).values(
            workspace_id=workspace_id,
            kind=req.spec.kind,
            name=req.name,
            status="pending",
            options=_encode(options).decode(),
            file_id=file_id,
            rows_total=0,
            rows_imported=0,
            rows_failed=0,
            errors="[]",
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key[0]
    queue.enqueue(conn, workspace_id, JOB, {"import_id": import_id}, now)
    return get(conn, workspace_id, import_id)


def create_from_upload(
    conn: Connection, workspace_id: int, req: Request, file_id: int, size: int, now: int
) -> dict[str, Any]:
    """Mark the uploaded file complete and start importing it, in one transaction."""
    files.mark_complete(conn, file_id, size)
    return create(conn, workspace_id, req, file_id, now)


def parse_import_id(raw: str) -> int:
    return numbers.path_id(raw, "import", numbers.MAX_BIGINT)


def get(conn: Connection, workspace_id: int, import_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(imports).where(imports.c.workspace_id == workspace_id, imports.c.id == import_id)
    ).first()
    if row is None:
        raise not_found("import not found")
    return import_json(row)


def list_recent(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    """The workspace's latest imports, newest first (our extension)."""
    rows = conn.execute(
        select(imports)
        .where(imports.c.workspace_id == workspace_id)
        .order_by(imports.c.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    return [import_json(row) for row in rows]


def import_json(row: Any) -> dict[str, Any]:
    options = msgspec.json.decode(row.options)
    shown: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": options.get("description", ""),
        "type": "people" if row.kind == "people" else "event",
        "identifier": options["identifier"],
        "data_to_process": options["process"],
        "people_to_process": options["process"],
        "format": options["format"],
        "state": STATES.get(row.status, "failed"),
        "rows_to_import": row.rows_total,
        "rows_imported": row.rows_imported,
        "rows_failed": row.rows_failed,
        "errors": msgspec.json.decode(row.errors),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if options.get("url"):
        shown["data_file_url"] = options["url"]
    if row.error:
        shown["error"] = row.error
    return shown


@dataclass(frozen=True)
class Stored:
    """What the import job needs to know about an import."""

    id: int
    workspace_id: int
    spec: Spec
    status: str
    file_id: int | None
    url: str | None
    progress: Progress


def load(conn: Connection, workspace_id: int, import_id: int) -> Stored | None:
    row = conn.execute(
        select(imports).where(imports.c.workspace_id == workspace_id, imports.c.id == import_id)
    ).first()
    if row is None:
        return None
    options = msgspec.json.decode(row.options)
    spec = Spec(row.kind, options["identifier"], options["format"], options["process"])
    errors = tuple((e["line"], e["error"]) for e in msgspec.json.decode(row.errors))
    progress = Progress(row.rows_total, row.rows_imported, row.rows_failed, errors)
    return Stored(row.id, workspace_id, spec, row.status, row.file_id, options.get("url"), progress)


def save_progress(conn: Connection, import_id: int, progress: Progress, now: int) -> None:
    """Counts and errors after a batch, in the batch's own transaction."""
    errors = [{"line": line, "error": message} for line, message in progress.errors]
    conn.execute(
        update(imports)
        .where(imports.c.id == import_id)
        .values(
            status="running",
            rows_total=progress.rows,
            rows_imported=progress.imported,
            rows_failed=progress.failed,
            errors=_encode(errors).decode(),
            updated_at=now,
        )
    )


def set_file(conn: Connection, import_id: int, file_id: int, now: int) -> None:
    """The file fetched for a URL import."""
    conn.execute(
        update(imports).where(imports.c.id == import_id).values(file_id=file_id, updated_at=now)
    )


def start(conn: Connection, import_id: int, now: int) -> None:
    conn.execute(
        update(imports)
        .where(imports.c.id == import_id, imports.c.status == "pending")
        .values(status="running", updated_at=now)
    )


def finish(conn: Connection, import_id: int, now: int) -> None:
    """Done: the file is deleted (its rows are imported; no copy of personal data stays)."""
    _end(conn, import_id, "done", None, now)


def fail(conn: Connection, import_id: int, error: str, now: int) -> None:
    """Failed for good, with the reason; rows imported before the failure stay."""
    _end(conn, import_id, "failed", error, now)


def _end(conn: Connection, import_id: int, status: str, error: str | None, now: int) -> None:
    file_id = conn.execute(
        select(imports.c.file_id).where(imports.c.id == import_id)
    ).scalar_one_or_none()
    conn.execute(
        update(imports)
        .where(imports.c.id == import_id)
        .values(status=status, error=error, file_id=None, updated_at=now)
    )
    if file_id is not None:
        files.remove(conn, file_id)


def format_of(content_type: str, name: str) -> str:
    """jsonl for a JSON Lines content type or a .jsonl / .ndjson name, else csv."""
    if content_type in JSONL_TYPES or name.lower().split("?")[0].endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "csv"


def progress_of(conn: Connection, workspace_id: int, import_ids: list[int]) -> dict[int, str]:
    """How far each of these imports got, as people read it ("120 of 500 rows, 3 failed"),
    by id: one read for a page of jobs (the Jobs page)."""
    if not import_ids:
        return {}
    rows = conn.execute(
        select(
            imports.c.id, imports.c.rows_total, imports.c.rows_imported, imports.c.rows_failed
        ).where(imports.c.workspace_id == workspace_id, imports.c.id.in_(import_ids))
    )
    return {
        row.id: f"{row.rows_imported} of {row.rows_total} rows"
        + (f", {row.rows_failed} failed" if row.rows_failed else "")
        for row in rows
    }
