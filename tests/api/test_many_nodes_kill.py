"""Two API servers and two workers on one PostgreSQL, one of each SIGKILLed under load
(issue 18): every acknowledged event is stored once, every delivery ends once, no
send is lost, and PostgreSQL saw no deadlock.

Real processes on loopback: `tidings serve --no-background-workers` twice (two
ports), `tidings worker` twice, a real SMTP server (aiosmtpd) as the workspace's
email provider and an event-triggered campaign (`tidings apply`) that mails each
`order` event. A concurrent client sends events with unique markers through
Pipelines `/v1/batch` and Track v1 to both servers; 5% of what it sends re-sends
an earlier event's `messageId` / `id` (sometimes to the other server, at the same
moment), some events carry no id. Midway one API server is SIGKILLed (its
unanswered requests are not acknowledged; the client retries the events that
carry ids on the other server, as an SDK would) and, while mail is going out,
one worker (its claimed sends are taken over when their lease runs out). The load,
the campaign and the checks are in tests/api/kill_support.py (shared with
test_ingest_log_kill.py).

Size: `TIDINGS_KILL_EVENTS` events, default 100,000 (the issue's count). On the
2-core machine the module took 50 to 80 s (35 to 60 s of it sending) with
other sessions' work beside it, 105 s beside another test run of its own; set a
smaller count for a quick run.
PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api.kill_support import (
    CAMPAIGN,
    Kills,
    Load,
    Target,
    check_deliveries,
    check_events,
    check_mail,
    deadlocks,
    drained,
    drive,
    in_flight,
    plan,
    start,
    stop,
)
from tests.conftest import BACKENDS, fresh_database
from tests.fakes.smtp import FakeSmtp
from tests.support import eventually, free_port, run_cli, wait_healthy
from tidings.db.engine import Database, open_database

pytestmark = [
    pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL"),
    pytest.mark.slow,
]

EVENTS = int(os.environ.get("TIDINGS_KILL_EVENTS", "100000"))
LEASE = 4  # `tidings worker --delivery-lease`: the killed worker's sends come back soon


async def run(
    load: Load,
    servers: list[Target],
    worker: subprocess.Popen[bytes],
    creds: dict[str, str],
    smtp: FakeSmtp,
    db: Database,
) -> Kills:
    kills = Kills()
    orders = len({i.marker for r in load.requests for i in r if i.name == "order"})

    async def killer() -> None:
        deadline = time.monotonic() + 600
        while kills.worker_at < 0 or kills.server_at < 0:
            assert time.monotonic() < deadline, "the kills did not happen"
            if kills.server_at < 0 and load.done >= len(load.requests) // 2:
                servers[1].process.send_signal(signal.SIGKILL)
                servers[1].alive = False
                kills.server_at = load.done
            if kills.worker_at < 0 and len(smtp.received) >= orders // 4:
                worker.send_signal(signal.SIGKILL)
                kills.worker_at = len(smtp.received)
                kills.in_flight = await asyncio.to_thread(in_flight, db, int(creds["workspace_id"]))
            await asyncio.sleep(0.02)

    await asyncio.gather(drive(load, servers, creds), killer())
    return kills


@dataclass
class Outcome:
    db: Database
    ws: int
    load: Load
    kills: Kills
    received: list[Any]  # what the SMTP server received
    exits: list[int]  # the statuses of the server and worker left standing, after SIGTERM
    deadlocks: int  # how many PostgreSQL counted in the test's database, during the run
    log: str  # the processes' output


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """The run, once for the module's tests: its database is dropped after them."""
    folder = tmp_path_factory.mktemp("kill")
    with fresh_database("postgresql", folder) as url:
        db = open_database(url)
        try:
            yield run_nodes(url, db, folder)
        finally:
            db.dispose()


def run_nodes(url: str, db: Database, folder: Path) -> Outcome:
    creds = json.loads(run_cli("workspace", "create", "--database-url", url, "--name", "kill"))
    ws = int(creds["workspace_id"])
    load = plan(EVENTS)
    with FakeSmtp.running() as smtp, ExitStack() as cleanup:
        campaign = folder / "campaign.yaml"
        campaign.write_text(CAMPAIGN.format(port=smtp.port))
        run_cli("apply", "-f", str(campaign), "--database-url", url, "--workspace-id", str(ws))
        deadlocks_before = deadlocks(db)
        log = cleanup.enter_context((folder / "processes.log").open("w"))
        servers = []
        for _ in range(2):
            port = free_port()
            serve = ["serve", "--database-url", url, "--port", str(port), "--no-background-workers"]
            servers.append(Target(port, start(serve, log)))
            cleanup.callback(stop, servers[-1].process)
        public = f"http://127.0.0.1:{servers[0].port}"
        work = ["worker", "--database-url", url, "--delivery-lease", str(LEASE)]
        workers = [start([*work, "--public-url", public], log) for _ in range(2)]
        for process in workers:
            cleanup.callback(stop, process)
        for server in servers:
            wait_healthy(server.port)

        started = time.monotonic()
        kills = asyncio.run(run(load, servers, workers[0], creds, smtp, db))
        loaded = time.monotonic() - started
        eventually(lambda: drained(db, ws), timeout=300, interval=0.5)
        drained_after = time.monotonic() - started
        exits = [stop(servers[0].process), stop(workers[1])]
        received = smtp.received
    acked, mails = len(load.acknowledged), len(received)
    print(f"\n{EVENTS} events sent in {loaded:.1f} s, drained after {drained_after:.1f} s;")
    print(
        f"{acked} markers acknowledged, {mails} mails, {len(kills.in_flight)} in flight at the kill"
    )
    during = deadlocks(db) - deadlocks_before
    text_log = (folder / "processes.log").read_text()
    return Outcome(db, ws, load, kills, received, exits, during, text_log)


def test_acknowledged_events_are_stored_exactly_once(outcome: Outcome) -> None:
    assert outcome.exits == [0, 0], outcome.log[-3000:]
    check_events(outcome.db, outcome.ws, outcome.load)


def test_every_delivery_ends_once_and_no_mail_is_lost(outcome: Outcome) -> None:
    markers = check_deliveries(outcome.db, outcome.ws)
    check_mail(outcome.received, markers, outcome.kills)


def test_postgresql_saw_no_deadlock(outcome: Outcome) -> None:
    assert outcome.deadlocks == 0
