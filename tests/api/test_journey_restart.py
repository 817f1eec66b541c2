"""A worker killed (SIGKILL) while journeys wait in a delay and in a wait-until
resumes them exactly where they were when it starts again: each message once.

Real processes and the real clock: `tidings worker` runs the journeys and
sends through the capture adapter; the test kills it while the journeys
wait, lets their waits end while nothing runs, starts a new worker and polls
(with deadlines) until the rest of each journey has happened.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, fresh_database, new_workspace
from tests.support import CLI, eventually
from tidings.campaigns import definitions, store
from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.db.schema import captured_messages, journeys
from tidings.events import service as events
from tidings.people import service as people
from tidings.people.identifiers import Identifier

WAIT = 6  # seconds each journey waits: long enough to kill the worker inside it


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    with fresh_database(request.param, tmp_path) as url:
        db = open_database(url)
        upgrade(db)
        yield url, db
        db.dispose()


def message(subject: str) -> dict:
    return {"email": {"from": "team@example.com", "subject": subject, "body": "<p>x</p>"}}


def start_worker(url: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "worker", "--database-url", url, "--log-level", "warning"],
        stdout=log,
        stderr=log,
        env={**os.environ},
    )


def subjects(db, workspace_id: int) -> Counter:
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(captured_messages.c.recipient, captured_messages.c.subject).where(
                captured_messages.c.workspace_id == workspace_id
            )
        ).all()
    return Counter(rows)


def test_journeys_resume_after_the_worker_is_killed_mid_wait(store_url, tmp_path):
    url, db = store_url
    ws = new_workspace(db).workspace_id
    now = int(time.time())
    delayed = {
        "name": "Delayed",
        "state": "running",
        "trigger": {"event": {"name": "signed_up"}},
        "workflow": [message("first"), {"delay": WAIT}, message("second")],
    }
    waiting = {
        "name": "Waiting",
        "state": "running",
        "trigger": {"event": {"name": "carted"}},
        "workflow": [
            message("cart"),
            {"wait_until": {"event": {"name": "paid"}, "timeout": WAIT}},
            message("after the wait"),
        ],
    }
    with db.writer.begin() as conn:
        for document in (delayed, waiting):
            store.create(conn, ws, definitions.parse(document), now)
        for n in range(3):
            who = Identifier("id", f"u{n}")
            body = {"email": f"u{n}@example.com"}
            people.identify(conn, ws, who, people.parse_identify(body, now), now)
            for name in ("signed_up", "carted"):
                event = events.parse_event({"name": name, "timestamp": now}, type_=None)
                events.track(conn, ws, who, event, now)

    log = (tmp_path / "worker.log").open("w")
    first = start_worker(url, log)
    try:
        eventually(lambda: len(subjects(db, ws)) == 6, timeout=120)  # first and cart, each
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    with db.reader.connect() as conn:
        states = Counter(conn.execute(select(journeys.c.state)).scalars())
    assert states == {"active": 6}, "the journeys should be waiting when the worker dies"
    # Their waits end while no worker runs; the next one must carry on from there.
    eventually(lambda: time.time() > now + WAIT + 1, timeout=WAIT + 5, interval=0.2)

    second = start_worker(url, log)
    try:
        eventually(lambda: len(subjects(db, ws)) == 12, timeout=120)
        with db.reader.connect() as conn:
            eventually(
                lambda: set(conn.execute(select(journeys.c.state)).scalars()) == {"finished"},
                timeout=30,
            )
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
        log.close()
    got = subjects(db, ws)
    assert set(got.values()) == {1}  # each message exactly once
    expected = {"first", "second", "cart", "after the wait"}
    assert {subject for _, subject in got} == expected
    assert len(got) == 12
