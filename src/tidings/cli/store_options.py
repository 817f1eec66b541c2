"""Opening the store for a command, and picking the workspace it acts on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from tidings.config import database_url_for, sqlite_file
from tidings.db.engine import Database, open_database
from tidings.db.migrate import has_schema, upgrade
from tidings.workspaces import service as workspaces


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add --data-dir and --database-url (the latter wins), as every command names its store."""
    fn = click.option(
        "--database-url",
        envvar="TIDINGS_DATABASE_URL",
        show_envvar=True,
        help="SQLAlchemy URL, e.g. postgresql://host/db. Overrides --data-dir. Behind "
        "pgbouncer in transaction mode add ?pooler=transaction.",
    )(fn)
    fn = click.option(
        "--data-dir",
        envvar="TIDINGS_DATA_DIR",
        show_envvar=True,
        default="./tidings-data",
        show_default=True,
        help="Folder of the embedded SQLite store.",
    )(fn)
    return fn


# The workspace a command acts on (`one_workspace`): needed only when there are several.
workspace_option = click.option(
    "--workspace-id", type=int, default=None, help="Needed when there are several."
)


def open_store(
    data_dir: str, database_url: str | None, *, create: bool = False
) -> tuple[str, Database]:
    """Open the store, bringing its schema up to date.

    Only `create` (serve, migrate, workspace create) may make a new store;
    any other command run in the wrong folder stops, naming where it looked,
    rather than making an empty store there.
    """
    if not create:
        _insist_on_sqlite_file(data_dir, database_url)
    url = database_url_for(data_dir, database_url)
    try:
        db = open_database(url, pool_size=2)
    except ValueError as exc:  # a setting in the URL that is not understood
        raise click.ClickException(str(exc)) from exc
    try:
        if not create and not has_schema(db):
            raise _no_store(f"no store found in {describe(url)} (its schema was never created)")
        upgrade(db)
    except OperationalError as exc:
        db.dispose()
        raise click.ClickException(f"cannot open {describe(url)}: {exc.orig}") from exc
    except click.ClickException:
        db.dispose()
        raise
    return url, db


def _insist_on_sqlite_file(data_dir: str, database_url: str | None) -> None:
    """Opening a missing SQLite file would create it: look first."""
    if not database_url:
        path = sqlite_file(data_dir)
    elif database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
    else:
        return
    if not path.is_file():
        raise _no_store(f"no store found at {path}")


def _no_store(what: str) -> click.ClickException:
    return click.ClickException(
        f"{what}. Name the store with --data-dir (TIDINGS_DATA_DIR) or --database-url "
        "(TIDINGS_DATABASE_URL); only `tidings serve`, `tidings migrate` and "
        "`tidings workspace create` make a new one."
    )


def describe(url: str) -> str:
    """The store for a message: the SQLite file, or the PostgreSQL host and database (no user)."""
    if url.startswith("sqlite"):
        return "SQLite " + url.split("///", 1)[-1]
    return "PostgreSQL " + url.rsplit("@", 1)[-1]


def one_workspace(conn: Any, workspace_id: int | None) -> int:
    """The workspace named, or the only one; a usage error otherwise."""
    known = [ws.id for ws in workspaces.list_workspaces(conn)]
    if not known:
        raise click.UsageError(
            "the store has no workspace yet: `tidings workspace create` makes one"
        )
    if workspace_id is None and len(known) == 1:
        return known[0]
    if workspace_id is None:
        raise click.UsageError("several workspaces exist: pass --workspace-id")
    if workspace_id not in known:
        raise click.UsageError(f"no workspace {workspace_id}")
    return workspace_id
