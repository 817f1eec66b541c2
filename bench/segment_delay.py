"""Segment membership delay: from an event's 2xx to the person showing in the segment.

    .venv/bin/python bench/segment_delay.py                  # 1,000 events/s, 300 probes
    .venv/bin/python bench/segment_delay.py --rate 2000 --probes 500 --duration 40

What it does, on a fresh `tidings serve` (fresh temporary SQLite data dir, WAL,
synchronous=FULL, the segment worker as a thread of the server, as by default):

1. creates the bench workspace (`bench/run.py`'s keys) and a data-driven
   segment `buyers` = `{"event": {"name": "purchase"}}` through the App API,
   and waits until its state is `finished`;
2. starts a background load in a separate process: an open-loop pacer that
   sends `POST /api/v1/customers/{id}/events` (events other than `purchase`,
   ids drawn at random out of `--customers`) at `--rate` requests/s on
   `--load-connections` keep-alive connections, whatever the answers take;
3. after `--warmup` seconds, starts `--probes` probes spread evenly over
   `--duration` seconds, at most `--concurrency` at a time. A probe sends one
   `purchase` event for a fresh customer id, notes when its 200 arrived, then
   polls `GET /v1/customers/{id}/segments` (Bearer app key) every
   `--poll-ms` until the segment is listed. Its delay is the time from the
   event's 200 to the arrival of the first answer listing the segment.

Resolution: the delay is an upper bound, late by up to one polling interval
plus one GET's round trip; `delay low` is the matching lower bound (when the
last poll that did not see the membership was sent). The probes' own requests
(~1 event and a few GETs each) add to the load.

Both clients are minimal HTTP/1.1 keep-alive clients on asyncio streams (with
uvloop), so the load generator costs little CPU on a shared machine. No wrk:
Debian's wrk 4.1 has no fixed-rate mode, and wrk2 is not packaged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402  (bench/run.py: Server, keys, machine helpers)

TARGET_P99_S = 1.0
SEGMENT = {"segment": {"name": "buyers", "conditions": {"event": {"name": "purchase"}}}}
BACKGROUND_EVENTS = ("viewed_product", "added_to_cart", "page_viewed", "searched", "signed_in")
BASIC = "Basic " + harness.auth_header("track")
BEARER = "Bearer " + harness.APP_KEY


# --------------------------------------------------------------------------- a tiny client


class Conn:
    """One HTTP/1.1 keep-alive connection (Content-Length or chunked answers)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                assert self.reader is not None
                self.writer.write(head + body)
                status_line_and_headers = await self.reader.readuntil(b"\r\n\r\n")
                lines = status_line_and_headers.split(b"\r\n")
                status = int(lines[0].split(b" ", 2)[1])
                length, chunked = 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if not chunked:
                    return status, await self.reader.readexactly(length) if length else b""
                parts = []
                while True:  # uvicorn chunks answers sent without a Content-Length
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        await self.reader.readuntil(b"\r\n")  # no trailers are sent
                        return status, b"".join(parts)
                    parts.append(await self.reader.readexactly(size))
                    await self.reader.readexactly(2)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def head(method: str, path: str, auth: str, length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {auth}"]
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def event_request(customer: str, name: str, data: dict[str, Any]) -> bytes:
    body = json.dumps({"name": name, "data": data}, separators=(",", ":")).encode()
    return head("POST", f"/api/v1/customers/{customer}/events", BASIC, len(body)) + body


def run_async(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# --------------------------------------------------------------------------- background load


async def background_load(
    port: int, rate: float, seconds: float, customers: int, connections: int, seed: int
) -> dict[str, Any]:
    """Open loop: request i is due at start + i/rate, whether or not earlier ones answered.

    Latency counts from the due time, so a backlog shows up in it.
    """
    rng = random.Random(seed)
    bodies = []
    for n in range(1024):
        data = {
            "product_id": f"sku_{rng.randrange(5000)}",
            "price": round(rng.uniform(1, 500), 2),
            "currency": "USD",
            "session": f"sess_{rng.randrange(1 << 30):x}",
            "plan": rng.choice(("free", "pro", "team")),
            "n": n,
        }
        bodies.append((BACKGROUND_EVENTS[n % len(BACKGROUND_EVENTS)], data))
    due: asyncio.Queue[float] = asyncio.Queue()
    acks: dict[int, int] = {}  # 100 ms bucket of the monotonic clock -> 2xx answers
    latencies: list[float] = []
    counts = {"sent": 0, "ok": 0, "not_2xx": 0, "errors": 0}

    async def worker() -> None:
        conn = Conn("127.0.0.1", port)
        while True:
            when = await due.get()
            if when < 0:
                conn.close()
                return
            name, data = bodies[rng.randrange(len(bodies))]
            payload = event_request(f"bg_{rng.randrange(customers)}", name, data)
            counts["sent"] += 1
            try:
                status, _ = await conn.request(payload)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                continue
            now = time.monotonic()
            if 200 <= status < 300:
                counts["ok"] += 1
                latencies.append(now - when)
                bucket = int(now * 10)
                acks[bucket] = acks.get(bucket, 0) + 1
            else:
                counts["not_2xx"] += 1

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.monotonic()
    total = int(rate * seconds)
    i = 0
    max_backlog = 0
    while i < total:
        now = time.monotonic()
        while i < total and start + i / rate <= now:
            due.put_nowait(start + i / rate)
            i += 1
        max_backlog = max(max_backlog, due.qsize())
        await asyncio.sleep(0.001)
    for _ in workers:
        due.put_nowait(-1.0)
    await asyncio.gather(*workers)
    latencies.sort()
    return {
        **counts,
        "scheduled": total,
        "start": start,
        "end": time.monotonic(),
        "max_backlog": max_backlog,
        "acks": acks,
        "p50_ms": 1000 * pct(latencies, 50) if latencies else None,
        "p99_ms": 1000 * pct(latencies, 99) if latencies else None,
    }


# --------------------------------------------------------------------------- probes


async def probes(args: argparse.Namespace, port: int, segment_id: int, tag: str) -> dict[str, Any]:
    sem = asyncio.Semaphore(args.concurrency)
    interval = args.poll_ms / 1000
    results: list[dict[str, Any]] = []
    counts = {"event_failed": 0, "timed_out": 0, "polls": 0}

    async def probe(i: int) -> None:
        async with sem:
            conn = Conn("127.0.0.1", port)
            customer = f"probe_{tag}_{i}"
            try:
                sent = time.monotonic()
                status, _ = await conn.request(
                    event_request(customer, "purchase", {"order_id": f"ord_{i}", "price": 9.5})
                )
                acked = time.monotonic()
                if status != 200:
                    counts["event_failed"] += 1
                    return
                get = head("GET", f"/v1/customers/{customer}/segments", BEARER)
                last_miss = acked
                while True:
                    poll_sent = time.monotonic()
                    status, body = await conn.request(get)
                    counts["polls"] += 1
                    seen = time.monotonic()
                    if status == 200 and any(
                        s.get("id") == segment_id for s in json.loads(body).get("segments", [])
                    ):
                        results.append(
                            {
                                "at": acked,
                                "ack_ms": 1000 * (acked - sent),
                                "delay": seen - acked,
                                "delay_low": max(0.0, last_miss - acked),
                            }
                        )
                        return
                    last_miss = poll_sent
                    if seen - acked > args.give_up:
                        counts["timed_out"] += 1
                        return
                    await asyncio.sleep(max(0.0, poll_sent + interval - time.monotonic()))
            finally:
                conn.close()

    tasks = []
    start = time.monotonic()
    spacing = args.duration / args.probes
    for i in range(args.probes):
        await asyncio.sleep(max(0.0, start + i * spacing - time.monotonic()))
        tasks.append(asyncio.create_task(probe(i)))
    await asyncio.gather(*tasks)
    return {"results": results, "start": start, "end": time.monotonic(), **counts}


# --------------------------------------------------------------------------- setup and report


def app_request(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": BEARER, "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def create_segment(port: int, timeout: float = 30.0) -> int:
    status, body = app_request(port, "POST", "/v1/segments", SEGMENT)
    if status != 200:
        sys.exit(f"segment-delay: POST /v1/segments answered {status}: {body}")
    segment_id = int(body["segment"]["id"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = app_request(port, "GET", f"/v1/segments/{segment_id}")
        if status == 200 and body["segment"]["state"] == "finished":
            return segment_id
        time.sleep(0.05)
    sys.exit(f"segment-delay: segment {segment_id} not finished after {timeout:.0f}s: {body}")


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


def acked_rate(load: dict[str, Any], start: float, end: float) -> float:
    lo, hi = int(start * 10), int(end * 10)
    n = sum(v for k, v in load["acks"].items() if lo <= int(k) < hi)
    return n / ((hi - lo) / 10) if hi > lo else 0.0


def members(db_path: Path, segment_id: int) -> int | None:
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            query = "SELECT count(*) FROM segment_members WHERE segment_id = ?"
            return int(conn.execute(query, (segment_id,)).fetchone()[0])
        finally:
            conn.close()
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000, help="background events/s (1000)")
    parser.add_argument("--customers", type=int, default=10_000, help="background ids (10000)")
    parser.add_argument("--load-connections", type=int, default=32, help="background conns (32)")
    parser.add_argument("--probes", type=int, default=300, help="probes (300)")
    parser.add_argument("--concurrency", type=int, default=10, help="probes at a time (10)")
    parser.add_argument("--poll-ms", type=float, default=10, help="probe polling interval (10)")
    parser.add_argument("--duration", type=float, default=40, help="seconds probes span (40)")
    parser.add_argument("--warmup", type=float, default=5, help="load before probing, s (5)")
    parser.add_argument("--give-up", type=float, default=10, help="probe timeout, s (10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--load-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.load_only:  # the background load's own process; prints its result as JSON
        seconds = args.warmup + args.duration + args.give_up / 2
        result = run_async(
            background_load(
                args.load_only,
                args.rate,
                seconds,
                args.customers,
                args.load_connections,
                args.seed,
            )
        )
        print(json.dumps(result))
        return 0

    date, commit, loadavg = harness.announce("segment-delay")
    tmp = Path(tempfile.mkdtemp(prefix="tidings-segdelay-"))
    server = harness.Server("tidings", tmp)
    server.start()
    load_proc = None
    try:
        segment_id = create_segment(server.port)
        print(f"segment-delay: segment {segment_id} finished; background load", flush=True)
        cmd = [sys.executable, __file__, "--load-only", str(server.port)]
        for flag in ("rate", "customers", "load_connections", "warmup", "duration", "give_up"):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        cmd += ["--seed", str(args.seed)]
        load_proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        cpu_before, busy_before = server.cpu_seconds(), harness.machine_ticks()
        cpu_started = time.monotonic()
        time.sleep(args.warmup)
        print(f"segment-delay: {args.probes} probes over {args.duration:g}s", flush=True)
        probed = run_async(probes(args, server.port, segment_id, f"s{args.seed}"))
        cpu_after, busy_after = server.cpu_seconds(), harness.machine_ticks()
        cpu_wall = time.monotonic() - cpu_started
        out, _ = load_proc.communicate()
        load = json.loads(out)
    finally:
        if load_proc is not None and load_proc.poll() is None:
            load_proc.kill()
        code = server.stop()
    stored_members = members(server.db_path, segment_id)
    if args.keep:
        print(f"segment-delay: data dir and server log kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)

    window = probed["end"] - probed["start"]
    delays = sorted(r["delay"] for r in probed["results"])
    lows = sorted(r["delay_low"] for r in probed["results"])
    acks = sorted(r["ack_ms"] for r in probed["results"])
    rate = acked_rate(load, probed["start"], probed["end"])
    busy = busy_after[0] - busy_before[0]
    total = busy_after[1] - busy_before[1]
    summary: dict[str, Any] = {
        "date": date,
        "commit": commit,
        "load_average_before": loadavg,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "load_only")},
        "probes_done": len(delays),
        "probes_timed_out": probed["timed_out"],
        "probe_events_failed": probed["event_failed"],
        "polls_per_s": probed["polls"] / window,
        "background_acked_per_s": rate,
        "background": {k: v for k, v in load.items() if k not in ("acks", "start", "end")},
        "server_cpu": (cpu_after - cpu_before) / cpu_wall,
        "machine_busy": busy / total if total else 0.0,
        "server_exit": code,
        "members_after": stored_members,
        # (seconds into the probing window when the event was acknowledged, delay ms)
        "timeline": [
            [round(r["at"] - probed["start"], 3), round(1000 * r["delay"], 1)]
            for r in sorted(probed["results"], key=lambda r: r["at"])
        ],
    }
    if delays:
        for p in (50, 95, 99):
            summary[f"p{p}_ms"] = 1000 * pct(delays, p)
            summary[f"low_p{p}_ms"] = 1000 * pct(lows, p)
        summary["max_ms"] = 1000 * delays[-1]
        summary["mean_ms"] = 1000 * statistics.fmean(delays)
        summary["probe_event_p50_ms"] = pct(acks, 50)
        summary["probe_event_p99_ms"] = pct(acks, 99)
    met = bool(delays) and not probed["timed_out"] and summary["p99_ms"] < 1000 * TARGET_P99_S
    summary["target_met"] = met

    print()
    if delays:
        print(
            f"delay from the event's 200 to membership, {len(delays)} probes: "
            f"p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms, "
            f"p99 {summary['p99_ms']:.1f} ms, max {summary['max_ms']:.1f} ms "
            f"(lower bounds: p50 {summary['low_p50_ms']:.1f}, p95 {summary['low_p95_ms']:.1f}, "
            f"p99 {summary['low_p99_ms']:.1f} ms)"
        )
        print(
            f"probe purchase events: p50 {summary['probe_event_p50_ms']:.1f} ms, "
            f"p99 {summary['probe_event_p99_ms']:.1f} ms to their 200"
        )
    bg = summary["background"]
    print(
        f"background: {rate:,.0f} events/s acknowledged during the probes "
        f"(asked {args.rate:,.0f}/s); {bg['ok']:,} ok, {bg['not_2xx']} not 2xx, "
        f"{bg['errors']} errors, {bg['scheduled'] - bg['sent']} never sent, "
        f"max backlog {bg['max_backlog']}; latency from due time "
        f"p50 {bg['p50_ms'] or 0:.1f} ms, p99 {bg['p99_ms'] or 0:.1f} ms"
    )
    print(
        f"probe polls: {summary['polls_per_s']:,.0f} GET/s; server CPU "
        f"{summary['server_cpu']:.0%} of a core; machine busy {summary['machine_busy']:.0%}; "
        f"timed out {probed['timed_out']}, probe events failed {probed['event_failed']}; "
        f"{stored_members} members stored after shutdown"
    )
    print(
        f"target p99 < {TARGET_P99_S * 1000:.0f} ms at {args.rate:,.0f} events/s: "
        + ("met" if met else "NOT met")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if delays and not probed["timed_out"] and not probed["event_failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
