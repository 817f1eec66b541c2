"""Publishing records, and answering 2xx only once the stream has them.

A request's records go to their partitions' subjects, one message per
partition holding its records in request order (so they are stored, and
applied, in that order and together); `publish` returns once JetStream
acknowledged every message (a replicated stream acknowledges after a majority of
its nodes stored the message). Anything else — no connection, a timeout, a
stream error — is a 503 with `Retry-After` in the surface's error format,
never a 2xx. A request split over partitions whose publish fails part-way
may have some parts stored: a retry is safe for records with a dedup key
(the duplicate window, then the stored keys, drop the repeats); records
without one (an identify) are applied again, which sets the same values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.aio.client import Client
from nats.js import JetStreamContext

from tidings.config import IngestLog
from tidings.errors import ApiError
from tidings.ingest_log import metrics, partitions, records, stream
from tidings.ingest_log.records import Record

log = logging.getLogger("tidings.ingest_log")
RETRY_AFTER = "1"
ENVELOPE = 1024  # bytes of a message's limit kept for its headers


def unavailable(reason: str) -> ApiError:
    return ApiError(
        503,
        f"the ingest log is unavailable ({reason}); retry shortly",
        code="unavailable",
        headers={"Retry-After": RETRY_AFTER},
    )


class Publisher:
    """The server's link to the stream; connects in the background until it can."""

    def __init__(self, settings: IngestLog) -> None:
        self.settings = settings
        self.partitions = 0  # known once connected
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._connect())

    async def _connect(self) -> None:
        while True:
            try:
                nc = await stream.connect(self.settings, "tidings-serve")
                js = nc.jetstream(timeout=self.settings.publish_timeout)
                self.partitions = await stream.ensure(js, self.settings)
                self._nc, self._js = nc, js
                return
            except Exception as exc:  # the server is down or refusing: keep trying
                log.warning("ingest log: cannot connect yet: %s", exc)
                await asyncio.sleep(1.0)

    async def wait_connected(self, timeout: float) -> bool:
        """Whether the stream is reachable within `timeout` seconds (start-up, tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._js is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return self._js is not None

    async def metrics(self, offsets: list[partitions.Offset], now: float) -> list[str]:
        """`/metrics` lines about the partitions (none while the stream is unreachable)."""
        if self._js is None:
            return []
        try:
            return await metrics.lines(self._js, self.settings.stream, offsets, now)
        except Exception as exc:  # the scrape still answers, without these lines
            log.warning("ingest log: metrics unavailable: %s", exc)
            return []

    def close(self, timeout: float = 5.0) -> None:
        """From another thread, while the event loop still runs: drop the connection."""
        if self._loop is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
            future.result(timeout)

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._nc is not None:
            await self._nc.close()

    @property
    def connected(self) -> bool:
        return self._js is not None and self._nc is not None and self._nc.is_connected

    async def publish(self, batch: Sequence[Record]) -> None:
        """Publish the records, one message per partition they fall in (in their order);
        returns once the stream acknowledged every message."""
        js = self._js
        if js is None or not self.connected:
            raise unavailable("not connected")
        parts = records.by_partition(batch, self.partitions)
        try:
            await asyncio.gather(*(self._one(js, n, part) for n, part in parts.items()))
        except Exception as exc:
            raise unavailable(type(exc).__name__) from exc

    async def _one(self, js: JetStreamContext, partition: int, part: list[Record]) -> None:
        """One partition's records: one message, or (past the server's payload limit)
        several, published one after the other so they keep their order."""
        msg_id = records.msg_id(part)
        assert self._nc is not None
        limit = self._nc.max_payload - ENVELOPE
        for data in records.encode_within(part, limit):
            await js.publish(
                records.subject(self.settings.stream, partition),
                data,
                timeout=self.settings.publish_timeout,
                stream=self.settings.stream,
                headers={"Nats-Msg-Id": msg_id} if msg_id is not None else None,
            )
