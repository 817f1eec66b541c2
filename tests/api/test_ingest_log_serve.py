"""`tidings serve --ingest-log` as a user runs it, against the local nats-server.

The server publishes Track v1 identify and person events to a stream of the
test's own; the worker process it starts applies them. PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from customerio import CustomerIO
from customerio.analytics import Client, request
from nats.js.errors import NotFoundError
from sqlalchemy import select

from tests.conftest import new_workspace
from tests.support import CLI, eventually, free_port, wait_healthy
from tidings.config import IngestLog
from tidings.db.engine import Database
from tidings.db.schema import events, ingest_partitions, people
from tidings.events import bulk
from tidings.events.service import parse_event
from tidings.ingest_log import kinds
from tidings.ingest_log.publisher import Publisher
from tidings.people.identifiers import classify

NATS = "nats://127.0.0.1:4222"


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("the ingest log runs on PostgreSQL only (tidings refuses it with SQLite)")
    return db


@pytest.fixture
def stream() -> Iterator[str]:
    name = f"T_{uuid.uuid4().hex[:12]}"
    yield name

    async def delete() -> None:
        nc = await nats.connect(NATS)
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(name)
        await nc.close()

    asyncio.run(delete())


@contextlib.contextmanager
def serving(
    pg: Database, log: str, stream: str, tls: dict[str, str], *extra: str
) -> Iterator[tuple[int, int]]:
    port, tls_port = free_port(), free_port()
    command = [
        *(*CLI, "serve", "--database-url", pg.url, "--port", str(port)),
        *("--tls-port", str(tls_port), "--ssl-certfile", tls["cert"], "--ssl-keyfile", tls["key"]),
        *("--ingest-log", log, "--ingest-stream", stream, "--ingest-partitions", "4"),
        *("--log-level", "warning", *extra),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(port)
        yield port, tls_port
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def person_events(db: Database, workspace: int, customer_id: str) -> list[tuple[str, str]]:
    with db.reader.connect() as conn:
        query = (
            select(events.c.name, events.c.data)
            .join(people, people.c.id == events.c.person_id)
            .where(people.c.workspace_id == workspace, people.c.customer_id == customer_id)
            .where(events.c.type == "event")
        )
        return [tuple(row) for row in conn.execute(query)]


def applied(db: Database, stream: str) -> int:
    with db.reader.connect() as conn:
        query = select(ingest_partitions.c.applied_total).where(
            ingest_partitions.c.stream == stream
        )
        return sum(conn.execute(query).scalars())


def test_the_python_sdk_through_the_log_is_applied_by_the_worker(
    pg: Database, stream: str, tls: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    creds = new_workspace(pg)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls["ca"])
    with serving(pg, NATS, stream, tls) as (port, tls_port):
        with CustomerIO(creds.site_id, creds.track_api_key, host="127.0.0.1", port=tls_port) as cio:
            cio.identify("log-1", email="log-1@example.com", plan="pro")
            for _ in range(2):  # a retry with the same id: one event
                cio.track("log-1", "purchase", data={"price": 9.5}, id="01HLOGLOGLOGLOGLOGLOGLOGL")
        eventually(lambda: person_events(pg, creds.workspace_id, "log-1"), timeout=60)
        eventually(lambda: applied(pg, stream) == 2, timeout=30)  # the repeat never got in
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert person_events(pg, creds.workspace_id, "log-1") == [("purchase", '{"price":9.5}')]
    applied_lines = [x for x in metrics.splitlines() if x.startswith("tidings_ingest_log_applied")]
    assert len(applied_lines) == 4  # one per partition
    assert sum(int(line.rsplit(" ", 1)[1]) for line in applied_lines) == 2
    assert 'tidings_ingest_log_lag_sequences{partition="0"}' in metrics


def test_pipelines_sdk_and_a_v2_batch_through_the_log_with_two_server_processes(
    pg: Database, stream: str, tls: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    creds = new_workspace(pg)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls["ca"])
    with serving(pg, NATS, stream, tls, "--workers", "2") as (port, tls_port):
        cdp = Client(
            creds.cdp_write_key, host=f"https://127.0.0.1:{tls_port}", max_retries=0, sync_mode=True
        )
        cdp.identify("cdp-1", {"email": "cdp-1@example.com"}, anonymous_id="anon-cdp")
        cdp.track("cdp-1", "Signed Up", {"price": 9.5}, message_id="m-log-1")
        cdp.track("cdp-1", "Signed Up", {"price": 9.5}, message_id="m-log-1")  # a retry
        batch = {
            "batch": [
                {"type": "person", "action": "event", "identifiers": {"id": "cdp-1"}, "name": "v2"},
                {"type": "person", "action": "bogus", "identifiers": {"id": "cdp-1"}},
            ]
        }
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v2/batch",
            json=batch,
            auth=(creds.site_id, creds.track_api_key),
            timeout=30,
        )
        assert answer.status_code == 207  # refused while parsing: still answered
        assert [e["batch_index"] for e in answer.json()["errors"]] == [1]
        eventually(lambda: applied(pg, stream) == 3, timeout=60)  # the retry never got in
        request._session.close()  # its keep-alive connection would hold up the server's stop
    shown = sorted(person_events(pg, creds.workspace_id, "cdp-1"))
    assert [name for name, _ in shown] == ["Signed Up", "v2"]
    assert json.loads(shown[0][1])["price"] == 9.5


def start_worker(pg: Database, stream: str) -> subprocess.Popen[str]:
    command = [
        *(*CLI, "worker", "--database-url", pg.url, "--log-level", "warning"),
        *("--ingest-log", NATS, "--ingest-stream", stream, "--ingest-partitions", "4"),
        *("--ingest-lease", "3", "--housekeeping-every", "0"),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def publish_events(stream: str, workspace: int, count: int) -> None:
    """`count` events without ids (so a second apply would show as a second row)."""
    log = IngestLog((NATS,), stream=stream, partitions=4)

    async def run() -> None:
        publisher = Publisher(log)
        await publisher.start()
        assert await publisher.wait_connected(10)
        for start in range(0, count, 50):
            batch = []
            for n in range(start, min(count, start + 50)):
                ident = classify(f"crash-{n % 40}")
                event = parse_event({"name": "tick", "data": {"n": n}}).received(1_700_000_000)
                batch.append(
                    kinds.track_v1(workspace, ident, bulk.plain(ident, event), 1_700_000_000)
                )
            await publisher.publish(batch)
        await publisher._stop()

    asyncio.run(run())


def ticks(db: Database, workspace: int) -> list[int]:
    with db.reader.connect() as conn:
        query = select(events.c.data).where(
            events.c.workspace_id == workspace, events.c.name == "tick"
        )
        return sorted(json.loads(data)["n"] for data in conn.execute(query).scalars())


def test_a_killed_workers_partitions_move_and_nothing_is_applied_twice(pg: Database, stream: str):
    workspace = new_workspace(pg).workspace_id
    first = start_worker(pg, stream)
    second = None
    try:
        publish_events(stream, workspace, 600)
        eventually(lambda: applied(pg, stream) > 0, timeout=60)
        first.kill()  # SIGKILL: no release, no acknowledgement of what it was applying
        first.communicate(timeout=30)
        second = start_worker(pg, stream)
        eventually(lambda: applied(pg, stream) == 600, timeout=90)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=60)
    assert ticks(pg, workspace) == list(range(600))  # each once


def test_an_unreachable_log_answers_503_and_writes_nothing(
    pg: Database, stream: str, tls: dict[str, str]
):
    creds = new_workspace(pg)
    closed = f"nats://127.0.0.1:{free_port()}"
    with serving(pg, closed, stream, tls) as (port, _):
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/customers/never/events",
            json={"name": "lost"},
            auth=(creds.site_id, creds.track_api_key),
            timeout=30,
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "ingest log is unavailable" in response.json()["meta"]["error"]
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
        wrong = httpx.put(  # validation still comes first: a 400, not a 503
            f"http://127.0.0.1:{port}/api/v1/customers/never",
            json={"_update": "maybe"},
            auth=(creds.site_id, creds.track_api_key),
            timeout=30,
        )
        assert wrong.status_code == 400
    assert person_events(pg, creds.workspace_id, "never") == []


def test_sqlite_with_the_log_is_refused(tmp_path: Path):
    done = subprocess.run(
        [*CLI, "serve", "--data-dir", str(tmp_path), "--port", str(free_port())]
        + ["--ingest-log", NATS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--ingest-log needs PostgreSQL" in done.stderr
    assert not (tmp_path / "tidings.sqlite3").exists()
