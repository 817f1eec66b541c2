"""Prometheus text metrics for this process: requests, latencies, rejections."""

from __future__ import annotations

from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.rejections: dict[tuple[str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[str, float] = defaultdict(float)

    def observe(self, surface: str, route: str, status: int, seconds: float) -> None:
        self.requests[(surface, route, status)] += 1
        counts = self._buckets[surface]
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[index] += 1
                break
        else:
            counts[-1] += 1
        self._sums[surface] += seconds
        if status >= 400:
            self.rejections[(surface, _reason(status))] += 1

    def render(self, gauges: dict[str, float]) -> str:
        lines = ["# TYPE tidings_requests_total counter"]
        for (surface, route, status), n in sorted(self.requests.items()):
            labels = f'surface="{surface}",route="{route}",status="{status}"'
            lines.append(f"tidings_requests_total{{{labels}}} {n}")
        lines.append("# TYPE tidings_request_seconds histogram")
        for surface, counts in sorted(self._buckets.items()):
            running = 0
            for bound, n in zip(BUCKETS, counts, strict=False):
                running += n
                lines.append(
                    f'tidings_request_seconds_bucket{{surface="{surface}",le="{bound}"}} {running}'
                )
            running += counts[-1]
            lines.append(
                f'tidings_request_seconds_bucket{{surface="{surface}",le="+Inf"}} {running}'
            )
            lines.append(
                f'tidings_request_seconds_sum{{surface="{surface}"}} {self._sums[surface]:.6f}'
            )
            lines.append(f'tidings_request_seconds_count{{surface="{surface}"}} {running}')
        lines.append("# TYPE tidings_rejections_total counter")
        for (surface, reason), n in sorted(self.rejections.items()):
            lines.append(f'tidings_rejections_total{{surface="{surface}",reason="{reason}"}} {n}')
        for name, value in sorted(gauges.items()):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {value}")
        return "\n".join(lines) + "\n"


def _reason(status: int) -> str:
    return {
        400: "invalid",
        401: "unauthorized",
        404: "not_found",
        409: "conflict",
        413: "too_large",
        429: "overloaded",
    }.get(status, str(status))
