"""The Jest recipe for the emulator (tests/api/node/jest, quoted in docs/emulator.md),
run as a user runs it: Jest's globalSetup starts `tidings emulate`, the tests drive it
with customerio-node and read the outbox, clock and reset through emulator.cjs, and
globalTeardown stops it.

Tidings is started as this Python (`TIDINGS_COMMAND`), so the run uses the code under
test; the emulator's own store is SQLite whatever the suite's backends are.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.api.node_runner import MODULES, NODE_DIR, requires

JEST_SECONDS = 180
TESTS = 2  # in jest/signup.test.cjs


@requires("jest", "customerio-node")
def test_the_jest_recipe_runs_customerio_node_against_the_emulator(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    # The emulator reads TIDINGS_* as its options: hand it only the command.
    env = {name: value for name, value in os.environ.items() if not name.startswith("TIDINGS_")}
    env["TIDINGS_COMMAND"] = f"{sys.executable} -m tidings"
    command = [MODULES / ".bin" / "jest", "--config", "jest/jest.config.cjs", "--json"]
    done = run(command + ["--outputFile", str(results)], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(results.read_text())
    assert (report["numTotalTests"], report["numPassedTests"]) == (TESTS, TESTS), done.stderr
    # globalTeardown waited for the emulator to stop, and so to remove its store.
    found = re.search(r"\(CA (\S+)/ca\.pem\)", done.stderr)
    assert found is not None, done.stderr
    assert not Path(found.group(1)).exists()


def run(command: list, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run Jest in its own process group, so that if it runs out of time the emulator
    it started gets the SIGTERM too (and removes its store) rather than outliving it."""
    with subprocess.Popen(
        command,
        cwd=NODE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as jest:
        try:
            out, err = jest.communicate(timeout=JEST_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(jest.pid, signal.SIGTERM)
            out, err = jest.communicate(timeout=30)
            raise AssertionError(f"jest ran over {JEST_SECONDS} s: {err}") from None
    return subprocess.CompletedProcess(command, jest.returncode, out, err)
