"""Helpers for tests: polling with a deadline instead of sleeping."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02) -> T:
    """Call `check` until it returns a truthy value or raises no AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


CLI = [sys.executable, "-m", "tidings"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str) -> str:
    """Run `tidings ARGS...`, insist it succeeds, return its stdout."""
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_healthy(port: int, timeout: float = 60) -> None:
    """Wait until the server on `port` answers `/healthz`: a fresh server process (and
    its writer and worker processes) may take many seconds to start on a loaded machine."""

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    eventually(healthy, timeout=timeout)


def children_of(pid: int) -> dict[int, str]:
    """The live child processes of `pid`: their command lines by process id."""
    found = {}
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            with contextlib.suppress(FileNotFoundError):
                line = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                found[int(child)] = line.decode()
    return found


def process_state(pid: int) -> str:
    """A process's state letter from /proc ("Z" for a zombie), or "gone"."""
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return "gone"
