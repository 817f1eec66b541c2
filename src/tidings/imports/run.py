"""The row-processing core shared by `tidings import` and the import job.

Records are parsed outside any transaction, then applied `BATCH_ROWS` at a
time, each batch one transaction (`write(fn, *args)` commits `fn(conn,
...)`). A bad row is counted and reported with its line; the others in its
batch still apply. People are identified one by one, each in a SAVEPOINT;
events go through the bulk path Track v1 uses (`events.bulk.track_many`).

`Progress` is what has been done so far. The job stores it in the same
transaction as each batch (`record`), so after a crash the job resumes
after the last committed batch instead of applying rows twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from tidings.errors import ApiError
from tidings.events import bulk as bulk_events
from tidings.imports.reading import Record, csv_records, jsonl_records
from tidings.imports.rows import Spec, check_header, parse_row
from tidings.people import anonymous_locks, store
from tidings.people import bulk as bulk_people
from tidings.people import service as people
from tidings.people.anonymous_locks import AnonymousId

BATCH_ROWS = 500
MAX_ERRORS = 1000  # bad rows reported in detail; all of them are counted

Write = Callable[..., Any]
Recorder = Callable[[Connection, "Progress", int], None]  # (conn, progress, now)
Item = tuple[int, Any]  # (line, (Identifier, request) | error message)


@dataclass(frozen=True)
class Progress:
    rows: int = 0  # data rows read (blank lines are not rows)
    imported: int = 0
    failed: int = 0
    errors: tuple[tuple[int, str], ...] = ()  # (line, message), the first MAX_ERRORS

    @property
    def skipped(self) -> int:
        """Rows `process` left out (only_new / only_existing)."""
        return self.rows - self.imported - self.failed

    def after(self, rows: int, imported: int, errors: list[tuple[int, str]]) -> Progress:
        room = max(0, MAX_ERRORS - len(self.errors))
        return replace(
            self,
            rows=self.rows + rows,
            imported=self.imported + imported,
            failed=self.failed + len(errors),
            errors=self.errors + tuple(sorted(errors)[:room]),
        )


NOTHING_YET = Progress()


def records(spec: Spec, chunks: Iterable[bytes]) -> Iterator[Record]:
    """The file's records; `FileRejected` (at once) when the file cannot be imported."""
    if spec.format == "jsonl":
        return jsonl_records(chunks)
    header, rows = csv_records(chunks)
    check_header(spec, header)
    return rows


def run_import(
    spec: Spec,
    workspace_id: int,
    chunks: Iterable[bytes],
    write: Write,
    now: Callable[[], int],
    *,
    start: Progress = NOTHING_YET,
    record: Recorder | None = None,
    after_batch: Callable[[Progress], None] = lambda progress: None,
    batch_rows: int = BATCH_ROWS,
) -> Progress:
    """Import every record after the first `start.rows`; the final progress."""
    progress, skip = start, start.rows
    batch: list[Record] = []
    for rec in records(spec, chunks):
        if skip:
            skip -= 1
            continue
        batch.append(rec)
        if len(batch) >= batch_rows:
            progress = _commit(spec, workspace_id, batch, write, now(), progress, record)
            after_batch(progress)
            batch = []
    if batch:
        progress = _commit(spec, workspace_id, batch, write, now(), progress, record)
        after_batch(progress)
    return progress


def _commit(
    spec: Spec,
    workspace_id: int,
    batch: list[Record],
    write: Write,
    now: int,
    progress: Progress,
    record: Recorder | None,
) -> Progress:
    items = [_parse(spec, rec, now) for rec in batch]
    result: Progress = write(apply_batch, spec, workspace_id, items, now, progress, record)
    return result


def _parse(spec: Spec, rec: Record, now: int) -> Item:
    if rec.values is None:
        return rec.line, rec.error or "unreadable"
    try:
        return rec.line, parse_row(spec, rec.values, now)
    except ApiError as exc:
        return rec.line, exc.message


def apply_batch(
    conn: Connection,
    spec: Spec,
    workspace_id: int,
    items: list[Item],
    now: int,
    progress: Progress,
    record: Recorder | None,
) -> Progress:
    """Apply one batch in the caller's transaction; the progress after it.

    Deterministic and leaves its arguments alone: the writer may run it twice.
    """
    errors = [(line, parsed) for line, parsed in items if isinstance(parsed, str)]
    valid = [(line, parsed) for line, parsed in items if not isinstance(parsed, str)]
    if spec.kind == "people":
        done, refused = _identify_each(conn, spec, workspace_id, valid, now)
    else:
        done, refused = _track_all(conn, spec, workspace_id, valid, now)
    after = progress.after(len(items), done, errors + refused)
    if record is not None:
        record(conn, after, now)
    return after


def _identify_each(
    conn: Connection, spec: Spec, workspace_id: int, valid: list[Item], now: int
) -> tuple[int, list[tuple[int, str]]]:
    """Identify row by row, each in a SAVEPOINT; (rows applied, rows refused). The
    anonymous ids the rows claim are locked first, sorted (`anonymous_ids`)."""
    with anonymous_locks.held(conn, anonymous_ids(spec, workspace_id, valid)):
        return _identify_rows(conn, spec, workspace_id, valid, now)


def anonymous_ids(spec: Spec, workspace_id: int, items: list[Item]) -> list[AnonymousId]:
    """The anonymous ids a batch of people rows claims (`people.anonymous_ids`), for its
    transaction to lock first."""
    if spec.kind != "people":
        return []
    requests = (parsed[1] for _, parsed in items if not isinstance(parsed, str))
    return [pair for request in requests for pair in people.anonymous_ids(workspace_id, request)]


def _identify_rows(
    conn: Connection, spec: Spec, workspace_id: int, valid: list[Item], now: int
) -> tuple[int, list[tuple[int, str]]]:
    done, refused = 0, []
    for line, (ident, request) in valid:
        if spec.process != "all":
            exists = store.find(conn, workspace_id, ident) is not None
            if exists != (spec.process == "only_existing"):
                continue
        savepoint = conn.begin_nested()
        try:
            people.identify(conn, workspace_id, ident, request, now)
        except ApiError as exc:
            savepoint.rollback()
            refused.append((line, exc.message))
            continue
        savepoint.commit()
        done += 1
    return done, refused


def _track_all(
    conn: Connection, spec: Spec, workspace_id: int, valid: list[Item], now: int
) -> tuple[int, list[tuple[int, str]]]:
    """Events through Track's bulk path; with `only_existing`, for known people only."""
    pairs = [parsed for _, parsed in valid]
    if spec.process == "only_existing":
        known = bulk_people.find_many(conn, workspace_id, {(i.kind, i.key) for i, _ in pairs})
        pairs = [(i, e) for i, e in pairs if (i.kind, i.key) in known]
    bulk_events.track_many(conn, workspace_id, [bulk_events.plain(i, e) for i, e in pairs], now)
    return len(pairs), []
