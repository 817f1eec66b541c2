"""The lease queue: the one building block of every queue a worker claims from.

Jobs (`jobs.queue`), deliveries (`sending.delivery_queue`) and reporting-webhook
posts (`reporting.webhook_posts`) each keep their rows in a table of their own
with an `id`, a `state`, an `attempts` count and a `lease_until`; this module
holds what they share:

- **Claim.** A queue selects the ids of its due rows; `Leases.claim` locks
  them with `FOR UPDATE SKIP LOCKED` on PostgreSQL (concurrent workers skip
  each other's rows instead of waiting for them; on SQLite the one writer
  serialises claims), bumps `attempts` and sets the lease, in the claiming
  transaction.
- **Lease.** A claim holds until `lease_until`, a time on the *database's*
  clock (`db_now()`), and a lease has run out when that clock has passed it:
  workers on several machines agree on it whatever their own clocks say. A
  worker renews the leases it still holds (`Leases.renew`); one that dies
  stops renewing, and its rows are claimable again once the lease runs out.
  Business times (when a job may run, when a delivery is due) stay on the
  caller's clock.
- **Fencing.** Every outcome is recorded only while the claim that produced
  it still holds: same `attempts`, still in the claimed state
  (`Leases.record`). A worker whose lease ran out and whose row was claimed
  again records nothing, so each row ends in exactly one outcome.
- **Backoff and dead letter.** `RetryPolicy` is the one backoff formula
  (capped exponential, with jitter) and says when the attempts are used up;
  a queue then records its failed state, fenced like any other outcome.

Each queue declares its `RetryPolicy` beside its worker or handler.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Connection, Row, Select, Table, and_, select, tuple_, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from tidings.db.engine import SQLITE_NOW_FUNCTION

_MAX_DOUBLINGS = 64  # beyond any cap; keeps 2 ** n within a float


@dataclass(frozen=True)
class RetryPolicy:
    """How a queue retries a failed attempt: when next, and when never again.

    The delay after attempt n (1 for the first) is `base * 2 ** (n - 1)`
    seconds, at most `cap`, times a random factor in `[1 - jitter, 1]` (so
    that rows that failed together do not all come back together), and at
    least 1 second. `max_attempts` (None: no limit by count) is when the
    attempts are used up: the row then fails for good.
    """

    base: float
    cap: float
    max_attempts: int | None = None
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], not {self.jitter}")
        if self.base < 0 or self.cap < 0:
            raise ValueError("base and cap must not be negative")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")

    def delay(self, attempt: int, uniform: Callable[[float, float], float] = random.uniform) -> int:
        """Whole seconds to wait after failed attempt `attempt` before the next."""
        doublings = min(_MAX_DOUBLINGS, max(0, attempt - 1))
        ceiling = min(self.cap, self.base * 2**doublings)
        return max(1, round(float(ceiling) * uniform(1.0 - self.jitter, 1.0)))

    def exhausted(self, attempt: int) -> bool:
        """Whether attempt `attempt` was the last one: it fails for good if it fails."""
        return self.max_attempts is not None and attempt >= self.max_attempts


# --- the database's clock -------------------------------------------------------------


class db_now(FunctionElement[int]):  # noqa: N801 (reads as the function it compiles to)
    """The database's clock, in whole seconds since the Unix epoch.

    SQLite: the clock of the process running it (it is embedded), that is
    `clock.current()`, through a function each connection registers
    (`db.engine.SQLITE_NOW_FUNCTION`); so a clock installed in the process
    (the emulator's, a test's) moves leases and SQL due times with the rest.
    It is read wherever the statement uses it, once or per row, as SQLite
    decides for a function that is not deterministic. With a writer process
    or a worker process, each reads its own process's clock: the system
    clock, unless one was installed there. PostgreSQL: the server's clock at
    the start of the transaction, whatever the processes' clocks say (the
    emulator runs on SQLite only); claims and renewals run in short
    transactions of their own.
    """

    type = BigInteger()
    inherit_cache = True
    name = "db_now"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_NOW_FUNCTION}()"


@compiles(db_now, "postgresql")
def _db_now_postgresql(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(FLOOR(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP)) AS BIGINT)"


def lease_end(seconds: int) -> ColumnElement[int]:
    """When a lease taken or renewed now ends, on the database's clock."""
    return db_now() + int(seconds)


