"""Overload: single Track events offered open loop at twice the saturating rate.

    .venv/bin/python bench/overload.py                     # measure the rate, then 60 s at 2x
    .venv/bin/python bench/overload.py --rate 9000 --duration 20

One `tidings serve` on a fresh SQLite store (bench/run.py's `Server`). First
the saturating rate of `POST /api/v1/customers/{id}/events` is measured with
wrk as `bench/run.py single` measures it (256 connections, closed loop), unless
`--rate` gives it. Then a load generator (a process of its own) offers
`--factor` times that rate open loop: requests go out on schedule on 256
keep-alive connections, pipelined, whether or not earlier ones were answered,
and latency is counted from when each request was due. Meanwhile a prober
process asks `GET /healthz` every 50 ms on a connection of its own, and the
server's RSS (its child processes included) is sampled every 100 ms.

Reported: requests offered and answered 200, refused 429/503, other answers,
requests left unanswered `--drain` seconds after the load stopped, p50/p99 of
the accepted ones, /healthz p99 and max, peak RSS against the idle RSS
measured before any load. Targets (issue 14): RSS within 2x of idle, /healthz
p99 under 100 ms, no request left unanswered. The run fails (exit 1) if the
store holds fewer events than were acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import httptools

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402

TARGET_RSS_RATIO = 2.0
TARGET_HEALTHZ_P99_MS = 100.0
TICK = 0.005  # seconds between two rounds of sending


# --------------------------------------------------------------------------- load generator


def requests_pool(customers: int, size: int = 1024) -> list[bytes]:
    """Pre-encoded single-event requests (~300-byte bodies, as bench/lua/single.lua)."""
    rng = random.Random(7)
    auth = harness.auth_header()
    pool = []
    for n in range(size):
        body = json.dumps(
            {
                "name": rng.choice(["purchase", "viewed_product", "added_to_cart"]),
                "data": {
                    "order_id": f"ord_{n}",
                    "sku": "SKU-4821",
                    "product": "Trail running shoes",
                    "category": "footwear",
                    "price": 129.95,
                    "quantity": rng.randint(1, 4),
                    "currency": "USD",
                    "session_id": f"sess_{rng.getrandbits(32):08x}",
                    "plan": rng.choice(["free", "basic", "premium"]),
                },
                "timestamp": 1_700_000_000 + n,
            }
        ).encode()
        head = (
            f"POST /api/v1/customers/cust_{rng.randint(1, customers)}/events HTTP/1.1\r\n"
            f"Host: bench\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        pool.append(head.encode() + body)
    return pool


class Connection(asyncio.Protocol):
    """One keep-alive connection: requests written on schedule, answers read in order."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.due: deque[float] = deque()  # when each unanswered request was due
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None  # uvloop's, not a subclass of asyncio.Transport
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.tally.answer(status, time.monotonic() - self.due.popleft())


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.accepted: list[float] = []  # seconds, of the 200s

    def answer(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.accepted.append(latency)

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())


async def offer(port: int, rate: float, seconds: float, connections: int, drain: float) -> dict:
    loop = asyncio.get_running_loop()
    tally = Tally()
    conns = []
    for _ in range(connections):
        _, conn = await loop.create_connection(lambda: Connection(tally), "127.0.0.1", port)
        conns.append(conn)
    pool = requests_pool(1000)
    started = time.monotonic()
    k = 0
    while (now := time.monotonic()) < started + seconds:
        due = int(rate * (now - started)) - tally.sent
        batches: dict[int, list[bytes]] = {}
        for _ in range(due):
            index = k % connections
            conn = conns[index]
            if not conn.lost:
                conn.due.append(started + tally.sent / rate)
                batches.setdefault(index, []).append(pool[k % len(pool)])
            tally.sent += 1
            k += 1
        for index, batch in batches.items():
            conns[index].transport.write(b"".join(batch))
        await asyncio.sleep(TICK)
    offered_for = time.monotonic() - started
    deadline = time.monotonic() + drain
    while tally.answered < tally.sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    accepted = sorted(tally.accepted)
    return {
        "sent": tally.sent,
        "offered_for": offered_for,
        "statuses": tally.statuses,
        "unanswered": tally.sent - tally.answered,
        "closed_by_server": sum(1 for c in conns if c.lost),
        "p50_ms": _pct(accepted, 50) * 1000,
        "p99_ms": _pct(accepted, 99) * 1000,
    }


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def generate(port: int, rate: float, seconds: float, connections: int, drain: float, out) -> None:
    import uvloop

    out.send(uvloop.run(offer(port, rate, seconds, connections, drain)))


def probe(port: int, stop, out) -> None:
    """GET /healthz every 50 ms on a connection of its own; latencies in ms."""
    latencies: list[float] = []
    failures = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        began = time.monotonic()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures += 1
            latencies.append((time.monotonic() - began) * 1000)
        except (OSError, http.client.HTTPException):
            failures += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        stop.wait(max(0.0, 0.05 - (time.monotonic() - began)))
    out.send({"latencies": latencies, "failures": failures})


