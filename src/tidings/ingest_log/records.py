"""What a handler publishes: one validated request part for one identity.

A record carries its kind (which use case applies it), the workspace, the
time the request was received (`now`: applying with the same `now` gives
what the direct path would have written) and the validated payload. It is
encoded as a compact JSON array (msgspec), so that an operator can read a
stream with the `nats` tool.

Partitions: a stable hash (CRC-32) of (workspace, identity) modulo the
stream's partition count, so every record of one person lands in one
partition, in the order it was acknowledged.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec


class Record(msgspec.Struct, frozen=True, array_like=True):
    kind: str
    workspace: int
    now: int
    # The identity the record is partitioned by ("id:42", "email:a@b.c", ...).
    identity: str
    payload: Any
    # A key the record is deduplicated by, if it has one (an event id): the stream's
    # duplicate window drops a repeat early; the stored keys still decide.
    dedup: str | None = None

    @property
    def msg_id(self) -> str | None:
        """The `Nats-Msg-Id` header: the dedup key, scoped by workspace and kind."""
        return None if self.dedup is None else f"{self.workspace}:{self.kind}:{self.dedup}"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Record)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def decode(data: bytes) -> Record:
    """The record in `data`; raises `msgspec.DecodeError` for anything else."""
    return _decoder.decode(data)


def partition_of(workspace: int, identity: str, partitions: int) -> int:
    """The partition of (workspace, identity): stable across processes and versions."""
    return zlib.crc32(f"{workspace}\x00{identity}".encode()) % partitions


def subject(stream: str, partition: int) -> str:
    """The subject a partition's records are published on."""
    return f"{stream}.p.{partition}"
