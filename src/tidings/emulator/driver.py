"""The background workers' passes, one after another on one thread.

In the emulator the segment, job, journey, delivery and webhook workers do
not run as threads of their own: `Driver` runs one pass of each in turn
(`round`), again at once while any found work, else after `poll_interval`.
A commit of the writer wakes it (`wake`), so the work a request queued is
taken up at once, and an idle emulator costs next to nothing: otherwise it
looks every `poll_interval` for work that came due with the time alone (a
`send_at`, a retry). Whoever holds `lock` holds them all still: a drain runs rounds itself until
one finds nothing (`settle`), a reset or a move of the clock happens between
rounds, never in the middle of one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tidings.ops.loop import BackgroundThread
from tidings.runtime.workers import BackgroundWorkers
from tidings.sending import delivery_queue

POLL_INTERVAL = 1.0


class Driver(BackgroundThread):
    thread_name = "tidings-emulator"

    def __init__(self, workers: BackgroundWorkers, poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__(poll_interval)
        self.workers = workers
        # Each is one pass that says whether it found work (deliveries: how many it
        # claimed; it waits for their sends). In this order a journey's message is sent,
        # and its webhook posted, in the round that moved the journey.
        self._passes: tuple[Callable[[], object], ...] = (
            workers.segments.run_once,
            workers.jobs.run_once,
            workers.journeys.run_once,
            self._deliver,
            workers.poster.run_once,
        )
        self.lock = threading.Lock()
        self._wake = threading.Event()

    def wake(self) -> None:
        """Run a round now (from any thread): something was written."""
        self._wake.set()

    def request_stop(self) -> None:
        super().request_stop()
        self._wake.set()

    def stop(self) -> None:
        self._wake.set()
        super().stop()

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self.lock:
                busy = self.round()
            if not busy:
                self._wake.wait(self._poll)

    def round(self) -> bool:
        """One pass of each worker, then the periodic chores (the caller holds `lock`);
        whether any pass found work. A pass that fails is logged and counts as idle: its
        work is retried from the database's state next round, as in the worker threads."""
        busy = False
        for one_pass in self._passes:
            try:
                busy = bool(one_pass()) or busy
            except Exception:
                self._log.exception("emulator: a pass of %s failed", one_pass.__qualname__)
        for worker in (self.workers.segments, self.workers.jobs):
            try:
                worker.between_passes()
            except Exception:
                self._log.exception("emulator: the chores of %s failed", type(worker).__name__)
        return busy

    def _deliver(self) -> int:
        """The delivery worker's pass, when a delivery is due: its pass runs an event loop
        of its own, too dear to make for nothing five times a second."""
        deliveries = self.workers.deliveries
        if not deliveries.db.read(delivery_queue.due, int(deliveries.clock.now())):
            return 0
        return deliveries.run_once()

    def settle(self, deadline: float) -> bool:
        """Run rounds until one finds no work (the caller holds `lock`): True then, or False
        if `deadline` (`time.monotonic`) passed first."""
        while self.round():
            if time.monotonic() >= deadline:
                return False
        return True
