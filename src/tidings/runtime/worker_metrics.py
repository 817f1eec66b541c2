"""`tidings worker`'s own `/metrics` (`--metrics-port`), in Prometheus text.

What this process did since it started, and, where it applies an ingest
log, how far the log's partitions are behind:

- `tidings_worker_deliveries_total{outcome}`: delivery outcomes this worker
  recorded (`sent`, `failed`, `suppressed`, `transient`: queued again, or
  failed once expired), a counter;
- `tidings_worker_deliveries_in_flight`: deliveries claimed, outcome not yet
  recorded;
- with `--ingest-log`: `tidings_worker_applied_total` (records this worker
  applied: its apply rate is `rate(...[1m])`), `tidings_worker_partitions_held`,
  and the stream's lines `/metrics` of `tidings serve` shows too
  (`ingest_log.metrics`: lag per partition, unapplied messages, oldest
  unapplied message's age, records applied by all workers).

The backlog gauges (due deliveries, jobs, journeys) stay on `tidings serve`'s
`/metrics`: they are the database's, the same whichever process reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.sending.deliverer import DeliveryWorker

if TYPE_CHECKING:  # nats-py, imported only with an ingest log
    from tidings.ingest_log.applier import Applier


def render(deliveries: DeliveryWorker, applier: Applier | None, now: float) -> str:
    lines = ["# TYPE tidings_worker_deliveries_total counter"]
    for outcome, n in sorted(deliveries.recorded.items()):
        lines.append(f'tidings_worker_deliveries_total{{outcome="{outcome}"}} {n}')
    lines += _gauge("tidings_worker_deliveries_in_flight", deliveries.in_flight)
    if applier is not None:
        lines += ["# TYPE tidings_worker_applied_total counter"]
        lines += [f"tidings_worker_applied_total {applier.applied}"]
        lines += _gauge("tidings_worker_partitions_held", len(applier.held))
        lines += applier.metrics(now)
    return "\n".join(lines) + "\n"


def _gauge(name: str, value: float) -> list[str]:
    return [f"# TYPE {name} gauge", f"{name} {value}"]
