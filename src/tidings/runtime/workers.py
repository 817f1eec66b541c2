"""The background workers as one set, wherever they run.

Inside the server process (threads beside the event loop), in `tidings
worker`, or, on SQLite with the writer process, in a worker process that
`tidings serve` starts beside it: rendering and sending mail then never holds
the interpreter lock the request loop needs. `write` is how their writes
commit: their own transactions by default, or through a writer (the
server's, or the writer process over its socket).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvloop

from tidings.campaigns.messages import Composer
from tidings.campaigns.runner import JourneyWorker
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.engine import Database
from tidings.db.remote_writer import RemoteWriter
from tidings.db.writer_service import stop_child
from tidings.fetch import Allowlist
from tidings.jobs.runner import JobWorker
from tidings.providers.adapters import Factory
from tidings.reporting.poster import WebhookPoster
from tidings.runtime import housekeeping, wiring
from tidings.segments.refresher import SegmentWorker
from tidings.sending.deliverer import LEASE as DELIVERY_LEASE
from tidings.sending.deliverer import DeliveryWorker

Write = Callable[..., Any]


class BackgroundWorkers:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        *,
        write: Write | None = None,
        delivery_lease: int = DELIVERY_LEASE,
        factories: dict[str, Factory] | None = None,
    ) -> None:
        allowlist = Allowlist.parse(settings.fetch_allowlist)
        self.segments = SegmentWorker(db, clock, write=write)
        self.jobs = JobWorker(
            db,
            clock,
            wiring.job_handlers(allowlist),
            write=write,
            housekeeping=housekeeping.prune,
            housekeeping_every=settings.housekeeping_every,
        )
        self.deliveries = DeliveryWorker(
            db,
            clock,
            write=write,
            lease=delivery_lease,
            composers={"campaign": Composer(settings.base_url)},
            allow=allowlist,
            factories=factories,
        )
        self.poster = WebhookPoster(db, clock, allowlist, write=write)
        self.journeys = JourneyWorker(db, clock, write=write)
        self._all = (self.segments, self.jobs, self.journeys, self.deliveries, self.poster)

    def start(self) -> None:
        for worker in self._all:
            worker.start()

    def stop(self) -> None:
        """Stop each and wait for it."""
        for worker in self._all:
            worker.stop()


class WriterConnection:
    """A `RemoteWriter` for threads that have no event loop: it gets one of its own."""

    def __init__(self, socket_path: str, *, max_pending: int = 10_000) -> None:
        self.writer = RemoteWriter(max_pending=max_pending)
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tidings-writer-link", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.writer.connect(socket_path), self._loop).result()

    @property
    def gone(self) -> bool:
        return self.writer.gone

    def close(self) -> None:
        self.writer.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass
class WorkerProcess:
    """`tidings worker` as a child of the server: on SQLite it commits through the
    server's writer process, on PostgreSQL on connections of its own."""

    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 60.0) -> int:
        """Close its standard input (it finishes the work in progress, then exits) and wait."""
        return stop_child(self.process, "the worker process", timeout)


def spawn_workers(settings: Settings, writer_socket: str = "") -> WorkerProcess:
    """A `tidings worker` for the server's store: through `writer_socket` (SQLite's
    writer process) when given, else on connections of its own (PostgreSQL)."""
    command = [
        *(sys.executable, "-m", "tidings", "worker", "--exit-with-parent"),
        *("--database-url", settings.database_url),
        *(("--writer-socket", writer_socket) if writer_socket else ()),
        *("--fetch-allow", settings.fetch_allowlist),
        *("--housekeeping-every", str(settings.housekeeping_every or 0)),
        *("--public-url", settings.base_url),
        *("--log-level", "info" if settings.access_log else "warning"),
        *_ingest_log_options(settings),
    ]
    return WorkerProcess(subprocess.Popen(command, stdin=subprocess.PIPE))


def _ingest_log_options(settings: Settings) -> list[str]:
    """The server's ingest log, for its worker process to apply."""
    log = settings.ingest_log
    if log is None:
        return []
    return [
        *("--ingest-log", ",".join(log.servers)),
        *("--ingest-stream", log.stream),
        *("--ingest-partitions", str(log.partitions)),
        *("--ingest-replicas", str(log.replicas)),
        *("--ingest-lease", str(log.lease)),
    ]
