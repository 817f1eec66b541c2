"""What a handler publishes: one validated request part for one identity.

A record carries its kind (which use case applies it), the workspace, the
time the request was received (`now`: applying with the same `now` gives
what the direct path would have written) and the validated payload. A
stream message holds the records of one request that fall in one
partition, in request order, as compact JSON (msgspec), so that an
operator can read a stream with the `nats` tool.

Partitions: a stable hash (CRC-32) of (workspace, identity) modulo the
stream's partition count, so every record of one person lands in one
partition, in the order it was acknowledged.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
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


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(list[Record])


def encode(part: list[Record]) -> bytes:
    """One stream message: a request's records of one partition, in order."""
    return _encoder.encode(part)


def encode_within(part: list[Record], limit: int) -> list[bytes]:
    """`part` as one message, or as several in order when one would exceed `limit` bytes
    (the server's maximum payload): greedily, each holding as many records as fit."""
    whole = encode(part)
    if len(whole) <= limit or len(part) == 1:
        return [whole]
    messages: list[bytes] = []
    run: list[Record] = []
    for record in part:
        if run and len(encode([*run, record])) > limit:
            messages.append(encode(run))
            run = []
        run.append(record)
    messages.append(encode(run))
    return messages


def decode(data: bytes) -> list[Record]:
    """The records of a message; raises `msgspec.DecodeError` for anything else."""
    return _decoder.decode(data)


def msg_id(part: list[Record]) -> str | None:
    """The `Nats-Msg-Id` of a message holding one record with a dedup key: that key,
    scoped by workspace and kind (a message of several has none; the stored keys
    still drop their repeats)."""
    if len(part) != 1 or part[0].dedup is None:
        return None
    record = part[0]
    return f"{record.workspace}:{record.kind}:{record.dedup}"


def by_partition(batch: Iterable[Record], partitions: int) -> dict[int, list[Record]]:
    """The records by partition, each list in the order given."""
    parts: dict[int, list[Record]] = {}
    for record in batch:
        parts.setdefault(partition_of(record.workspace, record.identity, partitions), []).append(
            record
        )
    return parts


def partition_of(workspace: int, identity: str, partitions: int) -> int:
    """The partition of (workspace, identity): stable across processes and versions."""
    return zlib.crc32(f"{workspace}\x00{identity}".encode()) % partitions


def subject(stream: str, partition: int) -> str:
    """The subject a partition's records are published on."""
    return f"{stream}.p.{partition}"
