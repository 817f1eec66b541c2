"""A Tidings emulator for a pytest session (docs/emulator.md).

Installed with Tidings as the `pytest11` plugin `tidings`, so a test suite only
asks for a fixture:

- `tidings_emulator` (session): starts `tidings emulate` on free ports, sets the
  environment (below), stops it at the end;
- `tidings` (each test): the same emulator, reset before the test: no people,
  events or messages, the templates and campaigns kept.

The environment it sets, for the code under test to read its settings from:
`TIDINGS_URL` and `TIDINGS_HTTPS_URL`, `TIDINGS_SITE_ID`,
`TIDINGS_TRACK_API_KEY`, `TIDINGS_APP_API_KEY`, `TIDINGS_CDP_WRITE_KEY`, and
`REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE`: the usual CA bundle plus the
emulator's CA, so the official Python clients (requests) and httpx trust its
https port and still every public site.

`Emulator` is the handle both fixtures give: its keys and URLs, clients of the
official `customerio` package pointed at it, and the control API's helpers:
`outbox`, `clear_outbox`, `now`, `advance`, `set_clock`, `drain`, `reset`.

One setting, in the suite's pytest configuration: `tidings_apply`, a workspace
file (as `tidings apply -f` takes) the emulator is set up with, relative to the
configuration file's folder; a reset keeps what it made. In `pyproject.toml`:

    [tool.pytest.ini_options]
    tidings_apply = "workspace.yaml"

`tidings emulate` also reads the environment the session starts in:
`TIDINGS_APPLY` when `tidings_apply` is not set, and its keys from
`TIDINGS_SITE_ID`, `TIDINGS_TRACK_API_KEY`, `TIDINGS_APP_API_KEY` and
`TIDINGS_CDP_WRITE_KEY`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

START_SECONDS = 30.0


class EmulatorError(RuntimeError):
    """The emulator refused a control call, or did not start."""


class Emulator:
    def __init__(
        self, info: dict[str, Any], process: subprocess.Popen[bytes] | None = None
    ) -> None:
        self.info = info
        self.url: str = info["url"]
        self.https_url: str = info["https_url"]
        self.ca_file: str = info["ca_file"]
        self.site_id: str = info["site_id"]
        self.track_api_key: str = info["track_api_key"]
        self.app_api_key: str = info["app_api_key"]
        self.cdp_write_key: str = info["cdp_write_key"]
        self.workspace_id: int = info["workspace_id"]
        self._process = process
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.app_api_key}"},
            timeout=660,  # a drain may take up to 600 s when asked
        )

    # --- the official clients, pointed here ---------------------------------------------

    def track_client(self, **options: Any) -> Any:
        """A `customerio.CustomerIO` (Track API, https) for this emulator."""
        from customerio import CustomerIO

        host, port = self.https_url.removeprefix("https://").rsplit(":", 1)
        return CustomerIO(self.site_id, self.track_api_key, host=host, port=int(port), **options)

    def api_client(self, **options: Any) -> Any:
        """A `customerio.APIClient` (App API: transactional sends) for this emulator."""
        from customerio import APIClient

        return APIClient(self.app_api_key, url=self.url, **options)

    # --- the control API ---------------------------------------------------------------

    def outbox(self, **filters: Any) -> list[dict[str, Any]]:
        """The captured messages in the order they were sent. Filters: `recipient`,
        `channel`, `template` (a transactional message's id), `campaign` (a campaign's,
        broadcast's or newsletter's id), `delivery_id`."""
        found: list[dict[str, Any]] = []
        query = {name: str(value) for name, value in filters.items() if value is not None}
        start: str | None = None
        while True:
            page = self._call(
                "GET",
                "/_emulator/outbox",
                params={**query, "limit": "1000", **({"start": start} if start else {})},
            )
            found.extend(page["messages"])
            start = page.get("next")
            if not start:
                return found[::-1]

    def clear_outbox(self, **filters: Any) -> int:
        """Forget the captured messages (those the filters match); how many."""
        query = {name: str(value) for name, value in filters.items() if value is not None}
        return int(self._call("DELETE", "/_emulator/outbox", params=query)["deleted"])

    def now(self) -> int:
        """The emulator's clock, in unix seconds."""
        return int(self._call("GET", "/_emulator/clock")["now"])

    def advance(
        self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> int:
        """Move the clock forward, running what comes due on the way in order; the new time."""
        step = seconds + 60 * minutes + 3600 * hours + 86400 * days
        return int(self._call("POST", "/_emulator/clock", json={"advance": step})["now"])

    def set_clock(self, when: int | dt.datetime) -> int:
        """Move the clock forward to `when` (unix seconds, or an aware datetime)."""
        value = int(when.timestamp()) if isinstance(when, dt.datetime) else int(when)
        return int(self._call("POST", "/_emulator/clock", json={"set": value})["now"])

    def drain(self, timeout: float = 30.0) -> None:
        """Return once segments, journeys, deliveries, webhooks and jobs have nothing due."""
        self._call("POST", "/_emulator/drain", json={"timeout": timeout})

    def reset(self, *, everything: bool = False) -> None:
        """Forget people, events, messages and jobs (and with `everything`, templates,
        campaigns, segments and the rest of the set-up too). Keys stay."""
        self._call("POST", "/_emulator/reset", json={"everything": everything})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise EmulatorError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close this handle's connection (the emulator goes on)."""
        self._http.close()

    def stop(self) -> None:
        """Stop the emulator (its store goes with it)."""
        self.close()
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()


def start(*args: str, timeout: float = START_SECONDS) -> Emulator:
    """Start `tidings emulate` on free ports (more options in `args`) and wait until it
    answers; EmulatorError if it does not within `timeout` seconds."""
    command = [sys.executable, "-m", "tidings", "emulate", "--port", "0", "--tls-port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = _first_line(process, timeout)
    if line is None:
        process.kill()
        process.wait()
        process.stdout.close()
        raise EmulatorError(f"tidings emulate did not start within {timeout:g} s")
    return Emulator(json.loads(line), process)


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes | None:
    """The first line the process prints, or None if it exits or `timeout` passes first."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffered = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffered:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return None
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                return None
            buffered += chunk
    return buffered.split(b"\n", 1)[0]


def environment(emulator: Emulator, folder: Path) -> dict[str, str]:
    """The variables the session fixture sets (module docstring), with the CA bundle
    written in `folder`."""
    bundle = folder / "ca-bundle.pem"
    bundle.write_bytes(_default_bundle() + Path(emulator.ca_file).read_bytes())
    return {
        "TIDINGS_URL": emulator.url,
        "TIDINGS_HTTPS_URL": emulator.https_url,
        "TIDINGS_SITE_ID": emulator.site_id,
        "TIDINGS_TRACK_API_KEY": emulator.track_api_key,
        "TIDINGS_APP_API_KEY": emulator.app_api_key,
        "TIDINGS_CDP_WRITE_KEY": emulator.cdp_write_key,
        "REQUESTS_CA_BUNDLE": str(bundle),
        "SSL_CERT_FILE": str(bundle),
    }


def _default_bundle() -> bytes:
    try:
        import certifi
    except ImportError:
        return b""
    return Path(certifi.where()).read_bytes() + b"\n"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "tidings_apply",
        "A workspace file to start the Tidings emulator with (relative to this file's folder)",
        type="paths",
        default=[],
    )


def _options(config: pytest.Config) -> list[str]:
    """`tidings emulate`'s options from the suite's configuration (module docstring)."""
    files: list[Path] = config.getini("tidings_apply")
    if len(files) > 1:
        raise pytest.UsageError("tidings_apply: give one workspace file")
    for path in files:
        if not path.is_file():
            raise pytest.UsageError(f"tidings_apply: {path} is not a file")
    return [option for path in files for option in ("--apply", str(path))]


@pytest.fixture(scope="session")
def tidings_emulator(pytestconfig: pytest.Config) -> Iterator[Emulator]:
    """A Tidings emulator for the session, with the environment pointing at it."""
    emulator = start(*_options(pytestconfig))
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="tidings-ca-") as folder:
        os.environ.update(environment(emulator, Path(folder)))
        try:
            yield emulator
        finally:
            os.environ.clear()
            os.environ.update(saved)
            emulator.stop()


@pytest.fixture
def tidings(tidings_emulator: Emulator) -> Emulator:
    """The session's emulator, reset for this test (templates and campaigns kept)."""
    tidings_emulator.reset()
    return tidings_emulator
