"""Leases in tests: they run on the database's clock, not on a test's fake clock.

A test that needs a lease to have run out ages it (`age_leases`) instead of
advancing its fake clock; one that checks how long a lease holds reads it
against the database's clock (`lease_left`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update

from tidings.db.engine import Database
from tidings.jobs.lease import Leases, db_now


def db_clock(db: Database) -> int:
    with db.reader.connect() as conn:
        return int(conn.execute(select(db_now())).scalar_one())


def age_leases(db: Database, leases: Leases, seconds: int, *ids: Any) -> None:
    """Move the leases of rows `ids` `seconds` into the past: as if the database's
    clock had moved on that far."""
    table = leases.table
    moved = {name: table.c[name] - seconds for name in leases.lease_columns}
    with db.writer.begin() as conn:
        conn.execute(update(table).where(table.c.id.in_(ids)).values(**moved))


def lease_left(db: Database, leases: Leases, row_id: Any) -> int:
    """Seconds until the row's lease runs out, on the database's clock."""
    table = leases.table
    with db.reader.connect() as conn:
        left = select(table.c.lease_until - db_now()).where(table.c.id == row_id)
        return int(conn.execute(left).scalar_one())


def start_of_a_second(db: Database) -> None:
    """Wait (at most a second) until the database's clock has just turned, so that a
    lease taken now and read right after are on the same second."""
    first = db_clock(db)
    while db_clock(db) == first:
        time.sleep(0.002)
