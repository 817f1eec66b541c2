"""A `tidings serve` killed with SIGKILL while it fans a broadcast out to 20,000 people:
started again, it sends everyone exactly one message.

The server runs as users run it (on SQLite: the server, its writer process
and its worker process; on PostgreSQL: the server and its worker process),
in a process group of its own. The broadcast is triggered over HTTP; once
the fan-out is under way (some people started, not all) the whole group is
killed. The capture adapter is the provider, and a message a provider took
just before a kill would be sent again by any delivery worker (its outcome
was never recorded; tests/api/test_delivery_crash.py). That is not what
this test is about, so the group is first stopped (SIGSTOP) and killed only
at a moment when no captured message still waits for its outcome; else it
is let go (SIGCONT) and tried again a moment later. Everything else the
kill interrupts (a chunk's transaction, journeys moving on, deliveries
claimed) must come out exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from tests.conftest import BACKENDS, fresh_database, new_workspace
from tests.support import CLI, eventually, free_port, wait_healthy
from tidings.campaigns import definitions, store
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.db.schema import (
    attributes,
    broadcast_triggers,
    captured_messages,
    deliveries,
    journeys,
    people,
)

PEOPLE = 20_000
STARTED_BEFORE_KILL = 3_000  # people with a journey when the kill may come...
BEFORE_DONE = PEOPLE - 3_000  # ...and at most this many


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    with fresh_database(request.param, tmp_path) as url:
        db = open_database(url)
        upgrade(db)
        yield url, db
        db.dispose()


def add_people(db: Database, ws: int) -> None:
    """20,000 people with an email and `plan: pro`, written directly (quickly)."""
    rows = [
        {
            "workspace_id": ws,
            "cio_id": f"c{n:05}",
            "customer_id": f"p{n:05}",
            "email": f"p{n:05}@example.com",
            "created_at": 0,
            "updated_at": 0,
        }
        for n in range(PEOPLE)
    ]
    with db.writer.begin() as conn:
        conn.execute(insert(people), rows)
        pks = conn.execute(select(people.c.id).where(people.c.workspace_id == ws)).scalars()
        plans = [
            {"person_id": pk, "workspace_id": ws, "name": "plan", "value": "pro", "kind": "s"}
            | {"updated_at": 0}
            for pk in pks
        ]
        conn.execute(insert(attributes), plans)


def add_broadcast(db: Database, ws: int) -> int:
    document = {
        "name": "Crash",
        "state": "running",
        "audience": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        "workflow": [
            {
                "email": {
                    "from": "news@example.com",
                    "subject": "{{ trigger.headline }}",
                    "body": "<p>{{ trigger.headline }}</p>",
                }
            }
        ],
    }
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document, kind="broadcast"), 0)


def serve(url: str, port: int, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, "serve", "--database-url", url, "--port", str(port), "--log-level", "warning"],
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own process group: the kill takes every process of it
    )


def scalar(db: Database, query: Any) -> int:
    with db.reader.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def trigger_row(db: Database, trigger_id: int) -> Any:
    with db.reader.connect() as conn:
        query = select(broadcast_triggers).where(broadcast_triggers.c.id == trigger_id)
        return conn.execute(query).one()


def snapshot(db: Database) -> tuple[int, ...]:
    counts = (
        select(func.count()).select_from(journeys),
        select(func.count()).select_from(deliveries),
        select(func.count()).where(deliveries.c.state == "sent"),
        select(func.count()).select_from(captured_messages),
    )
    return tuple(scalar(db, q) for q in counts)


def settled(db: Database) -> None:
    """Wait until what a stopped group had already sent the database has landed."""
    last: list[tuple[int, ...]] = []

    def same() -> bool:
        now = snapshot(db)
        stable = bool(last) and last[-1] == now
        last.append(now)
        return stable

    eventually(same, timeout=30, interval=0.3)


def captured_unrecorded(db: Database) -> int:
    """Captured messages whose delivery has not recorded the send yet."""
    query = (
        select(func.count())
        .select_from(captured_messages)
        .join(deliveries, deliveries.c.id == captured_messages.c.delivery_id)
        .where(deliveries.c.state != "sent")
    )
    return scalar(db, query)


def kill_mid_fan_out(db: Database, proc: subprocess.Popen[bytes], trigger_id: int) -> int:
    """SIGKILL the group while the fan-out is under way; how many people it had started."""

    def killed() -> int:
        row = trigger_row(db, trigger_id)
        if row.recipients_count >= BEFORE_DONE:
            pytest.fail("the fan-out was nearly over before the kill: kill it sooner")
        if row.recipients_count < STARTED_BEFORE_KILL:
            return 0
        os.killpg(proc.pid, signal.SIGSTOP)
        settled(db)
        if captured_unrecorded(db) > 0:
            os.killpg(proc.pid, signal.SIGCONT)
            return 0
        os.killpg(proc.pid, signal.SIGKILL)
        return trigger_row(db, trigger_id).recipients_count

    started = eventually(killed, timeout=300, interval=0.02)
    proc.wait(timeout=30)
    return started


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_broadcast_killed_mid_fan_out_reaches_everyone_exactly_once(store_url, tmp_path):
    url, db = store_url
    creds = new_workspace(db)
    add_people(db, creds.workspace_id)
    broadcast_id = add_broadcast(db, creds.workspace_id)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    first = serve(url, port, log)
    try:
        wait_healthy(port)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/campaigns/{broadcast_id}/triggers",
            json={"data": {"headline": "Big news"}},
            headers={"Authorization": f"Bearer {creds.app_api_key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        trigger_id = response.json()["id"]
        started = kill_mid_fan_out(db, first, trigger_id)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert STARTED_BEFORE_KILL <= started < PEOPLE

    second = serve(url, port, log)
    try:
        wait_healthy(port)
        # Generous: the fan-out job waits for its lease (60 s) to run out first.
        sent = select(func.count()).where(deliveries.c.state == "sent")
        eventually(lambda: scalar(db, sent) >= PEOPLE, timeout=900, interval=0.5)
        eventually(lambda: trigger_row(db, trigger_id).state == "done", timeout=60)
        settled(db)
    finally:
        stop(second)
        log.close()

    row = trigger_row(db, trigger_id)
    assert (row.recipients_count, row.position > 0, row.errors_count) == (PEOPLE, True, 0)
    assert scalar(db, select(func.count()).select_from(people)) == PEOPLE  # nobody created
    with db.reader.connect() as conn:
        per_person = conn.execute(
            select(journeys.c.person_id, func.count()).group_by(journeys.c.person_id)
        ).all()
        per_recipient = conn.execute(
            select(
                captured_messages.c.recipient, func.count(), func.min(captured_messages.c.subject)
            ).group_by(captured_messages.c.recipient)
        ).all()
        deliveries_per_person = conn.execute(
            select(func.count(), func.count(func.distinct(deliveries.c.person_id))).where(
                deliveries.c.trigger_id == trigger_id
            )
        ).one()
    assert len(per_person) == PEOPLE and {n for _, n in per_person} == {1}
    assert tuple(deliveries_per_person) == (PEOPLE, PEOPLE)
    assert len(per_recipient) == PEOPLE
    assert {n for _, n, _ in per_recipient} == {1}  # exactly one message each
    assert {subject for _, _, subject in per_recipient} == {"Big news"}
    assert second.returncode == 0
