"""A PostgreSQL connection ended under the pool: reads run again on a new one, the
group-commit writer commits on a new one. The pool does not ping before each
checkout (`db.engine.open_database`), so this is how a server restart is survived.

Each test has a database of its own: ending the connections of the shared one
would fail the next use of every other test's pooled connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, func, select

from tests.conftest import BACKENDS, PG_ADMIN, fresh_database
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.db.schema import workspaces
from tidings.db.writer import Writer
from tidings.workspaces.service import create_workspace


@pytest.fixture
def own_db(tmp_path) -> Iterator[Database]:
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the tested stores")
    with fresh_database("postgresql", tmp_path) as url:
        database = open_database(url)
        upgrade(database)
        yield database
        database.dispose()


def end_connections(db: Database) -> int:
    """End every server connection to the database, as a restart would; how many."""
    name = db.writer.url.database
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def count_workspaces(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(workspaces)).scalar_one())


def test_a_read_on_an_ended_connection_runs_again_on_a_new_one(own_db: Database) -> None:
    assert own_db.read(count_workspaces) == 0  # the pool now holds a connection
    assert end_connections(own_db) >= 1
    assert own_db.read(count_workspaces) == 0


def test_a_failing_read_is_not_run_again(own_db: Database) -> None:
    calls: list[int] = []

    def failing(conn: Connection) -> Any:
        calls.append(1)
        return conn.exec_driver_sql("SELECT 1 / 0").scalar()

    with pytest.raises(Exception, match="division by zero"):
        own_db.read(failing)
    assert calls == [1]


def test_the_writer_commits_after_its_connection_ended(own_db: Database) -> None:
    async def main() -> int:
        writer = Writer(own_db.writer)
        writer.start()
        try:
            await writer.submit(create_workspace, "before", 0)
            end_connections(own_db)
            await writer.submit(create_workspace, "after", 0)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, writer.stop)
        return own_db.read(count_workspaces)

    assert asyncio.run(main()) == 2
