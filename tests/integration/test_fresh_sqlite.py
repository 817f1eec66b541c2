"""A new SQLite store made from a cached empty one (`db.migrate.fresh_sqlite`, the
emulator's start): the same schema as the migrations make, made once per set of
migrations."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tidings.db import migrate
from tidings.db.engine import open_database


def schema(path: Path) -> list[tuple[str, list[str]]]:
    """Each table's and index's definition, its lines sorted: Alembic's batch mode
    writes a rebuilt table's constraints in an order that varies between runs."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    return [
        (name, sorted(line.strip(" ,") for line in (sql or "").splitlines())) for name, sql in rows
    ]


def test_the_copy_is_the_migrated_schema_and_is_made_once(tmp_path):
    cache = tmp_path / "cache"
    migrate.fresh_sqlite(tmp_path / "first.sqlite3", cache)
    [kept] = cache.iterdir()
    made_at = kept.stat().st_mtime_ns

    migrate.fresh_sqlite(tmp_path / "second.sqlite3", cache)
    assert [path.name for path in cache.iterdir()] == [kept.name]
    assert kept.stat().st_mtime_ns == made_at  # copied, not made again
    assert schema(tmp_path / "second.sqlite3") == schema(tmp_path / "first.sqlite3")
    db = open_database(f"sqlite:///{tmp_path / 'second.sqlite3'}")
    try:
        assert migrate.is_current(db)
    finally:
        db.dispose()


def test_a_changed_migration_makes_a_new_copy(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    migrate.fresh_sqlite(tmp_path / "first.sqlite3", cache)
    digest = migrate._migrations_digest()
    monkeypatch.setattr(migrate, "_migrations_digest", lambda: "changed")
    migrate.fresh_sqlite(tmp_path / "second.sqlite3", cache)
    kept = sorted(path.name for path in cache.iterdir())
    assert kept == sorted(["empty-changed.sqlite3", f"empty-{digest}.sqlite3"])


def test_without_a_usable_cache_it_migrates(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    migrate.fresh_sqlite(tmp_path / "store.sqlite3", blocked / "cache")
    migrate.fresh_sqlite(tmp_path / "other.sqlite3", None)
    assert schema(tmp_path / "store.sqlite3") == schema(tmp_path / "other.sqlite3")
