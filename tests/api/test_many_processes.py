"""Several server processes on one store: racing writes settle, nothing is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.support import CLI, children_of, free_port, process_state, run_cli, wait_healthy
from tidings.db.engine import open_database
from tidings.db.schema import events, people, workspaces


def test_two_worker_processes_share_the_port_and_settle_races(database_url, tmp_path):
    store = ["--database-url", database_url]
    site = f"multi-{os.getpid()}-{tmp_path.name}"
    creds = json.loads(run_cli("workspace", "create", *store, "--name", "multi", "--site-id", site))
    port = free_port()
    # The log goes to a file: a pipe nobody reads until the end fills up, and then
    # the server blocks on its next log line.
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", *store, "--port", str(port), "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        wait_healthy(port)
        children = children_of(proc.pid)
        statuses = asyncio.run(_race(port, (site, creds["track_api_key"])))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err = log.read_text()
    assert statuses == [200] * len(statuses), err
    assert proc.returncode == 0, err
    # One worker process for both servers (and on SQLite one writer process too),
    # stopped with them.
    lines = list(children.values())
    assert sum(" worker --exit-with-parent" in c for c in lines) == 1, lines
    assert sum("tidings.writer_process" in c for c in lines) == (
        1 if database_url.startswith("sqlite") else 0
    ), lines
    ours = [pid for pid, c in children.items() if "worker --exit" in c or "writer_process" in c]
    for pid in ours:  # (multiprocessing's resource tracker leaves on its own, a moment later)
        assert not Path(f"/proc/{pid}").exists() or "Z" in process_state(pid), children[pid]
    db = open_database(database_url)
    with db.reader.connect() as conn:
        ws = conn.execute(select(workspaces.c.id).where(workspaces.c.site_id == site)).scalar_one()
        persons = conn.execute(select(func.count()).where(people.c.workspace_id == ws)).scalar_one()
        stored = conn.execute(
            select(func.count()).where(events.c.workspace_id == ws, events.c.type == "event")
        ).scalar_one()
    db.dispose()
    assert persons == 10  # the same ten ids, created concurrently, exist once each
    assert stored == 200


async def _race(port: int, auth: tuple[str, str]) -> list[int]:
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", auth=auth, limits=limits, timeout=30
    ) as client:

        async def event(i: int) -> int:
            body = {"name": "raced", "data": {"i": i}}
            response = await client.post(f"/api/v1/customers/racer{i % 10}/events", json=body)
            return response.status_code

        return list(await asyncio.gather(*(event(i) for i in range(200))))