def skip_locked(query: Select[Any], of: Table | None = None) -> Select[Any]:
    """`query` locking what it selects, skipping rows another transaction has locked.

    PostgreSQL only: the SQLite dialect writes no locking clause, and there
    the one writer serialises the transactions that would contend.
    """
    return query.with_for_update(of=of, skip_locked=True)


# --- claims on a queue's table ----------------------------------------------------------


@dataclass(frozen=True)
class Leases:
    """The claims on one queue's table.

    `held_state` is the state a row is in while a claim holds it (jobs:
    running, deliveries: sending; a webhook post stays queued, so that the
    posts behind it keep waiting). Claims and renewals set every column of
    `lease_columns` to the lease's end, and a lease has run out once the
    database's clock reaches the first of them (deliveries lease `due_at`
    too, so that one index finds the due and the expired ones).
    """

    table: Table
    held_state: str
    lease_columns: tuple[str, ...] = ("lease_until",)

    def expired(self) -> ColumnElement[bool]:
        """The condition: a claimed row's lease has run out."""
        return self.table.c[self.lease_columns[0]] <= db_now()

    def claim(
        self,
        conn: Connection,
        due: Select[Any],
        lease: int,
        returning: Sequence[Any],
        **values: Any,
    ) -> Sequence[Row[Any]]:
        """Claim the rows whose ids `due` selects, for `lease` seconds; `returning` of each.

        Each claim bumps `attempts` (the claim's fence) and sets `values` too.
        """
        ids = list(conn.execute(skip_locked(due, of=self.table)).scalars())
        if not ids:
            return []
        table = self.table
        return conn.execute(
            update(table)
            .where(table.c.id.in_(ids))
            .values(attempts=table.c.attempts + 1, **self._leased(lease), **values)
            .returning(*returning)
        ).all()

    def held(self, key: Any, attempt: int) -> ColumnElement[bool]:
        """The condition: the claim that made attempt `attempt` of row `key` still holds."""
        c = self.table.c
        return and_(c.id == key, c.attempts == attempt, c.state == self.held_state)

    def record(self, conn: Connection, key: Any, attempt: int, **values: Any) -> bool:
        """Record an outcome (`values`) while the claim holds, ending its lease; whether
        it held."""
        values.setdefault("lease_until", None)
        changed = conn.execute(
            update(self.table).where(self.held(key, attempt)).values(**values)
        ).rowcount
        return changed == 1

    def renew(
        self, conn: Connection, claims: Sequence[tuple[Any, int]], lease: int, **values: Any
    ) -> int:
        """Extend the leases of the claims (id, attempt) that still hold; how many did.

        A claim that was lost (its lease ran out and the row was claimed
        again) is not touched: its `attempts` moved on. The rows are locked in
        id order first, the order in which outcomes are recorded
        (`delivery_queue.record_many`): an UPDATE alone locks them in the order
        it finds them, and a worker recording outcomes of the same rows
        meanwhile could then wait for it while it waits for the worker, a
        deadlock on PostgreSQL.
        """
        if not claims:
            return 0
        self.lock_in_order(conn, claims)
        c = self.table.c
        held = and_(tuple_(c.id, c.attempts).in_(list(claims)), c.state == self.held_state)
        statement = update(self.table).where(held).values(**self._leased(lease), **values)
        return conn.execute(statement).rowcount

    def lock_in_order(self, conn: Connection, claims: Sequence[tuple[Any, int]]) -> None:
        """On PostgreSQL, lock the rows of the claims (id, attempt) that still hold, in id
        order, before a statement writes them: an UPDATE over many rows locks them in
        the order its plan finds them, so two writers of overlapping rows (a worker
        renewing, another recording outcomes) could each wait for the other."""
        if conn.dialect.name != "postgresql" or not claims:
            return
        c = self.table.c
        held = and_(tuple_(c.id, c.attempts).in_(list(claims)), c.state == self.held_state)
        conn.execute(select(c.id).where(held).order_by(c.id).with_for_update())

    def _leased(self, lease: int) -> dict[str, Any]:
        return {name: lease_end(lease) for name in self.lease_columns}
