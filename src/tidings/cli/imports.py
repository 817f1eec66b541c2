"""`tidings import people | events`: a CSV or JSON Lines file, row by row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from tidings.cli.store_options import one_workspace, open_store, store_options, workspace_option


@click.group("import")
def import_group() -> None:
    """Import people or events from a CSV or JSON Lines file.

    Every row is validated as the Track API's identify or event call would
    be; bad rows are reported with their line and the others imported. The
    exit status is 0 once the file was processed, bad rows or not (the
    summary says how many failed); 1 when the file cannot be imported at all.
    """


def _import_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in (
        workspace_option,
        click.option(
            "--process",
            type=click.Choice(["all", "only_new", "only_existing"]),
            default="all",
            show_default=True,
            help="Which people to touch.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "jsonl"]),
            default=None,
            help="Default: jsonl for .jsonl/.ndjson files, else csv.",
        ),
        click.option(
            "--identifier",
            type=click.Choice(["id", "email"]),
            default="id",
            show_default=True,
            help="The column (or key) that names each person.",
        ),
        click.argument("path", type=click.Path(exists=True, dir_okay=False)),
        store_options,
    ):
        fn = option(fn)
    return fn


@import_group.command("people")
@_import_options
def import_people(**options: Any) -> None:
    """Identify one person per row: FILE.csv (one column per attribute) or FILE.jsonl."""
    _import_file("people", **options)


@import_group.command("events")
@_import_options
def import_events(**options: Any) -> None:
    """Track one event per row: FILE.csv (name, timestamp, event_id, data columns) or .jsonl."""
    _import_file("event", **options)


def _import_file(kind: str, *, path: str, fmt: str | None, **options: Any) -> None:
    from tidings.imports import console

    spec = console.spec_for(kind, path, fmt, options["identifier"], options["process"])
    _, db = open_store(options["data_dir"], options["database_url"])
    try:
        with db.reader.connect() as conn:
            workspace_id = one_workspace(conn, options["workspace_id"])
        console.import_file(db, workspace_id, spec, path)
    finally:
        db.dispose()
