"""`tidings serve` and the CLI as a user runs them: first start, logs, SIGTERM drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.support import (
    CLI,
    children_of,
    eventually,
    free_port,
    process_state,
    run_cli,
    wait_healthy,
)
from tidings.db.engine import open_database
from tidings.db.schema import events, workspaces


def _start(store: list[str], port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "serve", *store, "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_first_start_creates_a_workspace_and_prints_its_keys_once(tmp_path: Path):
    port = free_port()
    proc = _start(["--data-dir", str(tmp_path)], port, "--log-format", "json")
    try:
        wait_healthy(port)
        creds = json.loads(proc.stdout.readline() + "".join(_rest_of_json(proc)))
        auth = (creds["site_id"], creds["track_api_key"])
        response = httpx.put(f"http://127.0.0.1:{port}/api/v1/customers/u1", json={}, auth=auth)
        assert response.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    access = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {"method": "PUT", "path": "/api/v1/customers/u1", "status": 200}.items() <= next(
        a for a in access if a["method"] == "PUT"
    ).items()
    again = _start(["--data-dir", str(tmp_path)], port)
    try:
        wait_healthy(port)
    finally:
        again.send_signal(signal.SIGTERM)
        out, _ = again.communicate(timeout=30)
    assert out.strip() == ""  # keys are printed on the first start only


def _rest_of_json(proc: subprocess.Popen[str]):
    for line in proc.stdout:
        yield line
        if line.startswith("}"):
            return


def test_workspace_create_and_list(database_url: str, tmp_path: Path):
    store = ["--database-url", database_url]
    site = f"site-{os.getpid()}-{tmp_path.name}"
    created = json.loads(
        run_cli(
            "workspace",
            "create",
            *store,
            "--name",
            "cli",
            "--site-id",
            site,
            "--app-api-key",
            "a" + site,
        )
    )
    assert created["site_id"] == site and created["app_api_key"] == "a" + site
    assert len(created["track_api_key"]) >= 20 and created["cdp_write_key"]
    listed = [json.loads(line) for line in run_cli("workspace", "list", *store).splitlines()]
    mine = [w for w in listed if w["site_id"] == site]
    assert mine == [{"workspace_id": created["workspace_id"], "name": "cli", "site_id": site}]
    assert "key" not in json.dumps(listed)  # never a secret in the listing
    duplicate = subprocess.run(
        [*CLI, "workspace", "create", *store, "--name", "again", "--site-id", site],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert duplicate.returncode != 0 and "already" in duplicate.stderr


def test_sigterm_drains_in_flight_writes(database_url: str, tmp_path: Path):
    store = ["--database-url", database_url]
    site = f"drain-{os.getpid()}-{tmp_path.name}"
    creds = json.loads(run_cli("workspace", "create", *store, "--name", "drain", "--site-id", site))
    port = free_port()
    proc = _start(store, port)
    wait_healthy(port)
    acknowledged = asyncio.run(_flood_then_terminate(proc, port, (site, creds["track_api_key"])))
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert acknowledged > 0
    db = open_database(database_url)
    with db.reader.connect() as conn:
        ws = conn.execute(select(workspaces.c.id).where(workspaces.c.site_id == site)).scalar_one()
        stored = conn.execute(
            select(func.count())
            .select_from(events)
            .where(events.c.workspace_id == ws, events.c.type == "event")
        ).scalar_one()
    db.dispose()
    assert stored >= acknowledged  # every 200 was committed before the process exited


async def _flood_then_terminate(
    proc: subprocess.Popen[str], port: int, auth: tuple[str, str]
) -> int:
    # Room for every request at once and time to answer it: on a loaded machine
    # the pool's 5 s wait otherwise ends requests before the signal is sent.
    limits = httpx.Limits(max_connections=300)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", auth=auth, limits=limits, timeout=60
    ) as client:

        async def one(i: int) -> bool:
            try:
                r = await client.post(f"/api/v1/customers/p{i}/events", json={"name": "drained"})
                return r.status_code == 200
            except httpx.TransportError:
                return False

        tasks = [asyncio.create_task(one(i)) for i in range(300)]
        await asyncio.sleep(0)  # let the requests start before the signal
        while not any(t.done() for t in tasks):
            await asyncio.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        return sum(await asyncio.gather(*tasks))


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints(path: str, server):
    response = httpx.get(server.url + path, verify=_ctx(server))
    assert response.status_code == 200


def _ctx(server):
    import ssl

    return ssl.create_default_context(cafile=server.ca_path)


def test_on_sqlite_a_writer_and_a_worker_process_run_beside_the_server(tmp_path: Path):
    port = free_port()
    proc = _start(["--data-dir", str(tmp_path)], port)
    try:
        wait_healthy(port)
        creds = json.loads(proc.stdout.readline() + "".join(_rest_of_json(proc)))
        children = children_of(proc.pid)
        lines = list(children.values())
        assert sum("tidings.writer_process" in c for c in lines) == 1, lines
        assert sum(" worker --exit-with-parent" in c for c in lines) == 1, lines
        # sent by the worker process, through the writer process
        assert _sent_by_the_worker(port, creds["app_api_key"])["subject"] == "Hello"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    _assert_gone(children)  # both stopped with the server, not left behind


def test_on_postgresql_a_worker_process_runs_beside_the_server(database_url: str, tmp_path: Path):
    if database_url.startswith("sqlite"):
        pytest.skip("the SQLite layout is the test above")
    store = ["--database-url", database_url]
    site = f"workers-{os.getpid()}-{tmp_path.name}"
    creds = json.loads(run_cli("workspace", "create", *store, "--name", "w", "--site-id", site))
    port = free_port()
    proc = _start(store, port)
    try:
        wait_healthy(port)
        children = children_of(proc.pid)
        lines = list(children.values())
        assert sum(" worker --exit-with-parent" in c for c in lines) == 1, lines
        assert not any("tidings.writer_process" in c for c in lines), lines
        assert _sent_by_the_worker(port, creds["app_api_key"])["subject"] == "Hello"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    _assert_gone(children)  # stopped with the server, not left behind


def _sent_by_the_worker(port: int, app_api_key: str) -> dict:
    """Send an email through the server; what the capture adapter stored of it."""
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {app_api_key}"},
    ) as app:
        delivery_id = _send(app)
        return eventually(lambda: _captured(app, delivery_id), timeout=15)[0]


def _assert_gone(children: dict[int, str]) -> None:
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in process_state(pid), children[pid]


def _send(app: httpx.Client) -> str:
    message = {
        "identifiers": {"id": "u1"},
        "to": "u1@example.com",
        "from": "shop@example.com",
        "subject": "Hello",
        "body": "<p>Sent by the worker process</p>",
    }
    sent = app.post("/v1/send/email", json=message)
    assert sent.status_code == 200, sent.text
    return str(sent.json()["delivery_id"])


def _captured(app: httpx.Client, delivery_id: str) -> list[dict]:
    return list(app.get("/v1/outbox", params={"delivery_id": delivery_id}).json()["messages"])
