"""What the emulator's control API does: reset, drain, and move the clock.

Each holds the background workers still (`Driver.lock`) for its whole length,
so no pass runs half before and half after it. Moving the clock runs what
comes due on the way in order: it drains, then sets the clock to the earliest
due time still ahead (a delivery's `send_at` or retry, a journey's delay, wait
or window, a webhook post's retry, a job such as a scheduled newsletter),
drains again, and so on until the next due time is past the target; then the
clock is set to the target and drained once more. A journey's second delay
therefore starts when its first one ended, not when the move did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from tidings.clock import OffsetClock
from tidings.db.engine import Database
from tidings.db.schema import deliveries, jobs, journeys, segment_dirty, webhook_posts
from tidings.emulator import reset
from tidings.emulator.driver import Driver

DRAIN_SECONDS = 30.0  # the longest a drain or a move of the clock works before giving up


@dataclass(frozen=True)
class Settled:
    """How a drain or a move of the clock ended: `done` unless work was still due at the
    deadline, and then what (`pending`)."""

    done: bool
    now: int
    pending: dict[str, int]


class Emulator:
    def __init__(
        self,
        clock: OffsetClock,
        driver: Driver,
        db: Database,
        write: Callable[..., Any],
    ) -> None:
        self.clock = clock
        self.driver = driver
        self._db = db
        self._write = write  # blocking: fn(conn, *args) in a committed transaction

    def drain(self, seconds: float = DRAIN_SECONDS) -> Settled:
        """Run what is due until nothing is."""
        with self.driver.lock:
            return self._settled(self.driver.settle(time.monotonic() + seconds))

    def move_to(self, when: int, seconds: float = DRAIN_SECONDS) -> Settled:
        """Move the clock forward to `when`, running what comes due on the way in order."""
        deadline = time.monotonic() + seconds
        with self.driver.lock:
            while self.driver.settle(deadline):
                upcoming = self._db.read(next_due, int(self.clock.now()))
                if upcoming is None or upcoming > when:
                    self._set(max(when, int(self.clock.now())))
                    return self._settled(self.driver.settle(deadline))
                self._set(upcoming)
            return self._settled(False)

    def reset(self, workspace_id: int, *, everything: bool = False) -> None:
        """Forget the workspace's data between two rounds of the workers: quickly when the
        store holds this workspace alone (`reset.empty`), else through the writer."""
        with self.driver.lock:
            if not reset.empty(self._db, workspace_id, everything):
                self._write(reset.reset, workspace_id, everything)

    def _set(self, when: int) -> None:
        """Set the clock and bring the time-window segments to it (the driver is held)."""
        self.clock.set(when)
        self.driver.workers.segments.refresh_windows()

    def _settled(self, done: bool) -> Settled:
        now = int(self.clock.now())
        return Settled(done, now, {} if done else self._db.read(pending, now))


def next_due(conn: Connection, now: int) -> int | None:
    """The earliest time after `now` at which queued work comes due, or None."""
    d, j, w, q = deliveries.c, journeys.c, webhook_posts.c, jobs.c
    firsts = (
        select(func.min(d.due_at)).where(d.state == "queued", d.due_at > now),
        select(func.min(j.due_at)).where(j.state == "active", j.due_at > now),
        select(func.min(w.due_at)).where(w.state == "queued", w.due_at > now),
        select(func.min(q.run_at)).where(q.state == "queued", q.run_at > now),
    )
    found = [value for query in firsts if (value := conn.execute(query).scalar()) is not None]
    return min(found, default=None)


def pending(conn: Connection, now: int) -> dict[str, int]:
    """The work due at `now`, by kind: what a drain that ran out of time left."""
    d, j, w, q = deliveries.c, journeys.c, webhook_posts.c, jobs.c
    counts = {
        "deliveries": select(func.count()).where(
            d.state.in_(("queued", "sending")), d.due_at <= now
        ),
        "journeys": select(func.count()).where(j.state == "active", j.due_at <= now),
        "webhook_posts": select(func.count()).where(w.state == "queued", w.due_at <= now),
        "jobs": select(func.count()).where(q.state.in_(("queued", "running")), q.run_at <= now),
        "segment_changes": select(func.count()).select_from(segment_dirty),
    }
    return {name: conn.execute(query).scalar_one() for name, query in counts.items()}
