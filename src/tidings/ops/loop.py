"""Background threads: started with the server (or `tidings worker`), stopped with it.

`BackgroundThread` is the lifecycle every worker shares (start, request_stop
from a signal handler, stop and join). `PassLoop` adds the common loop: the
segment worker, the job worker and the webhook poster each do one pass in
`run_once` and say whether it found work; when it did not, the thread waits
`poll_interval` (or until stopped). An exception in a pass is logged and the
loop goes on: the work it was doing is retried from the database's state on
the next pass. The delivery worker runs an asyncio loop of its own instead.
"""

from __future__ import annotations

import logging
import threading


class BackgroundThread:
    thread_name = "tidings-worker"

    def __init__(self, poll_interval: float) -> None:
        self._poll = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = logging.getLogger(type(self).__module__)

    def run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask `run` to return after the pass in progress (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class PassLoop(BackgroundThread):
    def run_once(self) -> bool:
        """One pass; True if it found work (so the next pass should follow at once)."""
        raise NotImplementedError

    def between_passes(self) -> None:
        """Periodic chores after each pass (nothing by default)."""

    def run(self) -> None:
        """Work until stopped; sleep only when a pass found nothing to do."""
        while not self._stop.is_set():
            try:
                busy = self.run_once()
                self.between_passes()
            except Exception:
                self._log.exception("%s: a pass failed", self.thread_name)
                busy = False
            if not busy:
                self._stop.wait(self._poll)
