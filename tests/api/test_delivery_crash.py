"""A `tidings worker` killed mid-batch loses no delivery and re-sends only what was in flight.

PostgreSQL only (several worker processes share it). The capture adapter is
the provider: it stores each message in its own committed transaction before
the worker records the outcome, exactly as a real provider would have it
before we know, so it shows every send that reached the provider, twice if
it was sent twice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import Counter

import msgspec
import pytest
from sqlalchemy import delete, func, insert, select

from tests.conftest import BACKENDS, fresh_database, new_workspace
from tests.support import CLI, eventually
from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.db.schema import captured_messages, deliveries, providers
from tidings.sending import request as send_request
from tidings.sending.transactional import new_delivery_id, send_transactional

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL")
COUNT = 1000
LEASE = 3
DEFAULT_LEASE = 15  # `tidings worker --delivery-lease`, as docs/operations.md states


@pytest.fixture
def store(tmp_path):
    with fresh_database("postgresql", tmp_path) as url:
        db = open_database(url)
        upgrade(db)
        yield url, db
        db.dispose()


def queue_sends(db, workspace_id: int, count: int) -> set[str]:
    ids = set()
    with db.writer.begin() as conn:
        for n in range(count):
            body = {
                "identifiers": {"id": f"p{n % 50}"},
                "to": f"p{n}@example.com",
                "from": "shop@example.net",
                "subject": f"message {n}",
                "body": "<p>hi</p>",
            }
            request = send_request.parse("email", body, 0)
            delivery_id = new_delivery_id()
            send_transactional(conn, workspace_id, request, delivery_id, "https://t.test", 0)
            ids.add(delivery_id)
    return ids


def start_worker(url: str, log, lease: int | None = LEASE) -> subprocess.Popen:
    leased = ["--delivery-lease", str(lease)] if lease is not None else []
    return subprocess.Popen(
        [*CLI, "worker", "--database-url", url, *leased],
        stdout=log,
        stderr=log,
        env={**os.environ, "TIDINGS_LOG_LEVEL": "warning"},
    )


def count(db, query) -> int:
    with db.reader.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def test_a_killed_worker_loses_nothing_and_resends_only_its_sends_in_flight(store, tmp_path):
    url, db = store
    workspace_id = new_workspace(db).workspace_id
    ids = queue_sends(db, workspace_id, COUNT)
    log = (tmp_path / "worker.log").open("w")

    first = start_worker(url, log)
    captured = select(func.count()).select_from(captured_messages)
    try:
        # Generous deadlines: the machine may be busy; they bound a failure, not a pass.
        eventually(lambda: count(db, captured) >= COUNT // 10, timeout=120)
    finally:
        first.send_signal(signal.SIGKILL)  # also when waiting failed: never leak the process
        first.wait(timeout=10)
    with db.reader.connect() as conn:
        in_flight = set(
            conn.execute(select(deliveries.c.id).where(deliveries.c.state == "sending")).scalars()
        )
        sent_before = count(db, captured)
    assert sent_before < COUNT, "the worker finished before it was killed: kill it sooner"

    second = start_worker(url, log)
    try:
        unfinished = select(func.count()).where(deliveries.c.state != "sent")
        eventually(lambda: count(db, unfinished) == 0, timeout=300)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
        log.close()

    with db.reader.connect() as conn:
        rows = conn.execute(select(captured_messages.c.delivery_id, captured_messages.c.message))
        sends = [(d, msgspec.json.decode(m)["message_id"]) for d, m in rows]
        states = Counter(conn.execute(select(deliveries.c.state)).scalars())
    assert states == {"sent": COUNT}
    times = Counter(d for d, _ in sends)
    assert set(times) == ids  # nothing lost
    twice = {d for d, n in times.items() if n > 1}
    assert max(times.values()) <= 2
    assert twice <= in_flight  # only what was in flight at the kill is sent again
    for delivery_id in twice:  # ... and with the same Message-ID
        assert len({mid for d, mid in sends if d == delivery_id}) == 1
    assert second.returncode == 0


def test_a_killed_workers_claims_are_taken_over_within_the_default_lease(store, tmp_path):
    """The first worker sends to an SMTP server that never answers, so it holds its
    claims (renewing them) until it is killed; with the provider back to capture,
    a second worker sends them once the default 15 s lease has run out."""
    url, db = store
    workspace_id = new_workspace(db).workspace_id
    with socket.socket() as silent:  # connections complete, and no greeting ever comes
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        config = {"host": "127.0.0.1", "port": silent.getsockname()[1], "security": "none"}
        with db.writer.begin() as conn:
            conn.execute(
                insert(providers).values(
                    workspace_id=workspace_id,
                    channel="email",
                    kind="smtp",
                    config=msgspec.json.encode({**config, "timeout": 600}).decode(),
                    updated_at=0,
                )
            )
        ids = queue_sends(db, workspace_id, 20)
        log = (tmp_path / "worker.log").open("w")
        first = start_worker(url, log, lease=None)
        sending = select(func.count()).where(deliveries.c.state == "sending")
        try:
            eventually(lambda: count(db, sending) == 20, timeout=60)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        killed_at = int(time.time())
        held_until = select(func.max(deliveries.c.lease_until))
        # Claimed (or renewed) before the kill for at most the default 15 s lease:
        # the old 120 s lease, or a renewal to anything longer, fails here.
        assert count(db, held_until) <= killed_at + DEFAULT_LEASE
    with db.writer.begin() as conn:
        conn.execute(delete(providers).where(providers.c.workspace_id == workspace_id))

    second = start_worker(url, log, lease=None)
    try:
        sent = select(func.count()).where(deliveries.c.state == "sent")
        # Well past the 15 s lease for a busy machine; well short of the old 120 s.
        eventually(lambda: count(db, sent) == 20, timeout=75, interval=0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        log.close()
    with db.reader.connect() as conn:
        captured = list(conn.execute(select(captured_messages.c.delivery_id)).scalars())
    assert sorted(captured) == sorted(ids)  # each sent once: the first never got through
