"""Periodic chores: work every worker process would do, done once per period by one.

Housekeeping and each workspace's time-window refresh (`segments/refresher.py`)
run in every worker process, and several processes may share one database
(`tidings worker` on other machines, the worker process of each `tidings
serve`). A chore is a row of `chores`, named by what it is for
(`"housekeeping"`, `"segment_windows:12"`), on the lease queue (`jobs.lease`):

- a process that finds it due claims it with a lease (state `held`, on the
  database's clock, so machines agree whatever their own clocks say), runs
  it, and records it done: `idle` again, due `every` seconds later on that
  clock; so the others find it not due, and nobody repeats it that period;
- a claim is fenced by `attempts`: a holder whose lease ran out and whose
  chore was claimed again records nothing;
- a holder that dies leaves its lease to run out, and the next process to
  look takes the chore over;
- a chore that raises is recorded done too (logged): it is tried again next
  period rather than by every process at once.

Nothing is held on a database connection between transactions (no advisory
locks, no session state), so this works behind pgbouncer in transaction
mode. The lease must outlast the chore's run: a chore is one transaction, or
a few, of bounded size. The first look at a chore that has no row yet makes
it (`INSERT ... ON CONFLICT DO NOTHING`, in the claiming transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from tidings.db.engine import Database
from tidings.db.schema import chores
from tidings.jobs.lease import Leases, db_now

log = logging.getLogger("tidings.jobs")

LEASES = Leases(chores, held_state="held")


@dataclass(frozen=True)
class Chore:
    """A chore's name, its period and its holder's lease, in whole seconds."""

    name: str
    every: int
    lease: int


@dataclass(frozen=True)
class Outcome:
    """Whether this process ran the chore, and what the chore returned if it did."""

    ran: bool
    result: Any = None


def run_if_due(
    db: Database, write: Callable[..., Any], chore: Chore, fn: Callable[..., Any], *args: Any
) -> Outcome:
    """Run `write(fn, *args)` if `chore` is due and this process wins its claim.

    It looks from a reading connection first, so a chore that is not due costs
    no write transaction (on SQLite that would hold the one writer).
    """
    if not db.read(is_due, chore.name):
        return Outcome(ran=False)
    attempt = write(claim, chore.name, chore.lease)
    if attempt is None:
        return Outcome(ran=False)
    try:
        return Outcome(ran=True, result=write(fn, *args))
    except Exception:
        log.exception("chore %s failed; it is due again in %d s", chore.name, chore.every)
        return Outcome(ran=True)
    finally:
        if not write(done, chore.name, attempt, chore.every):
            log.warning("chore %s outlived its lease: another process may have run it", chore.name)


def is_due(conn: Connection, name: str) -> bool:
    """Whether the chore is due, held on a lease that ran out, or not made yet."""
    row = conn.execute(select(_due()).where(chores.c.id == name)).first()
    return row is None or bool(row[0])


def claim(conn: Connection, name: str, lease: int) -> int | None:
    """Hold chore `name` for `lease` seconds if it is due; the claim's attempt, else None."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(chores)
        .values(id=name, state="idle", attempts=0, due_at=0)
        .on_conflict_do_nothing()
    )
    due = select(chores.c.id).where(chores.c.id == name, _due())
    rows = LEASES.claim(conn, due, lease, [chores.c.attempts], state="held")
    return int(rows[0].attempts) if rows else None


def done(conn: Connection, name: str, attempt: int, every: int) -> bool:
    """Release the claim, due again `every` seconds from now; False if it no longer held."""
    return LEASES.record(conn, name, attempt, state="idle", due_at=db_now() + int(every))


def _due() -> Any:
    c = chores.c
    return or_(
        and_(c.state == "idle", c.due_at <= db_now()),
        and_(c.state == LEASES.held_state, LEASES.expired()),
    )
