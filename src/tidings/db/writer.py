"""Group commit: many requests' writes share one transaction and one fsync.

Every write use case is a plain function `fn(conn, *args)` that never commits.
`Writer.submit` hands it to one writer thread per process. The thread takes
whatever has queued up while the previous commit was on disk, runs it all,
commits once, and only then resolves the callers' futures: a 2xx is never
sent for a write that is not durable.

Under light load a batch is a single request and nothing waits; under heavy
load batches grow by themselves, which is what turns one fsync per request
into one fsync per batch.

Two refinements keep the per-request cost low:

- Optimism. A batch first runs without savepoints. Only if one of its writes
  raises is the whole transaction rolled back and the batch run again with a
  SAVEPOINT around each write, so that a rejected request writes nothing
  while its neighbours still commit. Use cases are deterministic functions of
  the database state, so running them again is safe.
- Coalescing. `submit_many(fn, item)` queues one item for a bulk function
  `fn(conn, items)`; consecutive queued items of the same function are applied
  in one call (one multi-row INSERT instead of one per request). If a bulk call
  fails, its items are applied one at a time.

The optimistic pass may open with a scope the composition root gives
(`batch_scope(conn, batch)`, a context manager around the whole pass): the
dedup keys and the people of every bulk item taken first, each in one sorted
order, and the segment marks made at the end, sorted (`runtime.wiring`'s
`batch_scope`), so that two processes' batches never take shared rows in
opposite orders (PostgreSQL; SQLite's one writer never waits for another).
The careful pass and a job committed alone run without it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from tidings.db import counters
from tidings.db.engine import prepare_group_commit
from tidings.errors import ApiError

log = logging.getLogger("tidings.writer")

_STOP = object()


@dataclass
class Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    # Whoever waits for the outcome: an asyncio or a concurrent future here; the
    # writer process (writer_service.py) keeps the requesting peer and job id.
    future: Any
    bulk: bool = False
    result: Any = None
    error: BaseException | None = None
    retry: bool = False

    def call(self, conn: Connection) -> None:
        self.result = self.fn(conn, [self.args[0]]) if self.bulk else self.fn(conn, *self.args)


class Overloaded(ApiError):
    def __init__(self) -> None:
        super().__init__(429, "too many pending writes, retry shortly", code="overloaded")


# Opened around a batch's optimistic pass, inside its transaction (see the module doc).
BatchScope = Callable[[Connection, list[Job]], AbstractContextManager[None]]


class _Failed(Exception):
    """A write raised during the optimistic pass: run the batch again, carefully."""


class Writer:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 512,
        max_pending: int = 10_000,
        batch_scope: BatchScope | None = None,
    ):
        self._engine = engine
        self._batch_scope = batch_scope
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Connection | None = None
        self.batches = 0
        self.jobs = 0
        # Called in the writer thread after each batch (the emulator wakes its workers).
        self.after_commit: Callable[[], None] | None = None

    def start(self) -> None:
        """Start the writer thread; called from the event loop whose futures it settles
        (or, in the writer process, from a thread without one)."""
        with contextlib.suppress(RuntimeError):
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
        return await self._enqueue(fn, args, bulk=False)

    async def submit_many(self, fn: Callable[[Connection, list[Any]], Any], item: Any) -> None:
        """Apply `item` through the bulk function `fn(conn, items)`, with its neighbours."""
        await self._enqueue(fn, (item,), bulk=True)

    def put(self, job: Job) -> None:
        """Queue a job whose outcome `settle` hands over (the writer process's)."""
        self._queue.put(job)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`submit` for other threads (a background worker): blocks until committed.

        On SQLite this keeps one writing connection per process, so a worker's
        writes never wait for the request writer's lock, nor it for theirs.
        """
        if self._queue.qsize() >= self._max_pending:
            raise Overloaded()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.put(Job(fn, args, future))
        return future.result()

    async def _enqueue(self, fn: Callable[..., Any], args: tuple[Any, ...], bulk: bool) -> Any:
        if self._queue.qsize() >= self._max_pending:
            raise Overloaded()
        assert self._loop is not None, "Writer.start() was not called"
        future = self._loop.create_future()
        self._queue.put(Job(fn, args, future, bulk))
        return await future

    def _run(self) -> None:
        while True:
            batch, stopping = self._take()
            if batch:
                self.commit(batch)
                if self.after_commit is not None:
                    self.after_commit()
            if stopping:
                break
        self.close()

    def close(self) -> None:
        """Release the writing connection (after the last commit)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _take(self) -> tuple[list[Job], bool]:
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

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._engine.connect()
            prepare_group_commit(self._conn)
        return self._conn

    def commit(self, batch: list[Job]) -> None:
        """Run `batch` in this thread, commit, then settle every job's outcome."""
        try:
            self._transaction(batch, careful=False)
        except _Failed:
            self._careful(batch)
        except Exception as exc:  # the commit itself failed: nothing of the batch is durable
            self._lost(batch, exc)
        for job in batch:
            if job.retry:
                self._commit_alone(job)
        self.batches += 1
        self.jobs += len(batch)
        self.settle(batch)

    def _careful(self, batch: list[Job]) -> None:
        for job in batch:
            job.result, job.error, job.retry = None, None, False
        try:
            self._transaction(batch, careful=True)
        except Exception as exc:
            self._lost(batch, exc)

    def _lost(self, batch: list[Job], exc: Exception) -> None:
        log.warning("batch commit failed, retrying its writes one by one: %s", exc)
        self._discard()
        for job in batch:
            job.result, job.error, job.retry = None, None, True

    def _transaction(self, batch: list[Job], *, careful: bool) -> None:
        conn = self._connection()
        with conn.begin(), counters.deferred(conn):
            if careful:
                for run in _runs(batch):
                    _apply_carefully(conn, run)
            else:
                with self._scope(conn, batch):
                    for run in _runs(batch):
                        _apply(conn, run)

    @contextlib.contextmanager
    def _scope(self, conn: Connection, batch: list[Job]) -> Iterator[None]:
        """The batch scope around the optimistic pass; a failure of its own (on entry, or
        the writes it made at its end) runs the batch again, carefully, as a write's does."""
        if self._batch_scope is None:
            yield
            return
        try:
            with self._batch_scope(conn, batch):
                yield
        except _Failed:
            raise
        except Exception as exc:
            raise _Failed() from exc

    def _commit_alone(self, job: Job) -> None:
        job.retry = False
        try:
            conn = self._connection()
            with conn.begin(), counters.deferred(conn):
                job.call(conn)
            job.error = None
        except ApiError as exc:
            job.error = exc
        except Exception as exc:
            log.exception("write failed")
            job.error = exc
            self._discard()

    def _discard(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken; dropping it is all that is left
                self._conn.invalidate()
                self._conn.close()
        self._conn = None

    def settle(self, batch: list[Job]) -> None:
        """Hand each committed (or refused) job's outcome to whoever waits for it."""
        _settle([job for job in batch if isinstance(job.future, concurrent.futures.Future)])
        waiting = [job for job in batch if isinstance(job.future, asyncio.Future)]
        if waiting:
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                self._loop.call_soon_threadsafe(_settle, waiting)


def _runs(batch: list[Job]) -> Iterator[list[Job]]:
    """Single jobs one by one; consecutive bulk items of the same function together."""
    run: list[Job] = []
    for job in batch:
        if run and not (job.bulk and run[0].bulk and job.fn is run[0].fn):
            yield run
            run = []
        run.append(job)
    if run:
        yield run


def _apply(conn: Connection, run: list[Job]) -> None:
    try:
        if run[0].bulk:
            run[0].fn(conn, [job.args[0] for job in run])
        else:
            run[0].call(conn)
    except Exception as exc:
        raise _Failed() from exc


def _apply_carefully(conn: Connection, run: list[Job]) -> None:
    if run[0].bulk and len(run) > 1:
        savepoint = conn.begin_nested()
        try:
            with counters.forgotten_if_undone(conn):
                run[0].fn(conn, [job.args[0] for job in run])
            savepoint.commit()
            return
        except Exception:
            savepoint.rollback()
    for job in run:
        _run_in_savepoint(conn, job)


def _run_in_savepoint(conn: Connection, job: Job) -> None:
    savepoint = conn.begin_nested()
    try:
        with counters.forgotten_if_undone(conn):
            job.call(conn)
        savepoint.commit()
    except ApiError as exc:
        savepoint.rollback()
        job.error = exc
    except Exception:
        # Most often a race with another process (a unique key taken meanwhile):
        # worth one more try on its own once the batch is committed.
        savepoint.rollback()
        job.retry = True


def _settle(batch: list[Job]) -> None:
    for job in batch:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
