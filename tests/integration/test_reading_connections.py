"""SQLite reads keep one connection per thread (`db/engine.py`, `_ThreadReaders`).

What that must not change: a read still runs in a transaction of its own, a
failed read leaves the connection usable, a thread that ends gives its
connection back, and `dispose` closes every one of them.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'tidings.db'}")
    upgrade(database)
    yield database
    database.dispose()


def driver_of(conn: Any) -> int:
    return id(conn.connection.driver_connection)


def in_thread(fn: Any) -> Any:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_a_thread_reads_through_one_connection_and_threads_do_not_share(db: Database) -> None:
    first, second = db.read(driver_of), db.read(driver_of)
    assert first == second
    assert in_thread(lambda: db.read(driver_of)) != first


def test_each_read_is_a_transaction_of_its_own(db: Database) -> None:
    def in_transaction(conn: Any) -> bool:
        return bool(conn.in_transaction()) and conn.connection.driver_connection.in_transaction

    assert db.read(in_transaction) and db.read(in_transaction)
    assert not db.read(lambda conn: conn).in_transaction()


def test_a_failed_read_leaves_the_connection_usable(db: Database) -> None:
    with pytest.raises(ZeroDivisionError):
        db.read(lambda conn: conn.execute(text("SELECT 1")).scalar() / 0)
    assert db.read(lambda conn: conn.execute(text("SELECT 2")).scalar()) == 2


def test_a_thread_that_ends_gives_its_connection_back(db: Database) -> None:
    before = db.reader.pool.checkedout()
    for _ in range(20):
        in_thread(lambda: db.read(driver_of))
    gc.collect()
    assert db.reader.pool.checkedout() == before


def test_dispose_closes_the_kept_connections_and_later_reads_open_new_ones(db: Database) -> None:
    db.read(driver_of)
    ready, done = threading.Event(), threading.Event()

    def holds_one() -> None:
        db.read(driver_of)
        ready.set()
        done.wait(10)

    thread = threading.Thread(target=holds_one)
    thread.start()
    ready.wait(10)
    assert db.reader.pool.checkedout() >= 2
    db.dispose()
    assert db.reader.pool.checkedout() == 0
    done.set()
    thread.join()
    assert db.read(lambda conn: conn.execute(text("SELECT 3")).scalar()) == 3
    assert db.reader.pool.checkedout() == 1
