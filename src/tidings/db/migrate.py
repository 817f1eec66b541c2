"""Alembic upgrades, run in-process for either store."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tidings.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision; safe to run on every start."""
    config = alembic_config()
    with db.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def is_current(db: Database) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with db.reader.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def has_schema(db: Database) -> bool:
    """Whether migrations ever ran here: false for an empty database."""
    with db.reader.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() is not None
