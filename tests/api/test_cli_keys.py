"""A workspace's keys from the CLI: printed only once the port is bound, and rotated.

`tidings serve` on an empty store prints the first workspace's keys once; a
taken port must stop it before anything is created, or the keys would be
printed and then lost. `tidings workspace rotate-keys` replaces keys; the old
ones stop working on a running server within its 10-second key cache.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import CLI, eventually, free_port, run_cli, wait_healthy

CACHE_BOUND = 10 + 10  # the server's key cache (10 s) and a margin for a slow machine


def test_a_taken_port_stops_serve_before_a_workspace_is_made(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [*CLI, "serve", "--data-dir", str(tmp_path / "data"), "--port", port],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert done.stdout == ""  # no keys printed that would never be shown again
    assert not (tmp_path / "data").exists()


def test_serve_refuses_an_unknown_log_level_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "serve", "--data-dir", str(tmp_path), "--log-level", "bogus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "'bogus' is not one of" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_help_names_the_environment_variables() -> None:
    shown = " ".join(run_cli("serve", "--help").split())
    for name in ("TIDINGS_PORT", "TIDINGS_DATA_DIR", "TIDINGS_SSL_CERTFILE", "TIDINGS_SSL_KEYFILE"):
        assert name in shown
    assert "PEM certificate" in shown and "PEM private key" in shown


@contextmanager
def serving(store: list[str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`tidings serve` on `store`, healthy: its URL and process (stopped on leaving)."""
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", *store, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_healthy(port)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], list[str]]]:
    """A running server on a fresh data folder, with its first workspace's keys."""
    store = ["--data-dir", str(tmp_path)]
    with serving(store) as (url, proc):
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while not lines[-1].startswith("}"):
            lines.append(proc.stdout.readline())
        yield url, json.loads("".join(lines)), store


def app_status(url: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.get(url + "/v1/reporting_webhooks", headers=headers).status_code


def track_status(url: str, site_id: str, key: str) -> int:
    return httpx.put(url + "/api/v1/customers/k1", json={}, auth=(site_id, key)).status_code


def test_rotating_one_kind_of_key_replaces_only_that_kind(served) -> None:
    url, keys, store = served
    assert app_status(url, keys["app_api_key"]) == 200  # now in the server's cache

    rotated = json.loads(run_cli("workspace", "rotate-keys", *store, "--kind", "app"))

    assert set(rotated) == {"workspace_id", "app_api_key"}
    assert rotated["app_api_key"] != keys["app_api_key"]
    assert app_status(url, rotated["app_api_key"]) == 200  # at once
    eventually(lambda: app_status(url, keys["app_api_key"]) == 401, timeout=CACHE_BOUND)
    assert track_status(url, keys["site_id"], keys["track_api_key"]) == 200


def test_rotating_every_key(served) -> None:
    url, keys, store = served
    assert track_status(url, keys["site_id"], keys["track_api_key"]) == 200

    rotated = json.loads(run_cli("workspace", "rotate-keys", *store))

    assert set(rotated) == {"workspace_id", "track_api_key", "app_api_key", "cdp_write_key"}
    assert track_status(url, keys["site_id"], rotated["track_api_key"]) == 200
    eventually(
        lambda: track_status(url, keys["site_id"], keys["track_api_key"]) == 401,
        timeout=CACHE_BOUND,
    )
    identify = {"type": "identify", "userId": "k2"}
    new_cdp = httpx.post(url + "/v1/identify", json=identify, auth=(rotated["cdp_write_key"], ""))
    assert new_cdp.status_code == 200
    old_cdp = httpx.post(url + "/v1/identify", json=identify, auth=(keys["cdp_write_key"], ""))
    assert old_cdp.status_code == 401


def test_rotate_keys_needs_the_workspace_when_there_are_several(tmp_path: Path) -> None:
    store = ["--data-dir", str(tmp_path)]
    for name in ("one", "two"):
        run_cli("workspace", "create", *store, "--name", name)
    done = subprocess.run(
        [*CLI, "workspace", "rotate-keys", *store], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "--workspace-id" in done.stderr
    rotated = json.loads(run_cli("workspace", "rotate-keys", *store, "--workspace-id", "2"))
    assert rotated["workspace_id"] == 2


def test_a_test_suite_pins_its_keys_before_the_first_start(tmp_path: Path) -> None:
    """As the README shows: create the workspace with known keys, then serve."""
    store = ["--data-dir", str(tmp_path)]
    pinned = ["--site-id", "test-site", "--track-api-key", "test-track-key"]
    pinned += ["--app-api-key", "test-app-key", "--cdp-write-key", "test-cdp-key"]
    run_cli("workspace", "create", *store, "--name", "ci", *pinned)
    with serving(store) as (url, _):
        assert track_status(url, "test-site", "test-track-key") == 200
        assert app_status(url, "test-app-key") == 200
    listed = [
        json.loads(line)["name"] for line in run_cli("workspace", "list", *store).splitlines()
    ]
    assert listed == ["ci"]  # serve made no first workspace of its own
