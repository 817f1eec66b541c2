"""`tidings worker --metrics-port`: the worker's own Prometheus `/metrics`, scraped over
HTTP from a worker process as an operator runs it.

Deliveries on both stores; the ingest log's lines on PostgreSQL with the local
nats-server (as `test_ingest_log_serve.py`).
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.api.test_delivery_crash import queue_sends
from tests.api.test_ingest_log_serve import (
    NATS,
    applied,
    publish_events,
    stream,  # noqa: F401  (fixture)
)
from tests.conftest import new_workspace
from tests.support import CLI, eventually, free_port
from tidings.db.engine import Database
from tidings.db.schema import deliveries


@pytest.fixture(scope="module")
def db(isolated_db: Database) -> Database:
    """The module's own database: the API test server's delivery worker, on the shared
    one, would send (and count) these deliveries instead of the worker under test."""
    return isolated_db


def start_worker(db: Database, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [
        *(*CLI, "worker", "--database-url", db.url, "--log-level", "warning"),
        *("--housekeeping-every", "0", "--metrics-port", str(port), *extra),
    ]
    with log.open("w") as out:  # a file, not a pipe: a full pipe would block the worker
        return subprocess.Popen(command, stdout=out, stderr=out), port


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def scrape(port: int) -> dict[str, float]:
    """The samples of the worker's /metrics, by series (name and labels)."""
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples


def scraped(port: int, check) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Scrape until `check(samples)` holds (the worker may still be starting)."""
    found: dict[str, float] = {}

    def ready() -> bool:
        nonlocal found
        try:
            found = scrape(port)
        except httpx.TransportError:
            return False
        return bool(check(found))

    eventually(ready, timeout=90)
    return found


def test_the_worker_counts_the_deliveries_it_recorded(db: Database, running, tmp_path: Path):
    workspace = new_workspace(db).workspace_id
    queue_sends(db, workspace, 5)
    proc, port = start_worker(db, tmp_path / "worker.log")
    running.append(proc)
    sent = 'tidings_worker_deliveries_total{outcome="sent"}'
    samples = scraped(port, lambda found: found.get(sent) == 5)
    assert samples["tidings_worker_deliveries_in_flight"] == 0
    assert not [series for series in samples if "ingest_log" in series or "applied" in series]
    with db.reader.connect() as conn:
        states = conn.execute(select(deliveries.c.state, func.count()).group_by(deliveries.c.state))
        assert dict(states.all()) == {"sent": 5}
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 404  # /metrics only


def test_a_worker_applying_the_log_shows_its_lag_rate_and_oldest_message(
    db: Database,
    stream: str,  # noqa: F811
    running,
    tmp_path: Path,
):
    if db.is_sqlite:
        pytest.skip("the ingest log runs on PostgreSQL only (tidings refuses it with SQLite)")
    workspace = new_workspace(db).workspace_id
    proc, port = start_worker(
        db,
        tmp_path / "worker.log",
        *("--ingest-log", NATS, "--ingest-stream", stream, "--ingest-partitions", "4"),
        *("--ingest-lease", "3"),
    )
    running.append(proc)
    publish_events(stream, workspace, 100)
    eventually(lambda: applied(db, stream) == 100, timeout=90)
    samples = scraped(port, lambda found: found.get("tidings_worker_applied_total") == 100)
    assert samples["tidings_worker_partitions_held"] == 4  # the only worker: all of them
    for partition in range(4):
        label = f'{{partition="{partition}"}}'
        assert samples[f"tidings_ingest_log_lag_sequences{label}"] == 0
        assert samples[f"tidings_ingest_log_oldest_unapplied_seconds{label}"] == 0
        assert samples[f"tidings_ingest_log_unapplied_messages{label}"] == 0
    totals = [v for k, v in samples.items() if k.startswith("tidings_ingest_log_applied_total")]
    assert len(totals) == 4 and sum(totals) == 100
