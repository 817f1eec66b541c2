"""Hot-path statements handed to the driver directly.

SQLAlchemy Core costs tens of microseconds per execution in statement
preparation (cache keys, expanding IN parameters), and `exec_driver_sql` still
~15 µs per statement and ~0.6 µs per row fetched; on the ingest path that is
more than SQLite spends running the statement. These helpers build the SQL
text once per shape and run it on the DBAPI connection under `conn`, inside
the transaction `conn` opened (SQLAlchemy keeps no state about what they do,
so they are only for plain INSERT, UPDATE, DELETE and SELECT statements, and
the SAVEPOINTs of `savepoint`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection


def mark(conn: Connection) -> str:
    """The driver's placeholder: `?` (sqlite3) or `%s` (psycopg)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run `sql` (written with `mark(conn)` placeholders) on the driver; its rows, if any."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []
    finally:
        cursor.close()


@functools.lru_cache(maxsize=256)
def _sql(template: str, paramstyle: str, fixed: int, listed: int) -> str:
    mark_ = "?" if paramstyle == "qmark" else "%s"
    return template.format(*([mark_] * fixed), ", ".join([mark_] * listed))


def select_in(
    conn: Connection, template: str, fixed: Sequence[Any], listed: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Run `template` with `{0}`.. `{n-1}` for the fixed parameters and `{n}` for an IN list.

    Example: `select_in(conn, "SELECT id FROM people WHERE workspace_id = {0}
    AND customer_id IN ({1})", [ws], keys)`. Callers keep lists within the
    backends' parameter limits.
    """
    sql = _sql(template, conn.dialect.paramstyle, len(fixed), len(listed))
    return execute(conn, sql, (*fixed, *listed))


@functools.lru_cache(maxsize=256)
def _groups(paramstyle: str, rows: int, width: int) -> str:
    mark_ = "?" if paramstyle == "qmark" else "%s"
    group = "(" + ", ".join([mark_] * width) + ")"
    return ", ".join([group] * rows)


def values(conn: Connection, rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """A multi-row `VALUES` list for `rows` (of equal width), and its parameters:
    `("(?, ?), (?, ?)", [a1, b1, a2, b2])`. Callers keep `rows` within the
    backends' parameter limits."""
    sql = _groups(conn.dialect.paramstyle, len(rows), len(rows[0]))
    return sql, [value for row in rows for value in row]


@contextlib.contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A SAVEPOINT around the block, on the driver: undone if the block raises, else released.

    For use cases that isolate every item of a request (one refused item
    writes nothing while the others stay): SQLAlchemy's `begin_nested` costs
    ~100 µs a round here, this ~5. Only inside a transaction SQLAlchemy began;
    a `begin_nested` opened in the block must be closed in it.
    """
    execute(conn, "SAVEPOINT tidings_item")
    try:
        yield
    except BaseException:
        # SQLite ends the whole transaction itself on some errors (a full disk,
        # an I/O error): the savepoint is gone then, and the error raised says why.
        with contextlib.suppress(Exception):
            execute(conn, "ROLLBACK TO SAVEPOINT tidings_item")
            execute(conn, "RELEASE SAVEPOINT tidings_item")
        raise
    execute(conn, "RELEASE SAVEPOINT tidings_item")
