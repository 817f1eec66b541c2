"""The clock, behind a tiny interface so tests (and the emulator) can move time.

Every reading of the wall clock as "now" for data (a stored timestamp, a due
time, a template's `now`, a metrics bucket) goes through a `Clock`: the one a
component was given (`create_app(clock=...)`, the background workers), or the
process's own, `current()`, where none is at hand. On SQLite the database's
clock (`jobs.lease.db_now`) reads `current()` too, so leases and due times in
SQL move with it. Durations (timeouts, intervals between loops) stay on
`time.monotonic`, and so do readings that must match the real world: log
lines, and what is signed for another system (AWS SigV4, APNs and FCM tokens).

`install` is for a process that moves time for everything in it (the
emulator, tests). It is not done implicitly: `create_app(clock=c)` gives `c`
to the app and its workers; whoever installs `c` passes the same one there.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch, UTC."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.value = start

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class OffsetClock:
    """The system clock shifted by an offset that `set` and `advance` change.

    It keeps running with real time between moves, so workers that wait for
    a due time still reach it. Thread-safe. `advance` only moves forward (a
    negative `seconds` is refused); `set` moves to any time, backwards too,
    because the caller asked for exactly that time: what was due before it
    stays done, and what is due again after it waits for it.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset  # one read of a float: no lock needed

    def set(self, when: float) -> None:
        """Make it `when` now (seconds since the Unix epoch)."""
        with self._lock:
            self._offset = when - time.time()

    def advance(self, seconds: float) -> None:
        """Move `seconds` (at least 0) ahead."""
        if seconds < 0:
            raise ValueError(f"advance moves forward only, not by {seconds}; use set")
        with self._lock:
            self._offset += seconds


_installed: Clock = SystemClock()


def current() -> Clock:
    """The process's clock: the system clock unless another was installed."""
    return _installed


def install(clock: Clock) -> Clock:
    """Make `clock` the process's clock; returns the one it replaces (to restore)."""
    global _installed
    previous, _installed = _installed, clock
    return previous


class ProcessClock:
    """The process's clock as a `Clock`: whichever is installed when it is read.

    The default where a component is given no clock, so that one installed
    after the component was built still reaches it.
    """

    def now(self) -> float:
        return _installed.now()
