"""`tidings serve` behind pgbouncer in transaction mode (`?pooler=transaction`).

psycopg prepares a statement on the server once it ran 5 times on a connection
and later runs it by name; pgbouncer in transaction mode hands each
transaction whichever server connection is free, so without the setting such a
name is soon missing or taken ("prepared statement "_pg3_0" does not exist" /
"already exists"). The pool is kept smaller than the connections Tidings
opens, so client connections take turns on the same few server connections.

PostgreSQL only; skipped where pgbouncer is not installed (`.ci/run` installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, fresh_database
from tests.support import CLI, eventually, free_port, run_cli, wait_healthy

PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
pytestmark = [
    pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL"),
    pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed"),
]
ROUNDS = 60  # each statement of a request well past psycopg's prepare_threshold (5)
SENDS = 10

PGBOUNCER_INI = """\
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 200
"""


@contextlib.contextmanager
def pgbouncer(port: int) -> Iterator[Path]:
    """pgbouncer in transaction mode on `port` in front of 127.0.0.1:5432; its log file."""
    # Run as postgres when we are root (pgbouncer refuses root), which must read the files.
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(PGBOUNCER_INI.format(port=port, folder=folder))
    log = folder / "pgbouncer.log"
    as_postgres = ["-u", "postgres"] if os.geteuid() == 0 else []
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(PGBOUNCER), *as_postgres, str(folder / "pgbouncer.ini")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        eventually(lambda: proc.poll() is None and _accepts(port), timeout=15)
        yield log
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def pooled_url(tmp_path: Path) -> Iterator[str]:
    """A new database, reached through pgbouncer in transaction mode (no `pooler=` yet)."""
    with fresh_database("postgresql", tmp_path) as direct:
        port = free_port()
        with pgbouncer(port):
            yield f"postgresql://postgres@127.0.0.1:{port}/{direct.rsplit('/', 1)[1]}"


def test_serve_works_behind_pgbouncer_in_transaction_mode(pooled_url: str, tmp_path):
    store = ["--database-url", pooled_url + "?pooler=transaction"]
    # Migrations and the first workspace go through the pooler too.
    creds = json.loads(run_cli("workspace", "create", *store, "--name", "pooled"))
    port = free_port()
    log = tmp_path / "serve.log"  # a file: an unread pipe would fill and block the server
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", *store, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=out
        )
    try:
        wait_healthy(port)
        statuses, sent = asyncio.run(_traffic(port, creds))
        captured = _outbox(port, creds, sent)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err = log.read_text()
        sys.stderr.write(err)  # the server's and its worker's log, shown when the test fails
    every = {"identify": [200] * ROUNDS, "event": [200] * ROUNDS, "read": [200] * ROUNDS}
    assert statuses == {**every, "send": [200] * SENDS}
    assert captured == sent
    assert "prepared statement" not in err
    assert proc.returncode == 0


async def _traffic(port: int, creds: dict[str, str]) -> tuple[dict[str, list[int]], set[str]]:
    """Track identifies and events, App API reads and transactional sends, concurrently."""
    track = (creds["site_id"], creds["track_api_key"])
    bearer = {"Authorization": f"Bearer {creds['app_api_key']}"}
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def status(method: str, path: str, **kwargs: object) -> int:
            return (await client.request(method, path, **kwargs)).status_code  # type: ignore[arg-type]

        identify = [
            status("PUT", f"/api/v1/customers/p{i % 20}", json={"n": i}, auth=track)
            for i in range(ROUNDS)
        ]
        event = [
            status("POST", f"/api/v1/customers/p{i % 20}/events", json={"name": "e"}, auth=track)
            for i in range(ROUNDS)
        ]
        read = [
            status("GET", f"/v1/customers/p{i % 20}/attributes", headers=bearer)
            for i in range(ROUNDS)
        ]
        statuses = {
            "identify": list(await asyncio.gather(*identify)),
            "event": list(await asyncio.gather(*event)),
            "read": list(await asyncio.gather(*read)),
        }
        sends = [
            await client.post("/v1/send/email", json=_email(i), headers=bearer)
            for i in range(SENDS)
        ]
        statuses["send"] = [r.status_code for r in sends]
        return statuses, {r.json()["delivery_id"] for r in sends if r.status_code == 200}


def _email(i: int) -> dict[str, object]:
    return {
        "identifiers": {"id": f"p{i}"},
        "to": f"p{i}@example.com",
        "from": "shop@example.net",
        "subject": f"message {i}",
        "body": "<p>hi</p>",
    }


def _outbox(port: int, creds: dict[str, str], sent: set[str]) -> set[str]:
    """The sends the worker process delivered (to the capture provider), once all are in."""
    bearer = {"Authorization": f"Bearer {creds['app_api_key']}"}

    def delivered() -> set[str]:
        url = f"http://127.0.0.1:{port}/v1/outbox"
        response = httpx.get(url, params={"limit": 100}, headers=bearer, timeout=30)
        assert response.status_code == 200, response.text
        found = {m["delivery_id"] for m in response.json()["messages"]}
        assert found >= sent
        return found

    return eventually(delivered, timeout=30)
