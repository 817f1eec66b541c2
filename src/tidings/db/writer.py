"""Group commit: many requests' writes share one transaction and one fsync.

Every write use case is a plain function `fn(conn, *args)` that never commits.
`Writer.submit` hands it to one writer thread per process. The thread takes
whatever has queued up while the previous commit was on disk, runs each
function inside its own SAVEPOINT (so a rejected request writes nothing while
its neighbours still commit), commits once, and only then resolves the
callers' futures: a 2xx is never sent for a write that is not durable.

Under light load a batch is a single request and nothing waits; under heavy
load batches grow by themselves, which is what turns one fsync per request
into one fsync per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from tidings.errors import ApiError

log = logging.getLogger("tidings.writer")

_STOP = object()


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None
    retry: bool = field(default=False)


class Overloaded(ApiError):
    def __init__(self) -> None:
        super().__init__(429, "too many pending writes, retry shortly", code="overloaded")


class Writer:
    def __init__(self, engine: Engine, *, max_batch: int = 512, max_pending: int = 10_000):
        self._engine = engine
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="tidings-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish every queued write, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(conn, *args)` in a committed transaction and return its result."""
        if self._queue.qsize() >= self._max_pending:
            raise Overloaded()
        assert self._loop is not None, "Writer.start() was not called"
        future = self._loop.create_future()
        self._queue.put(_Job(fn, args, future))
        return await future

    def _run(self) -> None:
        conn: Connection | None = None
        while True:
            batch, stopping = self._take()
            if batch:
                conn = self._commit(conn, batch)
            if stopping:
                break
        if conn is not None:
            conn.close()

    def _take(self) -> tuple[list[_Job], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, conn: Connection | None, batch: list[_Job]) -> Connection | None:
        try:
            if conn is None or conn.closed or conn.invalidated:
                conn = self._engine.connect()
            with conn.begin():
                for job in batch:
                    _run_in_savepoint(conn, job)
        except Exception as exc:  # the commit itself failed: nothing of the batch is durable
            log.warning("batch commit failed, retrying its writes one by one: %s", exc)
            _discard(conn)
            conn = None
            for job in batch:
                job.error, job.retry = None, True
        retries = [job for job in batch if job.retry]
        for job in retries:
            conn = self._commit_alone(conn, job)
        self.batches += 1
        self.jobs += len(batch)
        self._resolve(batch)
        return conn

    def _commit_alone(self, conn: Connection | None, job: _Job) -> Connection | None:
        job.retry = False
        try:
            if conn is None or conn.closed or conn.invalidated:
                conn = self._engine.connect()
            with conn.begin():
                job.result = job.fn(conn, *job.args)
            job.error = None
        except ApiError as exc:
            job.error = exc
        except Exception as exc:
            log.exception("write failed")
            job.error = exc
            _discard(conn)
            conn = None
        return conn

    def _resolve(self, batch: list[_Job]) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(_settle, batch)


def _run_in_savepoint(conn: Connection, job: _Job) -> None:
    savepoint = conn.begin_nested()
    try:
        job.result = job.fn(conn, *job.args)
        savepoint.commit()
    except ApiError as exc:
        savepoint.rollback()
        job.error = exc
    except Exception:
        # Most often a race with another process (a unique key taken meanwhile):
        # worth one more try on its own once the batch is committed.
        savepoint.rollback()
        job.retry = True


def _discard(conn: Connection | None) -> None:
    if conn is not None:
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # already broken; dropping it is all that is left
            pass
    return None


def _settle(batch: list[_Job]) -> None:
    for job in batch:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
