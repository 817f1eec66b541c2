"""The job worker: claims due jobs and runs them through their kind's handler.

A handler runs outside any transaction, with a `JobContext` to read, write
(each write its own committed transaction) and renew its lease. Its outcome:

- returns: the job is done;
- raises `Permanent`: the job failed for good (bad input, nothing to retry);
- raises anything else: retried after its kind's `RetryPolicy` delay (the
  handler's `retry`, else `RETRY`) until the job's own `max_attempts`
  (stored at enqueue), then failed.

When a job fails for good, the handler's `give_up` runs in the transaction
that records it, so the resource the job was for (an export, a collection)
never stays "pending" forever. A job whose worker died is claimed again once
its lease runs out; one that has used up its attempts that way is failed
without running again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import Connection

from tidings.clock import Clock
from tidings.db.engine import Database
from tidings.jobs import chores, queue
from tidings.jobs.chores import Chore
from tidings.jobs.lease import RetryPolicy
from tidings.jobs.queue import Claimed
from tidings.ops.loop import PassLoop

log = logging.getLogger("tidings.jobs")

Write = Callable[..., Any]


RETRY = RetryPolicy(base=2.0, cap=300.0)
"""Jobs' backoff unless their handler declares its own `retry`; how many
attempts a job gets is its own (`max_attempts`, stored at enqueue)."""

Housekeeping = Callable[[Connection, int], dict[str, int]]
"""A write use case run between passes: what it removed, by kind."""

HOUSEKEEPING = "housekeeping"  # its chore (`jobs.chores`)
HOUSEKEEPING_LEASE = 300
"""Seconds a process holds housekeeping: one round is one transaction of at most
`CHUNK` rows per table, far shorter. A process that dies holding it delays the
next round by at most this long."""


class Permanent(Exception):
    """A failure retrying cannot fix; the message is recorded for the user."""


class LeaseLost(Exception):
    """Another worker holds this job now: stop without recording anything."""


class Handler(Protocol):
    """What a job kind runs. A handler may also declare `retry: RetryPolicy`, its
    backoff between failed attempts (else `RETRY`)."""

    def run(self, ctx: JobContext, job: Claimed) -> None: ...

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None: ...


class JobContext:
    """What a handler may use while it holds a job."""

    def __init__(self, worker: JobWorker, job: Claimed) -> None:
        self._worker = worker
        self._job = job
        self._renewed = time.monotonic()
        self.db = worker.db
        self.clock = worker.clock

    def now(self) -> int:
        return int(self.clock.now())

    def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self.db.reader.connect() as conn, conn.begin():
            return fn(conn, *args)

    def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(conn, *args)` in its own committed transaction."""
        return self._worker.write(fn, *args)

    def heartbeat(self) -> None:
        """Renew the lease if a third of it has passed; raises `LeaseLost` if it is gone.

        Handlers that run long call this between steps.
        """
        if time.monotonic() - self._renewed < self._worker.lease / 3:
            return
        if not self.write(queue.extend, self._job, self.now(), self._worker.lease):
            raise LeaseLost(f"job {self._job.id} was claimed by another worker")
        self._renewed = time.monotonic()


class JobWorker(PassLoop):
    thread_name = "tidings-jobs"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        write: Write | None = None,
        poll_interval: float = 0.2,
        lease: int = 60,
        retry: RetryPolicy | None = None,
        housekeeping: Housekeeping | None = None,
        housekeeping_every: float | None = 300.0,
    ) -> None:
        super().__init__(poll_interval)
        self.db = db
        self.clock = clock
        self.lease = lease
        self._handlers = dict(handlers)
        # Each write in its own transaction, or through the server's writer
        # (on SQLite: one writing connection per process).
        self.write: Write = write or self.db.write
        # One policy for every kind instead of the handlers' own (tests, tools).
        self._retry = retry
        # Pruning what outlived its purpose (the composition root passes
        # runtime/housekeeping.prune); None: never.
        self._housekeeping = housekeeping
        self._housekeeping_every = housekeeping_every
        self._next_housekeeping = time.monotonic()

    def between_passes(self) -> None:
        """Housekeeping, every `housekeeping_every` seconds, by one process of all those
        sharing the database (`jobs.chores`): this one looks that often, and runs it
        when no other process has in the last `housekeeping_every` seconds."""
        if self._housekeeping is None or self._housekeeping_every is None:
            return
        if time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + self._housekeeping_every
        chore = Chore(HOUSEKEEPING, int(self._housekeeping_every), HOUSEKEEPING_LEASE)
        outcome = chores.run_if_due(self.db, self.write, chore, self._housekeeping, self._now())
        removed = outcome.result or {}
        if any(removed.values()):
            log.info("housekeeping removed %s", {k: v for k, v in removed.items() if v})

    def run_once(self) -> bool:
        """Claim and run one due job; False when none was due."""
        if not self._handlers or not self.db.read(queue.due, sorted(self._handlers), self._now()):
            return False  # nothing due: no write transaction for an idle poll
        job = self.write(queue.claim, sorted(self._handlers), self._now(), self.lease)
        if job is None:
            return False
        handler = self._handlers[job.kind]
        if job.attempt > job.max_attempts:
            self.write(
                _give_up, handler, job, "the job's worker stopped before finishing it", self._now()
            )
            return True
        started = time.monotonic()
        try:
            handler.run(JobContext(self, job), job)
        except LeaseLost:
            log.warning("job %s (%s): lease lost, left to its new worker", job.id, job.kind)
        except Permanent as exc:
            self.write(_give_up, handler, job, str(exc) or type(exc).__name__, self._now())
        except Exception as exc:
            self._after_error(handler, job, exc)
        else:
            self.write(queue.finish, job, self._now())
            log.info("job %s (%s) done in %.2f s", job.id, job.kind, time.monotonic() - started)
        return True

    def _after_error(self, handler: Handler, job: Claimed, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if job.last_attempt:
            log.error("job %s (%s) failed for good: %s", job.id, job.kind, error)
            self.write(_give_up, handler, job, error, self._now())
            return
        delay = self._policy(handler).delay(job.attempt)
        now = self._now()
        log.warning("job %s (%s) failed, retrying in %d s: %s", job.id, job.kind, delay, error)
        self.write(queue.retry, job, now, now + delay, error)

    def _policy(self, handler: Handler) -> RetryPolicy:
        if self._retry is not None:
            return self._retry
        policy = getattr(handler, "retry", None)
        return policy if isinstance(policy, RetryPolicy) else RETRY

    def _now(self) -> int:
        return int(self.clock.now())


def _give_up(conn: Connection, handler: Handler, job: Claimed, error: str, now: int) -> None:
    if queue.fail(conn, job, now, error):
        handler.give_up(conn, job, error, now)
