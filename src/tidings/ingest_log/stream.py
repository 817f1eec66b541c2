"""The stream itself: connecting, and creating it (or reading back its partitions).

The partition count is fixed when the stream is created and kept in its
description (`tidings ingest log, partitions=8`), so that every server and
worker hashes with the same count whatever their own setting says.
"""

from __future__ import annotations

import asyncio
import re

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from tidings.config import IngestLog

_PARTITIONS = re.compile(r"partitions=(\d+)")
DUPLICATE_WINDOW = 120.0  # seconds the stream remembers a Nats-Msg-Id


CONNECT_WAIT = 5.0  # seconds a first connection may take before the caller tries again


async def connect(log: IngestLog, name: str) -> Client:
    """A connection that, once made, reconnects by itself for as long as the process runs.

    The first attempt gives up after `CONNECT_WAIT` (nats-py would otherwise go on
    trying the servers forever, and a stopping process would wait for it).
    """
    connecting = nats.connect(
        servers=list(log.servers),
        name=name,
        connect_timeout=2,
        reconnect_time_wait=1,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
    )
    return await asyncio.wait_for(connecting, CONNECT_WAIT)


async def ensure(js: JetStreamContext, log: IngestLog) -> int:
    """Create the stream unless it exists; its partition count either way."""
    try:
        info = await js.stream_info(log.stream)
    except NotFoundError:
        info = await js.add_stream(config(log))
    found = _PARTITIONS.search(info.config.description or "")
    if found is None:
        raise RuntimeError(f"stream {log.stream} was not made by tidings (no partitions=)")
    return int(found.group(1))


def config(log: IngestLog) -> StreamConfig:
    """File storage, `replicas` copies (Raft), kept `max_age` seconds whether applied or not."""
    return StreamConfig(
        name=log.stream,
        description=f"tidings ingest log, partitions={log.partitions}",
        subjects=[f"{log.stream}.p.*"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=log.replicas,
        max_age=log.max_age,
        discard=DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW,
    )
