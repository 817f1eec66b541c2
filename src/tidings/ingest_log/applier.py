"""`tidings worker`'s applier: claims partitions and applies them in order.

One thread runs an event loop (nats-py is asyncio). Every third of a lease it
renews its claims and its heartbeat, gives back partitions beyond its fair
share and claims free or expired ones (`partitions.py`). Each partition it
holds has a task that pulls batches from a consumer of its own, applies a
batch in one transaction (`apply.apply_batch`: fenced, offset advanced),
and acknowledges the batch only after that commit.

Each claim reads the partition through a new durable consumer that starts
right after the stored offset (named by partition and claim attempt, so a
previous owner's consumer, left to expire, never takes its messages). The
stored offset, not the consumer's acknowledgements, says what is applied:
a redelivery is at or below it and skipped. If a batch fails, the consumer
is made again from the offset, so messages are applied in stream order; so
it is after `IDLE_RESUBSCRIBE` seconds without a message, in case the
consumer was left unable to deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from tidings.config import IngestLog
from tidings.db.engine import Database
from tidings.ingest_log import metrics, partitions, records, stream
from tidings.ingest_log.apply import Message, Outcome, apply_batch

log = logging.getLogger("tidings.ingest_log")
T = TypeVar("T")
BATCH = 256
ACK_WAIT = 60.0  # seconds before the stream redelivers an unacknowledged message
FETCH_WAIT = 0.5  # seconds a pull waits for messages before the task looks around
# Seconds of empty pulls after which a partition's consumer is made again from the
# stored offset. A consumer made while the cluster lost a node can be left without a
# leader and answer every pull with nothing, though the stream holds more: seen once
# in the kill test (tests/api/test_ingest_log_kill.py), the partition never drained.
# An idle partition pays one consumer re-creation this often.
IDLE_RESUBSCRIBE = 30.0


@dataclass
class _Held:
    claim: partitions.Claim
    running: bool = True
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Applier:
    def __init__(
        self, db: Database, settings: IngestLog, *, owner: str = "", batch: int = BATCH
    ) -> None:
        self.db = db
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.batch = batch
        self.applied = 0
        self.partitions = 0
        self.held: dict[int, _Held] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # The applier's loop and stream, while connected: `/metrics` reads through them.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._js: JetStreamContext | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tidings-apply")
        # Leases are renewed on a thread of their own: queued behind slow batches on
        # the pool, a renewal came after its lease ran out and a live worker lost its
        # partitions under load.
        self._leases = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-lease")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="tidings-applier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batches in progress, give the partitions back, then stop."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._pool.shutdown(wait=True)
        self._leases.shutdown(wait=True)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        nc = await self._connect()
        if nc is None:
            return
        js = nc.jetstream()
        self._loop, self._js = asyncio.get_running_loop(), js
        while not self._stopping.is_set():
            try:
                await self._rebalance(js)
            except Exception:
                log.exception("ingest log: rebalancing failed; trying again")
            await self._pause(self.settings.lease / 3)
        await self._give_back(list(self.held.values()))
        self.held.clear()
        await self._lease_db(partitions.leave, self.settings.stream, self.owner)
        self._loop = self._js = None
        await nc.close()

    def metrics(self, now: float, timeout: float = 5.0) -> list[str]:
        """`/metrics` lines about the stream's partitions (`ingest_log.metrics`: lag,
        unapplied messages, oldest unapplied, applied total), read from another thread
        through this applier's connection; none while it is not connected."""
        loop, js = self._loop, self._js
        if loop is None or js is None:
            return []
        offsets = self.db.read(partitions.offsets, self.settings.stream)
        lines = metrics.lines(js, self.settings.stream, offsets, now)
        try:
            return asyncio.run_coroutine_threadsafe(lines, loop).result(timeout)
        except Exception as exc:  # the scrape still answers, without these lines
            log.warning("ingest log: metrics unavailable: %s", exc)
            return []

    async def _connect(self) -> Client | None:
        while not self._stopping.is_set():
            try:
                nc = await stream.connect(self.settings, f"tidings-worker-{self.owner}")
                self.partitions = await stream.ensure(nc.jetstream(), self.settings)
                return nc
            except Exception as exc:
                log.warning("ingest log: cannot connect yet: %s", exc)
                await self._pause(1.0)
        return None

    async def _pause(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking early when asked to stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._stopping.is_set() and loop.time() < deadline:
            await asyncio.sleep(min(0.1, deadline - loop.time()))

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` in a committed transaction, on a thread of the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.db.write, fn, *args)

    async def _lease_db(self, fn: Callable[..., T], *args: Any) -> T:
        """`_db` for claims, renewals and releases, on the leases' own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._leases, self.db.write, fn, *args)

    # --- claims ---------------------------------------------------------------------

    async def _rebalance(self, js: JetStreamContext) -> None:
        claims = [held.claim for held in self.held.values()]
        kept, fair = await self._lease_db(self._renew, claims)
        for partition in [p for p, held in self.held.items() if held.claim.id not in kept]:
            log.warning("ingest log: lost partition %d", partition)
            self.held.pop(partition).running = False  # its next apply is fenced off anyway
        extra = sorted(self.held)[fair:]
        await self._give_back([self.held.pop(p) for p in extra])
        wanted = fair - len(self.held)
        for claim in await self._lease_db(self._claim, wanted):
            held = _Held(claim)
            held.task = asyncio.get_running_loop().create_task(self._pump(js, held))
            self.held[claim.partition] = held

    def _renew(self, conn: Any, claims: list[partitions.Claim]) -> tuple[set[int], int]:
        partitions.ensure(conn, self.settings.stream, self.partitions)  # a new stream's rows
        alive = partitions.heartbeat(conn, self.settings.stream, self.owner, self.settings.lease)
        kept = partitions.renew(conn, claims, self.settings.lease)
        return kept, partitions.fair_share(self.partitions, alive)

    def _claim(self, conn: Any, wanted: int) -> list[partitions.Claim]:
        return partitions.claim(conn, self.settings.stream, self.owner, wanted, self.settings.lease)

    async def _give_back(self, given: list[_Held]) -> None:
        for held in given:
            held.running = False
        for held in given:
            if held.task is not None:
                await held.task
            await self._lease_db(partitions.release, held.claim)

    # --- one partition ----------------------------------------------------------------

    async def _pump(self, js: JetStreamContext, held: _Held) -> None:
        sub = await self._pull(js, held)
        if sub is not None:
            await _close(sub)

    async def _pull(self, js: JetStreamContext, held: _Held) -> Any:
        """Apply batches until told to stop; the subscription left open, if any."""
        claim, sub, offset = held.claim, None, held.claim.applied_seq
        name = f"{self.settings.stream}-p{claim.partition}-a{claim.attempt}"
        loop = asyncio.get_running_loop()
        while held.running:
            try:
                if sub is None:
                    sub = await self._subscribe(js, claim.partition, name, offset + 1)
                    fed_at = loop.time()
                try:
                    messages = await sub.fetch(self.batch, timeout=FETCH_WAIT)
                except (NatsTimeout, TimeoutError):  # nothing new within FETCH_WAIT
                    if loop.time() - fed_at > IDLE_RESUBSCRIBE:
                        await _close(sub)
                        sub = None  # made again from the stored offset
                    continue
                fed_at = loop.time()
                batch = [_message(m) for m in messages]
                outcome: Outcome = await self._db(apply_batch, self.settings.stream, claim, batch)
                if not outcome.held:
                    log.warning("ingest log: partition %d was taken over", claim.partition)
                    held.running = False
                    return sub
                for message in messages:  # only after the commit
                    await message.ack()
                offset = max([offset, *(m.seq for m in batch)])
                self.applied += outcome.applied
            except Exception:
                log.exception("ingest log: partition %d: batch failed", claim.partition)
                if sub is not None:
                    await _close(sub)
                sub = None  # read again from the stored offset, in order
                await self._pause(1.0)
        return sub

    async def _subscribe(
        self, js: JetStreamContext, partition: int, name: str, start: int
    ) -> JetStreamContext.PullSubscription:
        with contextlib.suppress(NotFoundError):  # made by this claim before a failed batch
            await js.delete_consumer(self.settings.stream, name)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT,
            inactive_threshold=max(60.0, 4.0 * self.settings.lease),
            max_ack_pending=4 * self.batch,
        )
        return await js.pull_subscribe(
            records.subject(self.settings.stream, partition),
            durable=name,
            stream=self.settings.stream,
            config=config,
        )


def _message(msg: Msg) -> Message:
    """What `apply_batch` needs of a stream message: its sequence, data and stored time."""
    meta = msg.metadata
    return Message(meta.sequence.stream, msg.data, int(meta.timestamp.timestamp()))


async def _close(sub: JetStreamContext.PullSubscription) -> None:
    try:
        await sub.unsubscribe()
    except Exception as exc:  # the connection is gone: nothing left to close
        log.debug("ingest log: unsubscribe: %s", exc)
