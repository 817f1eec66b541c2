"""One log line per request, plain or JSON, and the logging set-up for the rest.

Access lines are the hot path (one per request), so they are formatted and
written to stderr directly instead of going through `logging` records, and
the lines of one turn of the event loop leave in one write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any, TextIO


class RequestLog:
    def __init__(self, fmt: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.json = fmt == "json"
        self.stream = stream
        self.enabled = enabled
        self._lines: list[str] = []

    def line(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        if not self.enabled:
            return
        client = scope.get("client") or ("-", 0)
        path = (scope.get("raw_path") or b"").decode("latin-1") or scope["path"]
        if self.json:
            text = json.dumps(
                {
                    "ts": round(time.time(), 3),
                    "client": client[0],
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                }
            )
        else:
            text = f'{client[0]} "{scope["method"]} {path}" {status} {seconds * 1000:.2f}ms'
        if not self._lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop: write at once
                self._lines.append(text)
                self.flush()
                return
        self._lines.append(text)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        if lines:
            (self.stream or sys.stderr).write("\n".join(lines) + "\n")


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("tidings")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
