"""What a handler may use, as one small typed object built by `create_app`.

Handlers are `async def handler(ctx: Context, request: Request) -> Response`:
they read through `ctx.read` (a read transaction on a worker thread), write
through `ctx.write` / `ctx.write_many` (the group-commit writer: the call
returns once the use case is committed), and take the time from `ctx.now()`.
The ingest endpoints write through `ctx.ingest`, which publishes to the
ingest log instead when the server has one (`tidings.ingest_log`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection

from tidings.api.auth import Authenticator
from tidings.api.http import Request
from tidings.api.routing import Endpoint
from tidings.assets.store import AssetStore
from tidings.assets.store import from_settings as store_from_settings
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.engine import Database
from tidings.db.remote_writer import RemoteWriter
from tidings.db.writer import Writer
from tidings.emulator.control import Emulator
from tidings.fetch import Allowlist
from tidings.ingest_log.records import Record
from tidings.ops.prometheus import Metrics

if TYPE_CHECKING:  # nats-py, imported only with an ingest log
    from tidings.ingest_log.publisher import Publisher

T = TypeVar("T")
READ_THREADS = 8


class Reader:
    """Read transactions on a pool of threads, so the event loop never waits on one."""

    def __init__(self, db: Database, *, threads: int = READ_THREADS) -> None:
        self._db = db
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tidings-read")

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in a read transaction on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._db.read, fn, *args)

    def close(self) -> None:
        """Wait for the reads in progress, then release the threads."""
        self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class Context:
    """What a handler may use: reads, writes, the time, credentials, counters, routes."""

    settings: Settings
    clock: Clock
    read: Reader
    writer: Writer | RemoteWriter
    auth: Authenticator
    metrics: Metrics
    # Private addresses that user-supplied URLs (webhook endpoints) may reach.
    fetch_allow: Allowlist
    # Every served route, in matching order (the OpenAPI document lists them).
    routes: tuple[Endpoint, ...]
    # The ingest log ingest requests are published to (None: written directly).
    log: Publisher | None = None
    # Where asset files are kept (`assets/store.py`; None: from the settings).
    asset_store: AssetStore | None = None
    # `tidings emulate`'s controls (`api/emulator.py`); None in every other server.
    emulator: Emulator | None = None

    @property
    def assets(self) -> AssetStore:
        """The asset store, made from the settings on first use."""
        if self.asset_store is None:
            object.__setattr__(self, "asset_store", store_from_settings(self.settings))
        assert self.asset_store is not None
        return self.asset_store

    def now(self) -> int:
        return int(self.clock.now())

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write use case `fn(conn, *args)`; returns once it is committed."""
        result: T = await self.writer.submit(fn, *args)
        return result

    async def write_many(self, fn: Callable[[Connection, list[Any]], Any], item: Any) -> None:
        """Apply one item through a bulk use case `fn(conn, items)`, committed with its
        neighbours in one call."""
        await self.writer.submit_many(fn, item)

    async def ingest(
        self,
        records: Callable[[], Sequence[Record]],
        fn: Callable[..., T],
        *args: Any,
        bulk: bool = False,
    ) -> T | None:
        """An ingest write: with the ingest log, publish `records()` and return None once
        the stream acknowledged every record (`tidings worker` applies them); without it,
        run `fn(conn, *args)` as `write` does (`bulk`: `write_many(fn, args[0])`), and
        `records` is never called."""
        if self.log is not None:
            await self.log.publish(records())
            return None
        if bulk:
            await self.write_many(fn, args[0])
            return None
        return await self.write(fn, *args)

    def public_url(self, request: Request) -> str:
        """The base URL clients reach this server at (setting, else the Host header)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = request.header("host") or f"{self.settings.host}:{self.settings.port}"
        return f"{request.scheme}://{host}"
