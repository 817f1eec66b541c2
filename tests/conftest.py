"""Fixtures shared by every tier: a migrated database per backend, fresh workspaces.

Each test that asks for `db` runs once per backend named in
TIDINGS_TEST_BACKENDS (default: sqlite and postgresql). Tests isolate by
workspace: every test gets a workspace of its own, so nothing needs to be
truncated between tests, and isolation between workspaces is exercised all
the time.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import settings

from tidings import clock
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.runtime import wiring
from tidings.workspaces.service import Credentials, create_workspace

# Property tests check answers, never time: Hypothesis' default deadline (200 ms an
# example) fails them when the shared machine is busy.
settings.register_profile("tidings", deadline=None)
settings.load_profile("tidings")

wiring.wire()  # use cases publish to the activity stream: subscribe as the app does

BACKENDS = [b for b in os.environ.get("TIDINGS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
PG_ADMIN = os.environ.get("TIDINGS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database of `backend`, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'tidings.sqlite3'}"
        return
    name = f"tidings_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def isolated_db(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database of the module's own, on the session's backend.

    For tests that drive segment membership with their own clock: the test
    server of tests/api runs a segment worker over the shared database, which
    would build, refresh and expire their segments behind their back. A module
    opts in with `db = isolated_db`-style override:

        @pytest.fixture(scope="module")
        def db(isolated_db): return isolated_db
    """
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with fresh_database(backend, tmp_path_factory.mktemp("own")) as url:
        database = open_database(url)
        upgrade(database)
        yield database
        database.dispose()


@pytest.fixture
def offset_clock() -> Iterator[clock.OffsetClock]:
    """An `OffsetClock` installed as the process's clock for the test, then the one
    it replaced installed again (whatever the test did)."""
    moving = clock.OffsetClock()
    previous = clock.install(moving)
    try:
        yield moving
    finally:
        clock.install(previous)


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def tx(db: Database) -> Callable[..., Any]:
    """Run a use case `fn(conn, *args)` in its own committed transaction."""

    def run(fn: Callable[..., Any], *args: Any) -> Any:
        with db.writer.begin() as conn:
            return fn(conn, *args)

    return run


@pytest.fixture
def query(db: Database) -> Callable[..., Any]:
    def run(fn: Callable[..., Any], *args: Any) -> Any:
        with db.reader.connect() as conn, conn.begin():
            return fn(conn, *args)

    return run


def new_workspace(db: Database, name: str = "test") -> Credentials:
    with db.writer.begin() as conn:
        return create_workspace(conn, name, time.time())


@pytest.fixture
def workspace(db: Database) -> Credentials:
    return new_workspace(db)


@pytest.fixture
def other_workspace(db: Database) -> Credentials:
    return new_workspace(db, "other")
