"""The three-node JetStream harness (tests/nats_cluster.py): an R3 stream keeps every
message it acknowledged while its leader is SIGKILLed, and the node catches up when
it comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from nats.js.api import StorageType, StreamConfig

from tests.nats_cluster import NatsCluster, stream_last_seq
from tests.support import eventually

STREAM = "harness"
MESSAGES = 2000
PUBLISHERS = 16


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
                for _ in range(5):  # a retry carries the same Nats-Msg-Id: stored once
                    try:
                        ack = await js.publish(
                            f"harness.{n % 7}", payload, headers={"Nats-Msg-Id": str(n)}
                        )
                    except (nats.errors.Error, TimeoutError):
                        continue
                    acked[ack.seq] = payload
                    break
                if n == MESSAGES // 4:
                    cluster.kill(killed)

        await asyncio.gather(*(publisher() for _ in range(PUBLISHERS)))
        last = (await js.stream_info(STREAM)).state.last_seq
        stored = {seq: (await js.get_msg(STREAM, seq)).data for seq in range(1, last + 1)}
    finally:
        await client.close()
    assert all(stored[seq] == payload for seq, payload in acked.items())  # nothing acked lost
    assert len(set(stored.values())) == len(stored)  # no message stored twice
    return acked, killed, last


def test_an_r3_stream_keeps_what_it_acked_through_a_sigkill(tmp_path: Path) -> None:
    with NatsCluster.running(tmp_path) as cluster:
        acked, killed, last = asyncio.run(publish_through_a_kill(cluster))
        assert len(acked) >= MESSAGES * 0.9  # the cluster went on with two nodes
        assert not cluster.nodes[killed].alive
        cluster.start(killed)  # same store folder: it catches up from the others
        eventually(lambda: stream_last_seq(cluster.nodes[killed], STREAM) == last, timeout=30)
