"""The Alembic migrations build exactly the schema the code declares."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tidings.db.migrate import is_current, upgrade
from tidings.db.schema import metadata


def test_migrated_schema_matches_the_declared_tables(db):
    with db.reader.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent(db):
    upgrade(db)
    assert is_current(db)
