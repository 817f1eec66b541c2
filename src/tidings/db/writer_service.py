"""The writer process: SQLite's group commit on its own interpreter lock.

A server process has two busy threads, the event loop (HTTP, parsing,
validation) and the group-commit writer (`writer.py`). In one process they
share one interpreter lock and so one core, whatever the machine has. Here the
writer runs in a process of its own: the server sends it each write use case
as `(job id, fn, args)` over a Unix socket, it applies whatever has arrived
while the previous commit was on disk in one transaction, commits, and only
then answers each job with its result or its `ApiError`. The client side is
`remote_writer.RemoteWriter`; a 2xx still means the write is on disk.

Wire format, both ways: frames of a 4-byte big-endian length and a pickle.
A request frame is a list of `(job_id, fn, args, bulk)`; functions travel by
reference (module and name), so use cases must be module-level functions and
their arguments picklable. A reply frame is `(commits, [(job_id, ok, value)])`,
one per commit and peer.

Several server processes may share one writer (`tidings serve --workers N` on
SQLite): each connects to the same socket. The process runs until its
standard input closes (the owner stopped or died), having answered every job
it read; SIGINT and SIGTERM are left to the owner, which drains its requests
first and then closes the pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pickle
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from tidings.db.engine import open_database
from tidings.db.writer import Job, Writer
from tidings.ops.heap import freeze_startup_heap

log = logging.getLogger("tidings.writer")

HEADER = 4
READ_SIZE = 1 << 20
SOCKET_BUFFER = 4 << 20
READY = b"ready\n"


def frame(payload: Any) -> bytes:
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(HEADER, "big") + body


class Frames:
    """Reassembles frames from a byte stream cut at arbitrary points."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Any]:
        self._buffer += data
        start = 0
        view = memoryview(self._buffer)
        try:
            while len(view) - start >= HEADER:
                size = int.from_bytes(view[start : start + HEADER], "big")
                end = start + HEADER + size
                if end > len(view):
                    break
                yield pickle.loads(view[start + HEADER : end])
                start = end
        finally:
            view.release()
            del self._buffer[:start]


@dataclass(eq=False)
class _Peer:
    sock: socket.socket
    frames: Frames = field(default_factory=Frames)
    open: bool = True


class ServiceWriter(Writer):
    """The group-commit writer, answering peers over their sockets instead of futures."""

    def settle(self, batch: list[Job]) -> None:
        replies: dict[_Peer, list[tuple[int, bool, Any]]] = {}
        for job in batch:
            peer, job_id = job.future
            ok = job.error is None
            replies.setdefault(peer, []).append((job_id, ok, job.result if ok else job.error))
        for peer, results in replies.items():
            if peer.open:
                _reply(peer, self.batches, results)


def _reply(peer: _Peer, commits: int, results: list[tuple[int, bool, Any]]) -> None:
    try:
        data = frame((commits, results))
    except Exception:  # one unpicklable result must not cost its neighbours theirs
        data = frame((commits, [_picklable(result) for result in results]))
    try:
        peer.sock.sendall(data)
    except OSError:
        peer.open = False  # it went away; its connection is dropped at the next read


def _picklable(result: tuple[int, bool, Any]) -> tuple[int, bool, Any]:
    try:
        pickle.dumps(result)
        return result
    except Exception as exc:
        log.exception("a write's result cannot be sent back")
        return (result[0], False, RuntimeError(f"unpicklable result: {exc}"))


class WriterService:
    """Accepts peers and reads their jobs in this thread; the writer's thread commits.

    Decoding a frame (unpickling a batch's parsed items) thus overlaps the
    previous commit, most of which runs in SQLite without the interpreter lock.
    """

    def __init__(self, engine: Engine, listener: socket.socket, *, max_batch: int = 512) -> None:
        self._writer = ServiceWriter(engine, max_batch=max_batch)
        self._listener = listener
        self._selector = selectors.DefaultSelector()
        self._stopping = False

    def run(self, stop_fd: int) -> None:
        """Serve until `stop_fd` reaches end of file; every job read is committed and answered."""
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(stop_fd, selectors.EVENT_READ, "stop")
        self._writer.start()
        try:
            while not self._stopping:
                for key, _ in self._selector.select():
                    self._ready(key)
        finally:
            self._writer.stop()

    def _ready(self, key: selectors.SelectorKey) -> None:
        if key.data == "accept":
            sock, _ = self._listener.accept()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            self._selector.register(sock, selectors.EVENT_READ, _Peer(sock))
        elif key.data == "stop":
            if not os.read(key.fd, 64):
                self._selector.unregister(key.fd)
                self._stopping = True
        else:
            self._read(key.data)

    def _read(self, peer: _Peer) -> None:
        try:
            data = peer.sock.recv(READ_SIZE)
        except OSError:
            data = b""
        if not data:
            # Shut down, not closed: the writer thread may be answering on it
            # right now, and a closed descriptor could be reused by a new peer.
            self._selector.unregister(peer.sock)
            peer.open = False
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)
            return
        for jobs in peer.frames.feed(data):
            for job_id, fn, args, bulk in jobs:
                self._writer.put(Job(fn, args, (peer, job_id), bulk))


@dataclass
class WriterProcess:
    """A running writer process, owned by the server that started it."""

    process: subprocess.Popen[bytes]
    socket_path: str
    _folder: str

    def stop(self, timeout: float = 30.0) -> int:
        """Close its standard input (it finishes what it read, then exits) and wait."""
        code = stop_child(self.process, "the writer process", timeout)
        shutil.rmtree(self._folder, ignore_errors=True)
        return code


def stop_child(process: subprocess.Popen[bytes], name: str, timeout: float) -> int:
    """Close a child's standard input, its signal to finish and exit; kill it past `timeout`."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.error("%s did not stop within %s s: killing it", name, timeout)
        process.kill()
        return process.wait()


ENTRY_POINT = "tidings.writer_process"  # wires the process, then calls `serve_writer`


def spawn(
    database_url: str, *, module: str = ENTRY_POINT, max_batch: int = 512, timeout: float = 60.0
) -> WriterProcess:
    """Start a writer process for `database_url` and wait until it accepts peers.

    `module` is the process's entry point (`python -m module`): it sets the
    process up as the composition root does (subscribers, every use case
    loaded) and then calls `serve_writer`. It is named, not imported: it sits
    above everything the writer runs.
    """
    folder = tempfile.mkdtemp(prefix="tidings-writer-")
    path = os.path.join(folder, "writer.sock")
    args = [sys.executable, "-m", module, path, database_url]
    process = subprocess.Popen(
        [*args, "--max-batch", str(max_batch)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready or process.stdout.readline() != READY:  # EOF: it failed to start
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"the writer process did not start (exit code {process.returncode})")
    process.stdout.close()
    return WriterProcess(process, path, folder)


def serve_writer(argv: list[str] | None = None, *, prog: str) -> None:
    """The writer process's body: bind the socket, then commit until stdin closes."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("socket_path")
    parser.add_argument("database_url")
    parser.add_argument("--max-batch", type=int, default=512)
    options = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner stops us, once it has drained
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="tidings-writer %(levelname)s %(message)s")
    db = open_database(options.database_url)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(options.socket_path)
    listener.listen(64)
    service = WriterService(db.writer, listener, max_batch=options.max_batch)
    freeze_startup_heap()
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    try:
        service.run(sys.stdin.fileno())
    finally:
        listener.close()
        db.dispose()
