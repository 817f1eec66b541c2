"""A `/metrics` endpoint for a process that serves no HTTP of its own (`tidings worker`).

A small threaded HTTP server (the standard library's) on a port of its own:
`GET /metrics` answers the Prometheus text `render()` returns at that moment,
anything else 404. Each scrape runs on a thread of its own, so a slow read
never holds the worker's loops; `render` must be safe to call from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("tidings.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4"


class MetricsServer:
    def __init__(self, host: str, port: int, render: Callable[[], str]) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(render))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port bound (the one asked for, or the one chosen for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tidings-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _handler(render: Callable[[], str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"not found\n", "text/plain")
                return
            try:
                body = render().encode()
            except Exception:
                log.exception("rendering /metrics failed")
                self._answer(500, b"metrics unavailable\n", "text/plain")
                return
            self._answer(200, body, CONTENT_TYPE)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("metrics: " + format, *args)

    return Handler