# --------------------------------------------------------------------------- the run


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its descendants (the writer and worker processes)."""
    return sum(rss_by_process(pid).values())


def rss_by_process(pid: int) -> dict[str, int]:
    """Resident memory of `pid` and each descendant, by process id and command."""
    found = {}
    for each in harness._tree(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text().splitlines()
            command = Path(f"/proc/{each}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        name = " ".join(part.decode() for part in command[2:4])  # `-m tidings` dropped
        for line in status:
            if line.startswith("VmRSS:"):
                found[f"{each} {name}"] = int(line.split()[1]) * 1024
    return found


def saturating_rate(server: harness.Server, seconds: float) -> tuple[float, int]:
    """Single-event requests/s answered 200 under wrk's closed loop, as `run.py single`,
    and how many were."""
    wrk = harness.ensure_wrk()
    args = harness.parse_args([])
    bench = harness.benches(args.batch_size)["single"]
    numbers, _ = harness.run_wrk(wrk, f"http://127.0.0.1:{server.port}", bench, args, seconds, 1)
    ok = int(numbers["requests"]) - int(numbers["status_errors"])
    return ok / (numbers["duration_us"] / 1e6), ok


def overload(server: harness.Server, args: argparse.Namespace, rate: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    load_out, load_in = ctx.Pipe(duplex=False)
    probe_out, probe_in = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    assert server.proc is not None
    prober = ctx.Process(target=probe, args=(server.port, stop, probe_in))
    load = ctx.Process(
        target=generate,
        args=(server.port, rate, args.duration, args.connections, args.drain, load_in),
    )
    prober.start()
    load.start()
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    peak, each_peak = 0, {}
    while load.is_alive() and not load_out.poll():
        sizes = rss_by_process(server.proc.pid)
        peak = max(peak, sum(sizes.values()))
        each_peak = {k: max(v, each_peak.get(k, 0)) for k, v in sizes.items()}
        time.sleep(0.1)
    result = load_out.recv()
    result["server_cpu"] = (server.cpu_seconds() - cpu_before) / (time.monotonic() - started)
    stop.set()
    health = probe_out.recv()
    load.join()
    prober.join()
    result["peak_rss"] = peak
    result["peak_rss_each"] = each_peak
    result["healthz"] = health
    return result


def report(rate: float, idle: int, loaded: int, result: dict[str, Any], factor: float) -> None:
    statuses = result["statuses"]
    refused = statuses.get(429, 0) + statuses.get(503, 0)
    others = {k: v for k, v in statuses.items() if k not in (200, 429, 503)}
    health = result["healthz"]["latencies"]
    health_p99 = _pct(sorted(health), 99)
    ratio = result["peak_rss"] / idle
    offered = result["sent"] / result["offered_for"]
    lines = [
        f"saturating rate           {rate:,.0f} req/s (offered {factor:g}x: {offered:,.0f} req/s "
        f"for {result['offered_for']:.0f} s, {result['sent']:,} requests)",
        f"answered 200              {statuses.get(200, 0):,}",
        f"refused 429/503           {refused:,} ({statuses.get(429, 0):,} / "
        f"{statuses.get(503, 0):,})",
        f"other answers             {others or 'none'}",
        f"unanswered after drain    {result['unanswered']:,} "
        f"(connections closed by the server: {result['closed_by_server']})",
        f"accepted p50 / p99        {result['p50_ms']:.1f} / {result['p99_ms']:.1f} ms",
        f"/healthz p99 / max        {health_p99:.1f} / {max(health, default=0):.1f} ms "
        f"({len(health)} probes, {result['healthz']['failures']} failed)",
        f"RSS idle / after warm-up / peak  {idle / 2**20:.0f} / {loaded / 2**20:.0f} / "
        f"{result['peak_rss'] / 2**20:.0f} MiB ({ratio:.2f}x idle)",
        f"server CPU                {result['server_cpu']:.2f} cores",
        "peak RSS by process       "
        + ", ".join(f"{k}: {v / 2**20:.0f} MiB" for k, v in result["peak_rss_each"].items()),
    ]
    print("\n".join(lines))
    met = (
        ratio <= TARGET_RSS_RATIO
        and health_p99 < TARGET_HEALTHZ_P99_MS
        and result["unanswered"] == 0
        and not result["healthz"]["failures"]
    )
    verdict = "met" if met else "MISSED"
    print(f"targets (RSS <= 2x idle, /healthz p99 < 100 ms, none unanswered): {verdict}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60, help="seconds of overload (60)")
    parser.add_argument("--rate", type=float, help="the saturating rate, req/s (default: measure)")
    parser.add_argument("--factor", type=float, default=2.0, help="times the rate offered (2)")
    parser.add_argument("--saturate", type=float, default=10, help="seconds of wrk to measure (10)")
    parser.add_argument("--connections", type=int, default=256, help="keep-alive connections")
    parser.add_argument("--drain", type=float, default=30, help="seconds to wait for answers (30)")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `serve` flag")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tidings-overload-"))
    server = harness.Server("tidings", workdir, tuple(args.serve_arg))
    server.start()
    try:
        if harness.preflight(server, harness.benches(100)["single"]):
            raise SystemExit("preflight failed:\n" + server.log_tail())
        assert server.proc is not None
        idle = rss_bytes(server.proc.pid)
        rate, acked = (args.rate, 0) if args.rate else saturating_rate(server, args.saturate)
        loaded = rss_bytes(server.proc.pid)
        result = overload(server, args, rate * args.factor)
        acked += 1 + result["statuses"].get(200, 0)  # the preflight's, wrk's and these
    finally:
        server.stop()
    report(rate, idle, loaded, result, args.factor)
    stored = harness.count_events(server.db_path)
    if args.json:
        record = {"rate": rate, "idle_rss": idle, "loaded_rss": loaded, **result}
        record["healthz"] = {
            "p99_ms": _pct(sorted(result["healthz"]["latencies"]), 99),
            "failures": result["healthz"]["failures"],
        }
        Path(args.json).write_text(json.dumps(record, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)
    if stored is not None and stored < acked:
        print(f"LOST WRITES: {acked} acknowledged, {stored} stored")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
