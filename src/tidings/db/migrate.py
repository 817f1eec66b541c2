"""Alembic upgrades, run in-process for either store.

Alembic is imported by the functions that use it: a third of a second that a
process which never migrates (the writer process, an emulator made from a
cached store) does not spend.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from tidings.db.engine import Database, open_database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision; safe to run on every start."""
    from alembic import command

    config = alembic_config()
    with db.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def is_current(db: Database) -> bool:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with db.reader.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def has_schema(db: Database) -> bool:
    """Whether migrations ever ran here: false for an empty database."""
    from alembic.migration import MigrationContext

    with db.reader.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() is not None


def fresh_sqlite(path: Path, cache: Path | None) -> None:
    """Make a new SQLite store at `path` with the current schema: a copy of an empty
    store the migrations made before, kept in `cache` under a digest of the migrations
    (so a changed migration makes a new one), or else migrated now and kept there.
    Without a usable `cache` it is migrated each time."""
    cached = cache / f"empty-{_migrations_digest()}.sqlite3" if cache is not None else None
    if cached is not None and cached.is_file():
        shutil.copyfile(cached, path)
        return
    db = open_database(f"sqlite:///{path}")
    try:
        upgrade(db)
    finally:
        db.dispose()
    if cached is None:
        return
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError, sqlite3.Error):  # a cache we cannot write: no copy
        cached.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("VACUUM INTO ?", (str(partial),))  # whole, whatever the WAL holds
        os.replace(partial, cached)  # another process may make the same file: either wins
    with contextlib.suppress(OSError):
        partial.unlink(missing_ok=True)


def _migrations_digest() -> str:
    digest = hashlib.sha256(sqlite3.sqlite_version.encode())
    for file in sorted(MIGRATIONS.rglob("*")):
        if file.is_file() and file.suffix in (".py", ".ini"):
            digest.update(file.relative_to(MIGRATIONS).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:20]
