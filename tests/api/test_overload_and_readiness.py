"""Backpressure and readiness over HTTP, on servers of their own.

- A writer that cannot keep up: once `max_pending_writes` writes wait, the
  next write is answered at once with 429 and `Retry-After`, in the surface's
  error format, and writes nothing; the waiting ones commit once the database
  frees up. The writer is held up by a real lock on the database, taken by
  the test (SQLite's write lock; a table lock on PostgreSQL).
- `/readyz` answers 503 when the database cannot be reached, while
  `/healthz` (the process is alive) still answers 200.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from tests.api.conftest import _free_port
from tests.conftest import BACKENDS, fresh_database
from tests.support import eventually
from tidings.app import Tidings, create_app
from tidings.config import Settings
from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.server import config as server_config
from tidings.workspaces.service import Credentials, create_workspace

WRITERS = [
    pytest.param("sqlite", True, id="sqlite-writer-process"),
    pytest.param("sqlite", False, id="sqlite-in-process"),
    pytest.param("postgresql", False, id="postgresql"),
]


@contextlib.contextmanager
def serving(app: Tidings, port: int) -> Iterator[httpx.Client]:
    """`app` under uvicorn (plain HTTP) in a thread, and a client for it."""
    config = server_config(app.settings, app)
    config.timeout_graceful_shutdown = 2
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started or not thread.is_alive(), timeout=30)
    assert server.started, "the server did not start"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _migrated_with_workspace(url: str) -> Credentials:
    database = open_database(url)
    try:
        upgrade(database)
        with database.writer.begin() as conn:
            return create_workspace(conn, "overload", time.time())
    finally:
        database.dispose()


@contextlib.contextmanager
def writes_held_up(url: str) -> Iterator[None]:
    """Hold the database so the server's writer blocks on its first write."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the write lock; readers still read (WAL)
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as conn:  # a transaction until the block ends
        conn.execute("LOCK TABLE people IN EXCLUSIVE MODE")  # plain reads still pass
        yield


@pytest.mark.parametrize(("backend", "writer_process"), WRITERS)
def test_a_full_write_queue_is_a_429_with_retry_after(tmp_path, backend, writer_process):
    if backend not in BACKENDS:
        pytest.skip(f"{backend} is not among TIDINGS_TEST_BACKENDS")
    with fresh_database(backend, tmp_path) as url:
        creds = _migrated_with_workspace(url)
        port = _free_port()
        app = create_app(_settings(url, port, max_pending_writes=2, writer_process=writer_process))
        with serving(app, port) as client:
            auth = (creds.site_id, creds.track_api_key)

            def identify(name: str) -> httpx.Response:
                return client.put(f"/api/v1/customers/{name}", json={"n": 1}, auth=auth)

            with ThreadPoolExecutor(10) as pool:  # left after the lock is released
                with writes_held_up(url):
                    waiting = _fill_the_queue(app, pool, identify)
                    refused = identify("refused")
                    assert refused.status_code == 429, refused.text
                    assert refused.headers["retry-after"] == "1"
                    assert refused.json() == {
                        "meta": {"error": "too many pending writes, retry shortly"}
                    }
                answers = [future.result() for future in waiting]
            assert {r.status_code for r in answers} <= {200, 429}
            committed = [r for r in answers if r.status_code == 200]
            assert committed, "the waiting writes commit once the database frees up"
            app_auth = {"Authorization": f"Bearer {creds.app_api_key}"}
            gone = client.get("/v1/customers/refused/attributes", headers=app_auth)
            assert gone.status_code == 404  # the 429 wrote nothing


def _fill_the_queue(app: Tidings, pool: ThreadPoolExecutor, identify) -> list[Future]:  # type: ignore[no-untyped-def]
    """Send writes until `max_pending_writes` of them wait behind the held-up writer."""
    sent: list[Future] = []

    def full() -> bool:
        if app.writer.pending >= app.settings.max_pending_writes:
            return True
        if len(sent) < 10:
            sent.append(pool.submit(identify, f"waiting{len(sent)}"))
        return False

    eventually(full, timeout=20)
    return sent


@pytest.mark.parametrize(
    "unreachable",
    [
        "postgresql+psycopg://postgres@127.0.0.1:{closed_port}/tidings",
        "sqlite:///{tmp_path}/no such folder/tidings.sqlite3",
    ],
    ids=["postgresql-closed-port", "sqlite-missing-folder"],
)
def test_readyz_is_503_while_the_database_is_unreachable(tmp_path, unreachable):
    port = _free_port()
    url = unreachable.format(closed_port=_free_port(), tmp_path=tmp_path)  # nothing listens
    with serving(create_app(_settings(url, port)), port) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json() == {"meta": {"error": "database unreachable: OperationalError"}}
        assert client.get("/healthz").status_code == 200


def _settings(url: str, port: int, **extra: Any) -> Settings:
    return Settings(
        database_url=url,
        port=port,
        background_workers=False,
        access_log=False,
        housekeeping_every=None,
        **extra,
    )
