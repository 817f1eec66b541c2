"""The composition roots: each process's parts built from `Settings`, in one place.

`create_app` builds the server's: the database, the writer (here, or a
connection to SQLite's writer process), the readers, the credentials cache,
the metrics, the route table, the background workers (threads here, or a
worker process), and hands the handlers a `Context` holding only what they
use, and the web UI (`tidings.ui`) the same reader and writer.
`create_worker` builds `tidings worker`'s: the background workers and, on
SQLite beside a server, their link to its writer process. Both wire the
activity stream's subscribers first (`runtime.wiring`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tidings.api import (
    account,
    app_api,
    assets,
    broadcast_triggers,
    broadcasts,
    campaign_metrics,
    campaigns,
    collections,
    data_index,
    design_studio,
    downloads,
    email_webhooks,
    esp,
    exports,
    imports,
    messages,
    newsletters,
    objects,
    ops,
    pipelines,
    reporting_webhooks,
    send,
    sms_status,
    subscriptions,
    templates,
    track_v1,
    track_v2,
    tracking,
)
from tidings.api import emulator as emulator_api
from tidings.api.asgi import Tidings
from tidings.api.auth import Authenticator
from tidings.api.context import Context, Reader
from tidings.api.routing import Route, Router
from tidings.clock import Clock, OffsetClock, ProcessClock
from tidings.config import Settings
from tidings.db.engine import Database, open_database
from tidings.db.remote_writer import RemoteWriter
from tidings.db.writer import Writer
from tidings.db.writer_service import WriterProcess
from tidings.db.writer_service import spawn as spawn_writer
from tidings.emulator.control import Emulator
from tidings.emulator.driver import Driver
from tidings.fetch import Allowlist
from tidings.ops.logging import RequestLog
from tidings.ops.prometheus import Metrics
from tidings.providers.adapters import CAPTURE_ONLY
from tidings.runtime import wiring, worker_metrics
from tidings.runtime.workers import (
    BackgroundWorkers,
    WorkerProcess,
    WriterConnection,
    spawn_workers,
)
from tidings.sending.deliverer import LEASE as DELIVERY_LEASE
from tidings.ui import create_site

if TYPE_CHECKING:  # nats-py, imported only with an ingest log
    from tidings.ingest_log.applier import Applier
    from tidings.ingest_log.publisher import Publisher

__all__ = ["ROUTES", "Tidings", "Worker", "create_app", "create_worker"]

# Every served route, in matching order (the first that matches wins).
ROUTES: tuple[Route, ...] = (
    *track_v1.ROUTES,
    *track_v2.ROUTES,
    *app_api.ROUTES,
    *objects.ROUTES,
    *account.ROUTES,
    *exports.ROUTES,
    *imports.ROUTES,
    *collections.ROUTES,
    *templates.ROUTES,
    *campaigns.ROUTES,
    *broadcasts.ROUTES,
    *send.ROUTES,
    *broadcast_triggers.ROUTES,
    *newsletters.ROUTES,
    *downloads.ROUTES,
    *ops.ROUTES,
    *pipelines.ROUTES,
    *reporting_webhooks.ROUTES,
    *campaign_metrics.ROUTES,
    *messages.ROUTES,
    *esp.ROUTES,
    *subscriptions.ROUTES,
    *data_index.ROUTES,
    *tracking.ROUTES,
    *sms_status.ROUTES,
    *email_webhooks.ROUTES,
    *design_studio.ROUTES,
    *assets.ROUTES,
)


def create_app(settings: Settings, *, clock: Clock | None = None) -> Tidings:
    """The server's ASGI application; the writer and workers start with its lifespan.

    `clock` is the requests' and the background workers' (default: the process's,
    `clock.current()`, read each time). It is not installed as the process's: a
    caller moving time for everything (the emulator) installs it and passes it here.
    """
    wiring.wire()
    clock = clock or ProcessClock()
    db = open_database(settings.database_url)
    writer = _writer(db, settings)
    read = Reader(db)
    background: BackgroundWorkers | Driver | None = _background(db, clock, settings, writer)
    emulator = _emulator(db, clock, writer, background) if settings.emulator else None
    if emulator is not None:
        background = emulator.driver  # the workers' passes run on its thread
    router = Router(ROUTES + emulator_api.ROUTES if emulator is not None else ROUTES)
    log = _publisher(settings)
    ctx = Context(
        settings=settings,
        clock=clock,
        read=read,
        writer=writer,
        auth=Authenticator(read),
        metrics=Metrics(),
        fetch_allow=Allowlist.parse(settings.fetch_allowlist),
        routes=router.endpoints,
        log=log,
        emulator=emulator,
    )
    runtime = _ServerRuntime(settings, db, writer, read, background, log)
    request_log = RequestLog(settings.log_format, enabled=settings.access_log)
    site = create_site(settings, clock, read, ctx.write, ctx.auth.forget)
    return Tidings(ctx, router, request_log, runtime, site)


def _publisher(settings: Settings) -> Publisher | None:
    """The ingest log's publisher, with `--ingest-log` (which alone needs nats-py)."""
    if settings.ingest_log is None:
        return None
    from tidings.ingest_log.publisher import Publisher

    return Publisher(settings.ingest_log)


