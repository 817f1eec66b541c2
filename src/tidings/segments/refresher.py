"""The segment worker: keeps data-driven segment membership current.

Each pass, in its own transactions:
1. builds segments waiting in `build_queued` (new or changed conditions) or
   in `build`, a chunk of people per transaction (`membership.build_step`),
   one chunk of each such segment per pass;
2. takes people marked in `segment_dirty` by the writes that changed them
   and re-evaluates them (the marks are removed in the same transaction, so
   a crash re-evaluates them again, and nothing is evaluated from a change
   that was rolled back);
3. every `time_window_every` seconds, brings segments whose conditions have
   relative time windows up to date, so people leave "in the last 30 days"
   on time: each workspace's refresh is a chore (`jobs.chores`), run by one
   worker process of all those sharing the database, once per period. A
   window it cannot follow person by person sets its segment back to
   `build_queued`, and step 1 of the following passes rebuilds it in chunks.

It runs as a thread inside `tidings serve` and as `tidings worker` (several
of those may share a PostgreSQL database: a build's chunk locks its segment
row, skipped by the others, and marks are taken with SKIP LOCKED).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.clock import Clock
from tidings.db.engine import Database
from tidings.db.schema import segment_dirty, segments
from tidings.jobs import chores
from tidings.jobs.chores import Chore
from tidings.jobs.lease import RetryPolicy
from tidings.ops.loop import PassLoop
from tidings.segments import dirty, membership
from tidings.segments.conditions import parse

log = logging.getLogger("tidings.segments")

BUILD_RETRY = RetryPolicy(base=60.0, cap=60.0, jitter=0.0)
"""A build's chunk that failed is tried again a minute later, every time (its segment
stays `build_queued` or `build` with its cursor; the claim is the chunk's own
transaction, so there is no lease)."""

WINDOWS_LEASE = 120
"""Seconds a process holds a workspace's time-window refresh (one transaction, which
only queues the full rebuilds it needs). One that dies holding it delays that
workspace's refresh by at most this long."""


class SegmentWorker(PassLoop):
    thread_name = "tidings-segments"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        poll_interval: float = 0.1,
        time_window_every: float = 10.0,
        batch: int = 1000,
        write: Callable[..., Any] | None = None,
        build_grace: int | None = None,
        build_chunk: int | None = None,
    ) -> None:
        super().__init__(poll_interval)
        self._db = db
        self._clock = clock
        self._window_every = time_window_every
        self._batch = batch
        # How to run a write `fn(conn, *args)`: its own transaction by default, or
        # the server's group-commit writer (one writing connection per process).
        self._write = write or self._db.write
        # Builds wait this long after a segment changed (dirty.BUILD_GRACE).
        self._grace = (
            build_grace if build_grace is not None else (0 if db.is_sqlite else dirty.BUILD_GRACE)
        )
        self._chunk = build_chunk  # people per build transaction (membership.BUILD_CHUNK)
        self._next_windows = 0.0
        self._failed: dict[int, tuple[int, float]] = {}  # segment: (failed builds, retry at)

    def run_once(self) -> bool:
        """One pass; True if it found queued work (so another pass should follow at once).

        The scheduled time-window rebuilds do not count: they come round on time.
        """
        built = self._build_queued()
        refreshed = self._refresh_marked()
        self._time_windows()
        return built or refreshed

    def _build_queued(self) -> bool:
        """A chunk of each queued or running build; one that fails waits `BUILD_RETRY` here."""
        with self._db.reader.connect() as conn:
            queued = conn.execute(
                select(segments.c.id, segments.c.workspace_id).where(
                    segments.c.type == "dynamic",
                    segments.c.state.in_(membership.BUILDING),
                    segments.c.updated_at <= self._now() - self._grace,
                )
            ).all()
        did = False
        for segment_id, workspace_id in queued:
            if self._failed.get(segment_id, (0, 0.0))[1] > time.monotonic():
                continue
            try:
                now = self._now()
                did |= self._write(_build_step, workspace_id, segment_id, now, self._chunk)
                self._failed.pop(segment_id, None)
            except Exception:
                log.exception("building segment %s failed; retrying later", segment_id)
                attempt = self._failed.get(segment_id, (0, 0.0))[0] + 1
                retry_at = time.monotonic() + BUILD_RETRY.delay(attempt)
                self._failed[segment_id] = (attempt, retry_at)
        return did

    def _refresh_marked(self) -> bool:
        # Look before taking the write lock: on SQLite an empty write transaction
        # every poll would keep the request writer waiting for nothing.
        with self._db.reader.connect() as conn:
            if conn.execute(select(segment_dirty.c.person_id).limit(1)).first() is None:
                return False
        return bool(self._write(_refresh_marked, self._batch, self._now()))

    def refresh_windows(self) -> None:
        """Refresh the time-window segments now, wherever a workspace's refresh is due on
        the clock (the emulator, after it moved the clock: the pass looks only every
        `time_window_every` seconds of real time)."""
        self._next_windows = 0.0
        self._time_windows()

    def _time_windows(self) -> None:
        if time.monotonic() < self._next_windows:
            return
        self._next_windows = time.monotonic() + self._window_every
        with self._db.reader.connect() as conn:
            rows = conn.execute(
                select(segments.c.workspace_id, segments.c.conditions).where(
                    segments.c.type == "dynamic", segments.c.state == "finished"
                )
            ).all()
        workspace_ids = {ws for ws, text in rows if _moves_with_the_clock(text)}
        every = int(self._window_every)
        for workspace_id in sorted(workspace_ids):
            chore = Chore(f"segment_windows:{workspace_id}", every, WINDOWS_LEASE)
            refresh = membership.refresh_time_windows
            chores.run_if_due(self._db, self._write, chore, refresh, workspace_id, self._now())

    def _now(self) -> int:
        return int(self._clock.now())


def _refresh_marked(conn: Connection, limit: int, now: int) -> int:
    """Re-evaluate up to `limit` marked people; how many were taken."""
    marked = dirty.take(conn, limit)
    for workspace_id, pks in marked.items():
        membership.refresh_people(conn, workspace_id, pks, now)
    return sum(len(pks) for pks in marked.values())


def _build_step(
    conn: Connection, workspace_id: int, segment_id: int, now: int, chunk: int | None
) -> bool:
    """One chunk of a segment's build; False if there was none to do here (finished,
    gone, waiting for a segment it refers to, or another worker holds the segment's
    row for its chunk)."""
    return membership.build_step(conn, workspace_id, segment_id, now, chunk) is not None


def _moves_with_the_clock(conditions: str | None) -> bool:
    if not conditions:
        return False
    return membership.has_time_window(parse(msgspec.json.decode(conditions)))
