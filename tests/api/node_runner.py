"""A long-lived Node process running one of the scripts in tests/api/node.

The script reads one JSON array of calls per line on stdin and answers one
JSON array of outcomes per line; Node trusts the test CA through
NODE_EXTRA_CA_CERTS. One process serves a whole test module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"
MODULES = NODE_DIR / "node_modules"


def requires(*packages: str) -> pytest.MarkDecorator:
    """Skip unless node and these npm packages (installed by `make setup`) are present."""
    missing = shutil.which("node") is None or any(not (MODULES / p).is_dir() for p in packages)
    return pytest.mark.skipif(missing, reason=f"node or {', '.join(packages)} not installed")


class NodeRunner:
    def __init__(self, script: str, ca_path: str, log: Path) -> None:
        self._log = log
        self._stderr = log.open("w")
        self._proc = subprocess.Popen(
            ["node", script],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": ca_path},
        )

    def run(self, calls: list[dict]) -> list[dict]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(calls) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise AssertionError("node runner exited: " + self._log.read_text())
        return json.loads(line)

    def ok(self, calls: list[dict]) -> list:
        """Run calls that must all succeed; returns their results."""
        outcomes = self.run(calls)
        for call, outcome in zip(calls, outcomes, strict=True):
            assert outcome["ok"], (call["method"], outcome)
        return [outcome["result"] for outcome in outcomes]

    def close(self) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)
        self._proc.stdout.close()
        self._stderr.close()
