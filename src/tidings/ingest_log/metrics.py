"""The ingest log in `/metrics`: per partition, how far applying is behind.

For each partition (labelled `partition="<n>"`):

- `tidings_ingest_log_lag_sequences`: the stream sequence of the partition's
  newest message minus the one applied (0: caught up). Sequences are the
  stream's, shared by all partitions, so this measures distance, not a count.
- `tidings_ingest_log_unapplied_messages`: messages not yet acknowledged by
  the partition's current applier (its consumer's pending and unacknowledged
  messages; absent while no applier holds the partition).
- `tidings_ingest_log_oldest_unapplied_seconds`: age of the oldest message
  after the applied offset (0: none).
- `tidings_ingest_log_applied_total`: records applied, a counter: the apply
  rate is `rate(tidings_ingest_log_applied_total[1m])`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tidings.ingest_log import records
from tidings.ingest_log.partitions import Offset

GAUGES = (
    "tidings_ingest_log_lag_sequences",
    "tidings_ingest_log_unapplied_messages",
    "tidings_ingest_log_oldest_unapplied_seconds",
)


async def lines(
    js: JetStreamContext, stream: str, offsets: Iterable[Offset], now: float
) -> list[str]:
    """Prometheus text lines for every partition of `stream`."""
    values: dict[str, list[str]] = {name: [] for name in (*GAUGES, "applied_total")}
    for offset in offsets:
        label = f'{{partition="{offset.partition}"}}'
        subject = records.subject(stream, offset.partition)
        newest = await _seq(js, stream, subject)
        values[GAUGES[0]].append(f"{GAUGES[0]}{label} {max(0, newest - offset.applied_seq)}")
        pending = await _pending(js, stream, offset)
        if pending is not None:
            values[GAUGES[1]].append(f"{GAUGES[1]}{label} {pending}")
        oldest = await _oldest(js, stream, subject, offset.applied_seq + 1)
        age = 0.0 if oldest is None else max(0.0, now - oldest.timestamp())
        values[GAUGES[2]].append(f"{GAUGES[2]}{label} {age:.3f}")
        values["applied_total"].append(
            f"tidings_ingest_log_applied_total{label} {offset.applied_total}"
        )
    out = []
    for name in GAUGES:
        out += [f"# TYPE {name} gauge", *values[name]]
    out += ["# TYPE tidings_ingest_log_applied_total counter", *values["applied_total"]]
    return out


async def _seq(js: JetStreamContext, stream: str, subject: str) -> int:
    """The sequence of the newest message on `subject` (0: none)."""
    with contextlib.suppress(NotFoundError):
        return (await js.get_msg(stream, subject=subject)).seq or 0
    return 0


async def _oldest(js: JetStreamContext, stream: str, subject: str, seq: int) -> datetime | None:
    """When the first message on `subject` at or after `seq` was stored (None: none)."""
    with contextlib.suppress(NotFoundError):
        return (await js.get_msg(stream, seq=seq, subject=subject, next=True)).time
    return None


async def _pending(js: JetStreamContext, stream: str, offset: Offset) -> int | None:
    if offset.owner is None:
        return None
    name = f"{stream}-p{offset.partition}-a{offset.attempts}"
    with contextlib.suppress(NotFoundError):
        info = await js.consumer_info(stream, name)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    return None
