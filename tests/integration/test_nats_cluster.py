"""The three-node JetStream harness (tests/nats_cluster.py): an R3 stream keeps every
message it acknowledged while its leader is SIGKILLed, and the node catches up when
it comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import nats
from nats.js.api import StorageType, StreamConfig

from tests.nats_cluster import NatsCluster, stream_last_seq
from tests.support import eventually

STREAM = "harness"
MESSAGES = 1000
PUBLISHERS = 16
T = TypeVar("T")


async def until_answered(call: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    """`call()` again while the cluster cannot answer (no leader yet after a kill: a
    timeout or an error), until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except (nats.errors.Error, TimeoutError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def publish_through_a_kill(cluster: NatsCluster) -> tuple[dict[int, bytes], int, int]:
    """Publish MESSAGES with acks, SIGKILLing the stream's leader after a quarter of them;
    the acknowledged ones by sequence, the killed node, and the stream's last sequence."""
    client = await nats.connect(cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        js = client.jetstream(timeout=5)
        config = StreamConfig(
            name=STREAM, subjects=["harness.>"], num_replicas=3, storage=StorageType.FILE
        )
        await js.add_stream(config)
        info = await js.stream_info(STREAM)
        assert info.cluster is not None and info.cluster.leader is not None
        killed = cluster.index_of(info.cluster.leader)
        acked: dict[int, bytes] = {}
        numbers = iter(range(MESSAGES))

        async def publisher() -> None:
            for n in numbers:
                payload = f"message {n}".encode()
                headers = {"Nats-Msg-Id": str(n)}  # a retry is stored once (the stream dedups)
                publish = partial(js.publish, f"harness.{n % 7}", payload, headers=headers)
                ack = await until_answered(publish)
                acked[ack.seq] = payload
                if n == MESSAGES // 4:
                    cluster.kill(killed)

        await asyncio.gather(*(publisher() for _ in range(PUBLISHERS)))
        last = (await until_answered(lambda: js.stream_info(STREAM))).state.last_seq
        stored = {}
        for seq in range(1, last + 1):
            stored[seq] = (await until_answered(partial(js.get_msg, STREAM, seq))).data
    finally:
        await client.close()
    assert all(stored[seq] == payload for seq, payload in acked.items())  # nothing acked lost
    assert len(set(stored.values())) == len(stored)  # no message stored twice
    return acked, killed, last


def test_an_r3_stream_keeps_what_it_acked_through_a_sigkill(tmp_path: Path) -> None:
    with NatsCluster.running(tmp_path) as cluster:
        acked, killed, last = asyncio.run(publish_through_a_kill(cluster))
        assert len(acked) == MESSAGES  # the cluster went on with two nodes
        assert not cluster.nodes[killed].alive
        cluster.start(killed)  # same store folder: it catches up from the others
        eventually(lambda: stream_last_seq(cluster.nodes[killed], STREAM) == last, timeout=30)
