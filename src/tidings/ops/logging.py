"""One log line per request, plain or JSON."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

log = logging.getLogger("tidings.access")


class RequestLog:
    def __init__(self, fmt: str) -> None:
        self.json = fmt == "json"

    def line(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client") or ("-", 0)
        if self.json:
            log.info(
                json.dumps(
                    {
                        "ts": round(time.time(), 3),
                        "client": client[0],
                        "method": scope["method"],
                        "path": scope.get("raw_path", b"").decode("latin-1") or scope["path"],
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                    }
                )
            )
        else:
            path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
            log.info(
                '%s "%s %s" %d %.2fms', client[0], scope["method"], path, status, seconds * 1000
            )


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("tidings")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