def _writer(db: Database, settings: Settings) -> Writer | RemoteWriter:
    """This process's writer, or on SQLite with a writer process its link to it."""
    if db.is_sqlite and (settings.writer_process or settings.writer_socket):
        return RemoteWriter(max_pending=settings.max_pending_writes)
    return Writer(
        db.writer,
        max_batch=settings.commit_max_batch,
        max_pending=settings.max_pending_writes,
        # SQLite has one writer, whose batches never wait for another's: no pre-claim.
        batch_scope=None if db.is_sqlite else wiring.batch_scope(),
    )


def _background(
    db: Database, clock: Clock, settings: Settings, writer: Writer | RemoteWriter
) -> BackgroundWorkers | None:
    """The background workers as threads of the server, unless none are wanted or a
    worker process runs them (`spawns_worker_process`: on SQLite with the writer
    process, started with it; on PostgreSQL with `worker_process`). On SQLite they
    write through the request writer (one writing connection per process, so
    neither waits on the other's lock)."""
    if not settings.background_workers or settings.spawns_worker_process:
        return None
    if not isinstance(writer, Writer):
        return None
    write = writer.call if db.is_sqlite else None
    factories = CAPTURE_ONLY if settings.emulator else None
    return BackgroundWorkers(db, clock, settings, write=write, factories=factories)


def _emulator(
    db: Database,
    clock: Clock,
    writer: Writer | RemoteWriter,
    background: BackgroundWorkers | Driver | None,
) -> Emulator:
    """`tidings emulate`'s controls: one process on SQLite, the workers driven by them."""
    if not (
        db.is_sqlite and isinstance(writer, Writer) and isinstance(background, BackgroundWorkers)
    ):
        raise ValueError("the emulator runs on SQLite with the writer and workers in process")
    if not isinstance(clock, OffsetClock):
        raise ValueError("the emulator's clock is an OffsetClock")
    driver = Driver(background)
    writer.after_commit = driver.wake
    return Emulator(clock, driver, db, writer.call)


class _ServerRuntime:
    """What the server process runs besides the requests: the writer (or SQLite's
    writer process), the background workers (threads, or a worker process)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        writer: Writer | RemoteWriter,
        read: Reader,
        background: BackgroundWorkers | Driver | None,
        log: Publisher | None = None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.db = db
        self.writer = writer
        self.read = read
        self.background = background
        self._writer_process: WriterProcess | None = None
        self._worker_process: WorkerProcess | None = None

    async def start(self) -> None:
        await self._start_writer()
        if self.log is not None:
            await self.log.start()
        if self.background is not None:
            self.background.start()

    async def _start_writer(self) -> None:
        if isinstance(self.writer, Writer):
            self.writer.start()
            if self.settings.spawns_worker_process:  # PostgreSQL: no writer socket to share
                self._worker_process = spawn_workers(self.settings)
            return
        path = self.settings.writer_socket
        if not path:
            url, max_batch = self.db.url, self.settings.commit_max_batch
            self._writer_process = await asyncio.get_running_loop().run_in_executor(
                None, lambda: spawn_writer(url, max_batch=max_batch)
            )
            path = self._writer_process.socket_path
        await self.writer.connect(path)
        if self.settings.spawns_worker_process:
            self._worker_process = spawn_workers(self.settings, path)

    def close(self) -> None:
        """Commit whatever is still queued, then release the database."""
        if self.log is not None:
            self.log.close()
        if self.background is not None:
            self.background.stop()
        if self._worker_process is not None:
            self._worker_process.stop()
        self.writer.stop()
        if self._writer_process is not None:
            self._writer_process.stop()
        self.read.close()
        self.db.dispose()


@dataclass
class Worker:
    """`tidings worker`: the background workers, their database and, beside a SQLite
    server's writer process, the link their writes commit through."""

    workers: BackgroundWorkers
    db: Database
    link: WriterConnection | None
    # Applies the ingest log's partitions (with `--ingest-log`).
    applier: Applier | None = None

    @property
    def gone(self) -> bool:
        """Whether the writer process this worker commits through has gone."""
        return self.link is not None and self.link.gone

    def start(self) -> None:
        self.workers.start()
        if self.applier is not None:
            self.applier.start()

    def metrics(self) -> str:
        """This worker's `/metrics` text (`runtime.worker_metrics`); on the system clock,
        since the ingest log's ages compare it with the times the stream stamped."""
        return worker_metrics.render(self.workers.deliveries, self.applier, time.time())

    def stop(self) -> None:
        """Finish the work in progress, then close the link and the database."""
        if self.applier is not None:
            self.applier.stop()
        self.workers.stop()
        if self.link is not None:
            self.link.close()
        self.db.dispose()


def create_worker(
    settings: Settings, *, delivery_lease: int = DELIVERY_LEASE, clock: Clock | None = None
) -> Worker:
    """The background workers of `tidings worker`, on connections of their own, or
    committing through `settings.writer_socket` (SQLite's writer process) when set."""
    wiring.wire()
    db = open_database(settings.database_url, pool_size=4 if settings.ingest_log else 2)
    link = WriterConnection(settings.writer_socket) if settings.writer_socket else None
    workers = BackgroundWorkers(
        db,
        clock or ProcessClock(),
        settings,
        write=link.writer.call if link is not None else None,
        delivery_lease=delivery_lease,
    )
    applier = None
    if settings.ingest_log is not None:
        from tidings.ingest_log.applier import Applier

        applier = Applier(db, settings.ingest_log)
    return Worker(workers, db, link, applier)
