"""Engines for SQLite and PostgreSQL, configured for durable acknowledgements.

SQLite runs in WAL mode with `synchronous=FULL`, so a commit is on disk before
it returns; the WAL is copied back into the database file every
`CHECKPOINT_PAGES` pages. Writers open their transactions with `BEGIN
IMMEDIATE` (take the write lock up front rather than fail to upgrade a read
lock); readers use ordinary deferred transactions and never block the writer.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tidings import clock
from tidings.numbers import SQLITE_NUMBER_FUNCTION, sqlite_number

T = TypeVar("T")

# Pages in the WAL before a commit also copies them into the database file
# (SQLite's default is 1,000). A commit of a few thousand events dirties
# thousands of pages, most of them index pages at random places (the person
# index, the dedup keys), and the same hot pages again in the next commits. A
# checkpoint copies each page once however many commits wrote it, so the
# longer the interval the fewer copies: 1,000 -> 10,000 halved COMMIT's time
# on the batch benchmarks; 10,000 -> 40,000 gave +14-18% events/s on
# cdp-batch and batch (docs/benchmarks.md). Durability is the WAL's fsync at
# every commit either way. What grows is the WAL file (to ~160 MB, and it
# keeps that size) and the one commit in many that runs the checkpoint, which
# takes longer (cdp-batch p99 ~245 -> ~315 ms).
CHECKPOINT_PAGES = 40_000


# Idle SQLite reading connections the pool keeps. Each reading thread holds one
# while it lives (`_ThreadReaders`: the request readers, the delivery worker's
# threads, the other background workers); a thread's that ends waits here for
# the next thread instead of being closed, since opening one (PRAGMAs, a cold
# page cache) cost a fifth of the reading threads' time under the transactional
# send benchmark when it happened per read.
READERS = 20

# Each reading connection's page cache. SQLite empties a WAL reader's cache
# whenever another connection has committed since its last read, so under
# writes a reader's cache holds little, while a process with a dozen reading
# threads kept a dozen full ones: 16 MiB each let a worker process grow by
# ~35 MiB more during a broadcast to 100,000 people than 2 MiB each (SQLite's
# default), at the same send rate (docs/benchmarks.md, broadcast memory).
# Pages not cached are read from the operating system's file cache.
READER_CACHE_MIB = 2


class _ThreadReaders:
    """One SQLite reading connection per thread, kept open for its next reads.

    A read through the pool checks a connection out and back in, and
    SQLAlchemy's bookkeeping around that cost more than the read itself on a
    hot path (an empty read transaction: 18 us pooled, 6 us kept). Each is
    used by its own thread only, and goes back to the pool when the thread
    ends (its thread-local holder is freed) or at `close` (`Database.dispose`).
    Not for PostgreSQL, whose pool also checks that a connection is still
    alive before handing it out.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._releases: list[weakref.finalize[Any, Any]] = []
        self._lock = threading.Lock()

    def get(self, engine: Engine) -> Connection:
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None or holder.conn.closed or holder.conn.invalidated:
            holder = _Holder(engine.connect())
            release = weakref.finalize(holder, _close, holder.conn)
            self._local.holder = holder
            with self._lock:
                self._releases = [r for r in self._releases if r.alive]
                self._releases.append(release)
        return holder.conn

    def close(self) -> None:
        with self._lock:
            releases, self._releases = self._releases, []
        for release in releases:
            release()  # closes the connection, once, whichever comes first


class _Holder:
    """A thread's kept connection; freed with the thread's locals when it ends."""

    __slots__ = ("conn", "__weakref__")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


def _close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # at thread exit or shutdown: nothing left to do
        conn.close()


