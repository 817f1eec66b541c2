"""The journey worker: moves due journeys on, batch by batch (`journeys.advance_due`).

A pass looks for a due journey on a reading connection first, so an idle
worker takes no write transaction; then it moves up to a batch on in one
write transaction and goes again at once while it finds work. Several
workers (threads or `tidings worker` processes) share the journeys: each
batch is taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL, and SQLite's
one writer serialises them. The time is the injected clock's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tidings.campaigns import journeys
from tidings.clock import Clock
from tidings.db.engine import Database
from tidings.ops.loop import PassLoop

log = logging.getLogger("tidings.campaigns")


class JourneyWorker(PassLoop):
    thread_name = "tidings-journeys"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        write: Callable[..., Any] | None = None,
        poll_interval: float = 0.2,
        batch: int = journeys.BATCH,
    ) -> None:
        super().__init__(poll_interval)
        self.db = db
        self.clock = clock
        self._write = write or db.write
        self._batch = batch

    def run_once(self) -> bool:
        """Move on one batch of due journeys; False when none was due."""
        now = int(self.clock.now())
        if not self.db.read(journeys.due, now):
            return False
        try:
            return bool(self._write(journeys.advance_due, now, self._batch))
        except Exception:
            log.exception("moving journeys on failed; trying again")
            return False
