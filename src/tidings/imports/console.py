"""`tidings import people|events FILE`: the import core with a progress bar and a summary.

Rows are applied in the command's own transactions (one per batch), not
through a job: the command returns when the file is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

import click

from tidings import clock
from tidings.db.engine import Database
from tidings.errors import ApiError
from tidings.imports import run, service
from tidings.imports.reading import FileRejected
from tidings.imports.rows import Spec

SHOWN_ERRORS = 20


def spec_for(kind: str, path: str, fmt: str | None, identifier: str, process: str) -> Spec:
    """The options checked by the same rules as the App API's."""
    fields = {"type": kind, "identifier": identifier, "format": fmt, "data_to_process": process}
    try:
        return service.parse_request(fields, default_format=service.format_of("", path)).spec
    except ApiError as exc:
        raise click.UsageError(exc.message) from exc


def import_file(db: Database, workspace_id: int, spec: Spec, path: str) -> None:
    def write(fn: Callable[..., Any], *args: Any) -> Any:
        with db.writer.begin() as conn:
            return fn(conn, *args)

    size = os.path.getsize(path)
    try:
        with (
            open(path, "rb") as handle,
            click.progressbar(
                length=size, label=f"importing {os.path.basename(path)}", file=sys.stderr
            ) as bar,
        ):
            chunks = _chunks(handle, bar.update)
            done = run.run_import(
                spec, workspace_id, chunks, write, lambda: int(clock.current().now())
            )
    except FileRejected as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    _summary(done)


def _chunks(handle: IO[bytes], advance: Callable[[int], None]) -> Iterator[bytes]:
    while block := handle.read(1 << 16):
        advance(len(block))
        yield block


def _summary(done: run.Progress) -> None:
    """Counts on stdout; the first bad lines on stderr."""
    click.echo(
        f"rows: {done.rows}, imported: {done.imported}, failed: {done.failed}, "
        f"skipped: {done.skipped}"
    )
    for line, message in done.errors[:SHOWN_ERRORS]:
        click.echo(f"line {line}: {message}", err=True)
    if done.failed > SHOWN_ERRORS:
        click.echo(f"... and {done.failed - SHOWN_ERRORS} more bad rows", err=True)
