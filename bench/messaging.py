"""Transactional email: accept latency and delivered throughput, each against a
baseline measured in the same run.

    .venv/bin/python bench/messaging.py                     # both, defaults below
    .venv/bin/python bench/messaging.py --rate 500 --duration 20 --emails 5000

Set-up: a fresh `tidings serve` (SQLite, WAL, synchronous=FULL; as by
default, a writer process commits and a worker process delivers) whose
workspace sends email through the SMTP adapter to a local SMTP server
(bench/smtp_sink.py, aiosmtpd in its own process), declared with `tidings
apply`. The template (by trigger name)
uses customer attributes, a snippet and a loop over `trigger.items`; 1,000
people are identified first.

1. accept: an open-loop pacer sends `POST /v1/send/email` at `--rate`
   requests/s for `--warmup` s (3, not counted) and then `--duration` s
   (20) over keep-alive connections, whatever the answers take; latency
   counts from each request's due time to its 200 (the 200 means the
   delivery row is committed). Baseline: bench/bare.py (an ASGI
   app answering `{}` under the same uvicorn settings) under the same load.
   Target: p99 under 20 ms.
2. delivered: once the first phase's mail has arrived, `--emails` sends as
   fast as `--connections` connections allow; messages/s from the first
   request to the last mail received by the SMTP server. Baseline: the same
   SMTP server fed directly by aiosmtplib over as many connections as the
   provider may open (`--smtp-connections`, 16) with messages built by
   `tidings.providers.mime` (what the sink itself can take).
   Target: 1,000 emails/s. Beside it, the CPU each email cost in that
   phase, by process (serve, its writer and worker processes, PostgreSQL's
   processes for the bench database, the SMTP sink): emails/s is at most
   the cores there are over the total, which says what a machine with more
   cores would reach.

The pacing client is bench/segment_delay.py's (HTTP/1.1 on asyncio streams).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402
import segment_delay as client  # noqa: E402

TARGET_ACCEPT_P99_MS = 20.0
TARGET_DELIVERED_PER_S = 1000.0
PEOPLE = 1000
BEARER = "Bearer " + harness.APP_KEY

TEMPLATE_BODY = """<html><body>
<p>Hi {{ customer.first_name | default: "there" }},</p>
<p>Thanks for your order {{ trigger.order_id }} on the {{ customer.plan }} plan.</p>
<ul>{% for item in trigger.items %}
<li>{{ item.name }} x {{ item.qty }}: {{ item.price }}</li>{% endfor %}</ul>
{{ snippets.footer }}
</body></html>"""


def workspace_file(smtp_port: int, smtp_connections: int) -> str:
    return json.dumps(
        {
            "providers": [
                {
                    "channel": "email",
                    "kind": "smtp",
                    "config": {
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "security": "none",
                        "max_connections": smtp_connections,
                    },
                }
            ],
            "snippets": [
                {"name": "footer", "value": "<p>Acme Inc, 1 Main St ({{ customer.email }})</p>"}
            ],
            "transactional_messages": [
                {
                    "name": "Receipt",
                    "trigger_name": "receipt",
                    "channel": "email",
                    "contents": {
                        "": {
                            "from": "Acme <orders@acme.test>",
                            "subject": "Your order {{ trigger.order_id }}",
                            "body": TEMPLATE_BODY,
                        }
                    },
                }
            ],
        }
    )  # JSON is YAML


def send_request(n: int, rng: random.Random) -> bytes:
    person = rng.randrange(PEOPLE)
    items = [
        {
            "name": f"Item {rng.randrange(500)}",
            "qty": rng.randrange(1, 4),
            "price": f"{rng.randrange(100, 9000) / 100:.2f}",
        }
        for _ in range(3)
    ]
    body = json.dumps(
        {
            "transactional_message_id": "receipt",
            "identifiers": {"id": f"p{person}"},
            "to": f"p{person}@example.test",
            "message_data": {"order_id": f"A{n}", "items": items},
        },
        separators=(",", ":"),
    ).encode()
    return client.head("POST", "/v1/send/email", BEARER, len(body)) + body


def bare_request(n: int, rng: random.Random) -> bytes:
    return send_request(n, rng)  # the bare app reads and ignores the same bytes


# --------------------------------------------------------------------------- load


async def paced(
    port: int, rate: float, seconds: float, connections: int, make: Any, warmup: float
) -> dict[str, Any]:
    """Open loop: request i is due at start + i/rate; latency counts from its due time.

    The first `warmup` seconds of requests are sent and not counted (connections,
    caches and parsed templates warm up), as in bench/run.py's wrk runs."""
    rng = random.Random(7)
    due: asyncio.Queue[float] = asyncio.Queue()
    latencies: list[float] = []
    counts = {"ok": 0, "not_2xx": 0, "errors": 0}

    async def worker() -> None:
        conn = client.Conn("127.0.0.1", port)
        n = 0
        while True:
            when = await due.get()
            if when < 0:
                conn.close()
                return
            n += 1
            try:
                status, _ = await conn.request(make(n, rng))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                continue
            if 200 <= status < 300:
                counts["ok"] += 1
                if when >= measured_from:
                    latencies.append(time.monotonic() - when)
            else:
                counts["not_2xx"] += 1

    start, total, i = time.monotonic(), int(rate * (warmup + seconds)), 0
    measured_from = start + warmup
    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    while i < total:
        now = time.monotonic()
        while i < total and start + i / rate <= now:
            due.put_nowait(start + i / rate)
            i += 1
        # Until the next one is due: a fixed sub-millisecond sleep spins under
        # uvloop (its timers have millisecond resolution) and took a core.
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
    for _ in workers:
        due.put_nowait(-1.0)
    await asyncio.gather(*workers)
    latencies.sort()
    return {
        **counts,
        "scheduled": total,
        "measured": len(latencies),
        "p50_ms": 1000 * client.pct(latencies, 50) if latencies else None,
        "p99_ms": 1000 * client.pct(latencies, 99) if latencies else None,
    }