@dataclass(frozen=True)
class Database:
    url: str
    writer: Engine
    reader: Engine
    _kept: _ThreadReaders | None = field(default=None, compare=False, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` in a read transaction of its own (on PostgreSQL, statements
        in autocommit: see `_read`).

        A read whose connection turns out to be gone (the server restarted, or
        ended it: the PostgreSQL pool does not ping a connection before each
        checkout, which cost a round trip a read) runs once more, on a new one:
        a read changes nothing, and the pool replaced every connection older
        than the one found dead.
        """
        try:
            return self._read(fn, *args)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return self._read(fn, *args)

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if self._kept is not None:
            conn = self._kept.get(self.reader)
            with conn.begin():
                return fn(conn, *args)
        if self.is_sqlite:  # in memory
            with self.reader.connect() as conn, conn.begin():
                return fn(conn, *args)
        # PostgreSQL: no BEGIN and COMMIT, two round trips a read. Under READ
        # COMMITTED (the server's default, which Tidings is written for) every
        # statement of a read transaction took a snapshot of its own anyway, so a
        # read sees what it saw in one; reads lock nothing and write nothing.
        with self.reader.connect() as conn:
            return fn(conn.execution_options(isolation_level="AUTOCOMMIT"), *args)

    def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` in a write transaction of its own, committed on return."""
        with self.writer.begin() as conn:
            return fn(conn, *args)

    def dispose(self) -> None:
        if self._kept is not None:
            self._kept.close()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def prepare_group_commit(conn: Connection) -> None:
    """Settings for the connection of the group-commit writer (`db/writer.py`) alone.

    SQLite: statement journals in memory. A multi-row INSERT keeps the
    original of every page it changes in a statement journal (to undo the
    statement alone if a row fails a constraint), which spills to a temporary
    file past 64 KiB: every batch statement wrote its pages there too, a third
    of the bulk use case's CPU (bench/profile_batch.py). Not set on other
    connections: with `temp_store=MEMORY` a big sort (a migration's CREATE
    INDEX) would also stay in memory.
    """
    if conn.dialect.name == "sqlite":  # on the driver: no transaction begins
        conn.connection.driver_connection.execute("PRAGMA temp_store=MEMORY")  # type: ignore[union-attr]


def open_database(url: str, *, pool_size: int = 8) -> Database:
    if url.startswith("sqlite"):
        writer = _sqlite_engine(url, "BEGIN IMMEDIATE", cache_mib=64)
        reader = _sqlite_engine(url, "BEGIN", cache_mib=READER_CACHE_MIB, pool_size=READERS)
        memory = url in _MEMORY
        return Database(url, writer, reader, None if memory else _ThreadReaders())
    address, connect_args = _behind_pooler(make_url(url))
    engine = create_engine(
        address,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping before each checkout (a round trip each): a connection found dead
        # invalidates the pool's older ones, and reads run again (`Database.read`).
        pool_pre_ping=False,
    )
    return Database(url, engine, engine)


# The PostgreSQL URL's own query parameter naming the connection pooler in front
# of the server (docs/operations.md, "Behind a connection pooler"). It is part of
# the URL so that every process given the URL (a server, its worker process,
# `serve --workers`, every command) connects the same way.
POOLER_PARAMETER = "pooler"
POOLER_MODES = ("session", "transaction")


def _behind_pooler(url: URL) -> tuple[URL, dict[str, Any]]:
    """The URL without `pooler=`, and the driver settings that pooler needs.

    psycopg prepares a statement on the server once it ran `prepare_threshold`
    times (5) on a connection, and later runs it by its name. Behind a pooler in
    transaction mode the next transaction may run on another server connection,
    where that name is unknown or means another statement (pgbouncer before
    1.21, or later without `max_prepared_statements`): `pooler=transaction`
    never prepares (`prepare_threshold=None`). `session` (a pooler in session
    mode, or none) changes nothing.
    """
    mode = url.query.get(POOLER_PARAMETER)
    if mode is None:
        return url, {}
    if mode not in POOLER_MODES:
        raise ValueError(
            f"{POOLER_PARAMETER}={mode!r} in the database URL: expected one of "
            + ", ".join(POOLER_MODES)
        )
    address = url.difference_update_query([POOLER_PARAMETER])
    return address, ({"prepare_threshold": None} if mode == "transaction" else {})


_MEMORY = ("sqlite://", "sqlite:///:memory:")

# What `jobs.lease.db_now` compiles to on SQLite.
SQLITE_NOW_FUNCTION = "tidings_now"


def _sqlite_now() -> int:
    return int(clock.current().now())


def _sqlite_engine(url: str, begin: str, cache_mib: int, pool_size: int = 5) -> Engine:
    memory = url in _MEMORY
    # No limit past the pool: readers keep a connection per thread (`_ThreadReaders`),
    # and a thread must never wait for another's to come back.
    pooling: dict[str, Any] = {"pool_size": pool_size, "max_overflow": -1}
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "isolation_level": None, "timeout": 30},
        **({"poolclass": NullPool} if memory else pooling),
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Index pages of the growing events table stay in memory (default is 2 MiB).
        cursor.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        cursor.close()
        # The condition language's numbers (`segments/sql_number.py`): the rule itself,
        # since SQLite has no regular expressions and GLOB patterns cost more.
        dbapi_conn.create_function(SQLITE_NUMBER_FUNCTION, 1, sqlite_number, deterministic=True)
        # The database's clock (`jobs.lease.db_now`): the process's, so that a clock
        # installed in it (the emulator's) moves leases and due times in SQL too.
        dbapi_conn.create_function(SQLITE_NOW_FUNCTION, 0, _sqlite_now, deterministic=False)

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        # On the driver: SQLAlchemy's statement execution cost a third of an
        # empty read transaction.
        conn.connection.driver_connection.execute(begin)

    return engine
