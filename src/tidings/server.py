"""Running the ASGI app under uvicorn, with an orderly stop on SIGTERM.

On SIGTERM uvicorn stops accepting connections, lets in-flight requests
finish (their writes commit), runs the lifespan shutdown (the writer drains
its queue), and then would re-raise the signal. SIGTERM is the orderly way to
stop a service, so here the process then exits 0 instead.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

from tidings.app import create_app
from tidings.config import Settings


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)


def config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
        log_config=None,
        access_log=False,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=30,
        ws="none",
        http="httptools",
        loop="uvloop",
    )


def serve(settings: Settings) -> None:
    _Server(config(settings)).run()