async def flood(port: int, total: int, connections: int) -> tuple[float, dict[str, int]]:
    """Closed loop: `total` sends over `connections`; (start time, counts)."""
    rng = random.Random(11)
    counts = {"ok": 0, "failed": 0}
    numbers = iter(range(total))

    async def worker() -> None:
        conn = client.Conn("127.0.0.1", port)
        for n in numbers:
            status, _ = await conn.request(send_request(100_000 + n, rng))
            counts["ok" if status == 200 else "failed"] += 1
        conn.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return start, counts


class Sink:
    """bench/smtp_sink.py in its own process; counts arrivals as they are reported."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or harness.free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "smtp_sink.py"), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("smtp sink did not start")

    def stop(self) -> list[float]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=60)
        return sorted(json.loads(out.strip().splitlines()[-1])["arrivals"])

    def restart(self) -> list[float]:
        """Stop, then listen again on the same port (the provider config names it)."""
        arrivals = self.stop()
        self.__init__(self.port)  # type: ignore[misc]
        return arrivals


def process_roles(
    server: harness.Server, worker: subprocess.Popen[bytes] | None, sink: Sink, url: str | None
) -> dict[str, list[int]]:
    """The processes whose CPU the delivered phase counts, by role: the server's tree
    (`tidings serve`, its writer and worker processes), a `--worker-process`,
    PostgreSQL's processes for the bench database, the SMTP sink."""
    roles: dict[str, list[int]] = {}
    assert server.proc is not None
    pids = harness._tree(server.proc.pid) + (harness._tree(worker.pid) if worker else [])
    for pid in pids:
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            role = next((r for key, r in ROLES if key in cmdline), "server, other")
            roles.setdefault(role, []).append(pid)
    if url is not None:
        roles["PostgreSQL"] = harness.postgres_pids(url.rsplit("/", 1)[1])
    roles["SMTP sink"] = [sink.proc.pid]
    return roles


# Which role a process of the server's tree has, by a word of its command line.
ROLES = (
    ("writer_process", "writer process"),
    (" worker", "worker"),
    (" serve", "serve"),
)


def wait_for_mail(server: harness.Server, count: int, timeout: float) -> int:
    """Poll the server's own count of sent deliveries until `count` (or the timeout)."""
    deadline = time.monotonic() + timeout
    sent = 0
    while time.monotonic() < deadline:
        sent = sent_deliveries(server)
        if sent >= count:
            return sent
        time.sleep(0.2)
    return sent


