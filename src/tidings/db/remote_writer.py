"""The server's side of the writer process (`writer_service.py`).

`RemoteWriter` has `Writer`'s surface (`submit`, `submit_many`, `call`,
`pending`, `batches`, `jobs`, `stop`), so handlers and background workers do
not know which one they use. Jobs submitted during one turn of the event loop
travel in one frame; each reply frame settles the futures of one commit.

If the writer process goes away, every write still waiting fails with a 503
(it may or may not have committed: the caller's retry is what dedup keys and
idempotency keys are for) and so does every later write.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import pickle
import socket
import threading
from typing import Any

from tidings.db.writer import Overloaded
from tidings.db.writer_service import SOCKET_BUFFER, Frames, frame
from tidings.errors import ApiError

log = logging.getLogger("tidings.writer")

_Waiter = asyncio.Future[Any] | concurrent.futures.Future[Any]


class WriterGone(ApiError):
    def __init__(self) -> None:
        super().__init__(503, "the writer process is unavailable", code="unavailable")


class RemoteWriter(asyncio.Protocol):
    def __init__(self, *, max_pending: int = 10_000) -> None:
        self._max_pending = max_pending
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._frames = Frames()
        self._ids = itertools.count()
        self._waiting: dict[int, _Waiter] = {}
        self._outbox: list[tuple[int, Any, tuple[Any, ...], bool]] = []
        self._idle = threading.Event()
        self._idle.set()
        self._gone = False
        self.batches = 0
        self.jobs = 0

    async def connect(self, socket_path: str) -> None:
        self._loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        sock.setblocking(False)
        await self._loop.sock_connect(sock, socket_path)
        await self._loop.create_unix_connection(lambda: self, sock=sock)

    def stop(self, timeout: float = 60.0) -> None:
        """From another thread: wait for every write sent to be answered, then hang up."""
        if not self._idle.wait(timeout):
            log.error("writes still unanswered after %s s; closing anyway", timeout)
        if self._loop is not None and self._transport is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: so is the transport
                self._loop.call_soon_threadsafe(self._transport.close)

    @property
    def gone(self) -> bool:
        """The writer process went away: every write fails from now on."""
        return self._gone

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def submit(self, fn: Any, *args: Any) -> asyncio.Future[Any]:
        """Send `fn(conn, *args)` (with this turn's other writes); await its result."""
        return self._enqueue(fn, args, False)

    def submit_many(self, fn: Any, item: Any) -> asyncio.Future[Any]:
        return self._enqueue(fn, (item,), True)

    def call(self, fn: Any, *args: Any) -> Any:
        """`submit` for other threads: blocks until committed."""
        assert self._loop is not None, "RemoteWriter.connect() was not awaited"
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._add, fn, args, False, future)
        return future.result()

    def _enqueue(self, fn: Any, args: tuple[Any, ...], bulk: bool) -> asyncio.Future[Any]:
        assert self._loop is not None, "RemoteWriter.connect() was not awaited"
        future = self._loop.create_future()
        self._add(fn, args, bulk, future)
        return future

    def _add(self, fn: Any, args: tuple[Any, ...], bulk: bool, future: _Waiter) -> None:
        if self._gone:
            future.set_exception(WriterGone())
        elif len(self._waiting) >= self._max_pending:
            future.set_exception(Overloaded())
        else:
            job_id = next(self._ids)
            if not self._waiting:
                self._idle.clear()
            self._waiting[job_id] = future
            if not self._outbox:
                self._loop.call_soon(self._flush)  # type: ignore[union-attr]
            self._outbox.append((job_id, fn, args, bulk))

    def _flush(self) -> None:
        jobs, self._outbox = self._outbox, []
        try:
            data = frame(jobs)
        except Exception:  # an unpicklable argument: fail that write alone
            data = b"".join(frame([job]) for job in jobs if self._picklable(job))
        if self._transport is None or self._gone:
            self._fail_all()
        elif data:
            self._transport.write(data)

    def _picklable(self, job: tuple[int, Any, tuple[Any, ...], bool]) -> bool:
        try:
            pickle.dumps(job)
            return True
        except Exception as exc:
            log.exception("a write cannot be sent to the writer process")
            self._settle(job[0], False, exc)
            return False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        for commits, results in self._frames.feed(data):
            self.batches = commits
            for job_id, ok, value in results:
                self._settle(job_id, ok, value)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting or exc is not None:
            log.error("lost the writer process with %d writes unanswered", len(self._waiting))
        self._gone = True
        self._fail_all()

    def _settle(self, job_id: int, ok: bool, value: Any) -> None:
        future = self._waiting.pop(job_id, None)
        if not self._waiting:
            self._idle.set()
        if future is None or future.done():  # the request was cancelled meanwhile
            return
        self.jobs += 1
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _fail_all(self) -> None:
        for job_id in list(self._waiting):
            self._settle(job_id, False, WriterGone())
