"""Running the ASGI app under uvicorn, with an orderly stop on SIGTERM.

On SIGTERM uvicorn stops accepting connections, lets in-flight requests
finish (their writes commit), runs the lifespan shutdown (the writer drains
its queue), and then would re-raise the signal. SIGTERM is the orderly way to
stop a service, so here the process then exits 0 instead.

With `tls_port`, one server answers plain http on `port` and https on
`tls_port`: both sockets are bound first (`listen`) and handed to every
server process, which serves them with the same app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import create_ssl_context
from uvicorn.supervisors import Multiprocess

from tidings.app import Tidings, create_app
from tidings.clock import Clock
from tidings.config import Settings, settings_from_dict
from tidings.db.writer_service import spawn as spawn_writer
from tidings.http_protocol import HttpConfig, HttpLimits
from tidings.ops.heap import freeze_startup_heap
from tidings.runtime.workers import spawn_workers

_SETTINGS_ENV = "TIDINGS_WORKER_SETTINGS"


class _Server(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        settings: Settings,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.settings = settings
        self._on_ready = on_ready  # called once every socket is served

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve plain http on the sockets given, except https on the TLS port's."""
        tls_port = self.settings.tls_port
        tls = [s for s in sockets or [] if tls_port and s.getsockname()[1] == tls_port]
        await super().startup([s for s in sockets if s not in tls] if sockets else None)
        if self.should_exit:
            return
        if tls:
            await self._serve_tls(tls)
        if self._on_ready is not None:
            self._on_ready()

    async def _serve_tls(self, tls: list[socket.socket]) -> None:
        cfg = self.config
        assert self.settings.ssl_certfile is not None
        context = create_ssl_context(
            self.settings.ssl_certfile,
            self.settings.ssl_keyfile,
            cfg.ssl_keyfile_password,
            cfg.ssl_version,
            cfg.ssl_cert_reqs,
            cfg.ssl_ca_certs,
            cfg.ssl_ciphers,
        )
        loop = asyncio.get_running_loop()
        for sock in tls:
            server = await loop.create_server(
                self._protocol, sock=sock, ssl=context, backlog=cfg.backlog
            )
            self.servers.append(server)

    def _protocol(self, _loop: asyncio.AbstractEventLoop | None = None) -> Any:
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            _loop=_loop,
        )

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)


def config(
    settings: Settings, app: Tidings | str | None = None, workers: int = 1
) -> uvicorn.Config:
    with_tls_port = settings.tls_port is not None  # `port` is then plain http
    return HttpConfig(
        app if app is not None else create_app(settings),
        limits=limits(settings),
        factory=isinstance(app, str),
        workers=workers,
        host=settings.host,
        port=settings.port,
        ssl_certfile=None if with_tls_port else settings.ssl_certfile,
        ssl_keyfile=None if with_tls_port else settings.ssl_keyfile,
        log_config=None,
        access_log=False,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=30,
        ws="none",
        proxy_headers=False,  # no forwarded-for parsing on every request
        loop="uvloop",
    )


def limits(settings: Settings) -> HttpLimits:
    """The HTTP limits: the settings of the same names."""
    names = [field.name for field in dataclasses.fields(HttpLimits)]
    return HttpLimits(**{name: getattr(settings, name) for name in names})


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, made before anything else so that a taken port fails
    the start before a first workspace's keys are printed; OSError if it cannot."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    settings: Settings,
    workers: int,
    sockets: list[socket.socket],
    *,
    clock: Clock | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve in this process, or in `workers` processes sharing the listening
    `sockets` (from `listen`: the port, and the TLS port when there is one).

    Each worker process has its own writer on PostgreSQL, where they scale
    across cores, and they share one background worker process
    (`worker_process`). On SQLite they share one writer process
    (`writer_process`) and one background worker process, or else take turns
    at the single write lock. In one process, `clock` is the app's and `on_ready` is
    called once it serves.
    """
    if workers <= 1:
        cfg = config(settings, create_app(settings, clock=clock))
        freeze_startup_heap()
        _Server(cfg, settings, on_ready).run(sockets=sockets)
        return
    shared = background = None
    if settings.is_sqlite and settings.writer_process:
        shared = spawn_writer(settings.database_url, max_batch=settings.commit_max_batch)
        if settings.background_workers:
            background = spawn_workers(settings, shared.socket_path)
        settings = dataclasses.replace(
            settings, writer_socket=shared.socket_path, background_workers=False
        )
    elif settings.spawns_worker_process:  # PostgreSQL: one worker process for them all
        background = spawn_workers(settings)
        settings = dataclasses.replace(settings, background_workers=False)
    os.environ[_SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings))
    cfg = config(settings, app="tidings.server:app_from_environment", workers=workers)
    try:
        Multiprocess(cfg, target=_Server(cfg, settings).run, sockets=sockets).run()
    finally:
        if background is not None:
            background.stop()
        if shared is not None:
            shared.stop()


def app_from_environment() -> Tidings:
    """The app in a worker process, from the settings its supervisor passed down."""
    app = create_app(settings_from_dict(json.loads(os.environ[_SETTINGS_ENV])))
    freeze_startup_heap()
    return app