def sent_deliveries(server: harness.Server) -> int:
    query = "SELECT count(*) FROM deliveries WHERE state = 'sent'"
    if server.database_url:
        import psycopg

        url = server.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as pg:
            return int(pg.execute(query).fetchone()[0])  # type: ignore[index]
    import sqlite3

    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute(query).fetchone()[0])
    finally:
        conn.close()


@contextlib.contextmanager
def postgres_database(admin_url: str | None) -> Iterator[str | None]:
    """A fresh PostgreSQL database for the run (dropped afterwards), or None for SQLite."""
    if admin_url is None:
        yield None
        return
    import psycopg

    name = f"tidings_bench_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def direct_smtp(port: int, total: int, connections: int) -> float:
    """Baseline: `total` prebuilt messages straight to the sink; the start time."""
    import aiosmtplib

    from tidings.providers import mime
    from tidings.providers.base import Email

    html = TEMPLATE_BODY.replace("{{", "").replace("}}", "")
    data = [
        mime.build(
            f"d{n}",
            Email(
                message_id=f"<d{n}@bench.test>",
                from_="Acme <orders@acme.test>",
                to=[f"p{n % PEOPLE}@example.test"],
                subject=f"Your order A{n}",
                html=html,
            ),
        )
        for n in range(total)
    ]
    numbers = iter(range(total))

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
        await smtp.connect()
        for n in numbers:
            await smtp.sendmail("orders@acme.test", [f"p{n % PEOPLE}@example.test"], data[n])
        await smtp.quit()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return start


# --------------------------------------------------------------------------- main


def identify_people(server: harness.Server) -> None:
    for first in range(0, PEOPLE, 100):
        batch = [
            {
                "type": "person",
                "identifiers": {"id": f"p{n}"},
                "action": "identify",
                "attributes": {
                    "email": f"p{n}@example.test",
                    "first_name": random.choice(("Ada", "Grace", "Alan", "Ken")),
                    "plan": random.choice(("free", "pro")),
                },
            }
            for n in range(first, first + 100)
        ]
        status, body = server.request("POST", "/api/v2/batch", {"batch": batch})
        if status != 200:
            sys.exit(f"messaging: identify batch answered {status}: {body[:200]!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500, help="accept phase requests/s (500)")
    parser.add_argument("--duration", type=float, default=20, help="accept phase seconds (20)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=3,
        help="accept phase seconds sent before the measured ones, not counted (3)",
    )
    parser.add_argument("--connections", type=int, default=32, help="client connections (32)")
    parser.add_argument("--emails", type=int, default=5000, help="delivered phase sends (5000)")
    parser.add_argument(
        "--smtp-connections",
        type=int,
        default=16,
        help="the SMTP provider's max_connections, and the direct baseline's connections (16)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="run the server on a fresh PostgreSQL database made through this admin URL "
        "(e.g. postgresql://postgres@127.0.0.1:5432/postgres) instead of SQLite",
    )
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="run the background workers as a separate `tidings worker` (its own "
        "writer) beside `tidings serve --no-background-workers`, instead of the worker "
        "process serve starts (on SQLite it writes through the server's writer process; "
        "on PostgreSQL the two layouts are the same)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    date, commit, loadavg = harness.announce("messaging")
    tmp = Path(tempfile.mkdtemp(prefix="tidings-messaging-"))
    results: dict[str, Any] = {}

    bare = harness.Server("bare", tmp)
    bare.start()
    try:
        print("messaging: baseline accept (bare app)", flush=True)
        results["bare"] = client.run_async(
            paced(bare.port, args.rate, args.duration, args.connections, bare_request, args.warmup)
        )
    finally:
        bare.stop()

    sink = Sink()
    serve_args = ("--no-background-workers",) if args.worker_process else ()
    store = contextlib.ExitStack()
    url = store.enter_context(postgres_database(args.postgres))
    server = harness.Server("tidings", tmp, serve_args, database_url=url)
    server.start()
    worker = None
    if args.worker_process:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tidings", "worker", *server.store_args()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=harness.ROOT,
        )
    try:
        spec = server.dir / "workspace.yaml"
        spec.write_text(workspace_file(sink.port, args.smtp_connections))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tidings",
                "apply",
                "-f",
                str(spec),
                *server.store_args(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=harness.ROOT,
        )
        identify_people(server)
        print(f"messaging: accept at {args.rate:g}/s for {args.duration:g}s", flush=True)
        results["accept"] = client.run_async(
            paced(
                server.port,
                args.rate,
                args.duration,
                args.connections,
                send_request,
                args.warmup,
            )
        )
        accepted = results["accept"]["ok"]
        drained = wait_for_mail(server, accepted, timeout=120)
        results["accept"]["sent_after_drain"] = drained
        sink.restart()
        print(f"messaging: delivered, {args.emails} sends", flush=True)
        roles = process_roles(server, worker, sink, url)
        cpu_before = {role: harness.cpu_of(pids) for role, pids in roles.items()}
        started, counts = client.run_async(flood(server.port, args.emails, args.connections))
        accepted_at = time.monotonic()
        wait_for_mail(server, drained + counts["ok"], timeout=300)
        cpu_after = {role: harness.cpu_of(pids) for role, pids in roles.items()}
        arrivals = sink.restart()
        results["delivered"] = {
            **counts,
            "received": len(arrivals),
            "accept_per_s": counts["ok"] / (accepted_at - started),
            "per_s": len(arrivals) / (arrivals[-1] - started) if arrivals else 0.0,
            "cpu_us_per_email": {
                role: harness.cpu_delta(cpu_before[role], cpu_after[role]) / counts["ok"] * 1e6
                for role in roles
            },
        }
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
        server.stop()
        store.close()

    print("messaging: baseline delivered (aiosmtplib straight to the sink)", flush=True)
    started = client.run_async(direct_smtp(sink.port, args.emails, args.smtp_connections))
    arrivals = sink.stop()
    results["smtp"] = {"received": len(arrivals), "per_s": len(arrivals) / (arrivals[-1] - started)}
    if args.keep:
        print(f"messaging: data dir kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)

    bare_r, acc, dlv, smtp = (
        results["bare"],
        results["accept"],
        results["delivered"],
        results["smtp"],
    )
    met = (
        "met"
        if acc["p99_ms"] is not None and acc["p99_ms"] < TARGET_ACCEPT_P99_MS
        else "**not met**"
    )
    met2 = "met" if dlv["per_s"] >= TARGET_DELIVERED_PER_S else "**not met**"
    print()
    print(f"{date}, commit {commit}, load average before {loadavg}")
    print()
    print("| measurement | load | result | baseline | vs baseline | target |")
    print("|---|---|---|---|---|---|")
    print(
        f"| accept `POST /v1/send/email` | {args.rate:g}/s open loop, {args.duration:g} s "
        f"after {args.warmup:g} s of warm-up "
        f"| p50 {acc['p50_ms']:.1f} ms, p99 {acc['p99_ms']:.1f} ms ({acc['measured']:,} measured, "
        f"{acc['ok']:,} ok with the warm-up, "
        f"{acc['not_2xx']} not 2xx, {acc['errors']} errors) "
        f"| bare app p50 {bare_r['p50_ms']:.1f} ms, p99 {bare_r['p99_ms']:.1f} ms "
        f"| {acc['p99_ms'] / bare_r['p99_ms']:.1f}x p99 "
        f"| p99 < {TARGET_ACCEPT_P99_MS:g} ms: {met} |"
    )
    print(
        f"| delivered to SMTP | {args.emails:,} sends, {args.connections} connections "
        f"| {dlv['per_s']:,.0f} emails/s ({dlv['received']:,} received; sends accepted at "
        f"{dlv['accept_per_s']:,.0f}/s) | sink fed directly: {smtp['per_s']:,.0f}/s "
        f"| {dlv['per_s'] / smtp['per_s']:.2f}x | >= {TARGET_DELIVERED_PER_S:,.0f}/s: {met2} |"
    )
    cpu = dlv["cpu_us_per_email"]
    shown = ", ".join(
        f"{role} {us:,.0f}" for role, us in sorted(cpu.items(), key=lambda kv: -kv[1])
    )
    total = sum(cpu.values())
    print()
    print(
        f"CPU per email in the delivered phase (µs): {shown}; total {total:,.0f} µs, so "
        f"{1e6 / total:,.0f} emails/s per core busy ({os.cpu_count()} cores here)"
    )
    print()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
