"""Tidings ingest benchmarks: one command, baselines measured in the same run.

    .venv/bin/python bench/run.py                 # everything (or: make bench)
    .venv/bin/python bench/run.py single          # single-event ingest and its baseline
    .venv/bin/python bench/run.py batch --duration 20 --repeat 3

Benchmarks (each on a freshly started server with a fresh temporary data dir):

  bare        bench/bare.py (an ASGI app that reads the body and answers {}) under
              the same uvicorn settings as `tidings serve`, fed the single-event load
  single      Track v1 `POST /api/v1/customers/{id}/events`, ~300-byte bodies,
              random customer ids; every 200 means committed (SQLite, WAL,
              synchronous=FULL)
  nowrite     diagnostic: the real Tidings app on the single-event load with its
              database write replaced by a no-op (bench/nowrite.py): the ceiling
              the app layer (routing, auth, JSON, logging) leaves for `single`
  bare-batch  the bare app fed the v2 batch load (same bodies as `batch`)
  batch       Track v2 `POST /api/v2/batch`, 100 person event operations/request
  cdp-batch   Pipelines `POST /v1/batch`, 100 track calls/request shaped as
              customerio-cdp-analytics sends them (context, ISO timestamps, a
              random UUID messageId each); its baseline is `bare-batch`
  cdp-mixed   the same with every tenth call an identify (traits: email, name,
              plan, and a last_login that changes every second)

Asking for `single` or `nowrite` also runs `bare`, and `batch`, `cdp-batch` or
`cdp-mixed` also runs `bare-batch`, right before it, so every ratio compares numbers measured a
minute apart on the same machine with the same uvicorn and the same wrk
(`--no-baseline` skips them). With `--repeat N` the table shows the median
round and the median of the per-round ratios.

Every tidings server's database is checked after shutdown: the run fails
(exit 1) if it holds fewer events than were acknowledged.

The load generator is wrk (Debian's package; installed with apt-get when
missing), one thread by default because the machine may have only 2 cores. Its
own CPU use is reported next to the server's so it is visible when wrk, rather
than the server, is the limit.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "lua"

SITE_ID = "bench-site"
TRACK_KEY = "bench-track-key"
APP_KEY = "bench-app-key-0123456789abcdef"
CDP_KEY = "bench-cdp-write-key"

SINGLE_TARGET_RATIO = 0.3  # single-event req/s as a share of the bare app's
BATCH_TARGET_OPS = 50_000  # v2 batch operations/s
CDP_BATCH_TARGET_OPS = 100_000  # Pipelines batch events/s

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Bench:
    name: str
    server: str  # "bare" | "tidings" | "nowrite"
    script: str  # lua file in bench/lua
    ops_per_request: int
    baseline: str | None
    about: str
    auth: str = "track"  # "track": Basic site_id:key; "cdp": Basic write_key:


def benches(batch_size: int) -> dict[str, Bench]:
    return {
        b.name: b
        for b in (
            Bench("bare", "bare", "single.lua", 1, None, "bare ASGI app, single-event load"),
            Bench("single", "tidings", "single.lua", 1, "bare", "Track v1 single event"),
            Bench(
                "nowrite",
                "nowrite",
                "single.lua",
                1,
                "bare",
                "diagnostic: single event, the database write skipped",
            ),
            Bench("bare-batch", "bare", "batch.lua", batch_size, None, "bare ASGI app, batch load"),
            Bench("batch", "tidings", "batch.lua", batch_size, "bare-batch", "Track v2 batch"),
            Bench(
                "cdp-batch",
                "tidings",
                "cdp_batch.lua",
                batch_size,
                "bare-batch",
                "Pipelines /v1/batch",
                auth="cdp",
            ),
            Bench(
                "cdp-mixed",
                "tidings",
                "cdp_mixed.lua",
                batch_size,
                "bare-batch",
                "Pipelines /v1/batch, one identify per ten calls",
                auth="cdp",
            ),
        )
    }


@dataclass
class Result:
    bench: Bench
    connections: int
    requests: int = 0
    seconds: float = 0.0
    status_errors: int = 0
    socket_errors: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    server_cpu: float = 0.0  # share of one core, 1.0 = one core busy
    wrk_cpu: float = 0.0
    machine_busy: float = 0.0  # share of all cores busy (every process on the machine)
    writes_per_commit: float | None = None
    stored: int | None = None
    acked: int | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_us_per_op(self) -> float:
        """Server CPU (its child processes included) per operation, in microseconds:
        steadier than the rate on a shared machine, where the rate also waits on
        whatever else runs."""
        return self.server_cpu * 1e6 / self.ops if self.ops else 0.0

    @property
    def rps(self) -> float:
        return (self.requests - self.status_errors) / self.seconds if self.seconds else 0.0

    @property
    def ops(self) -> float:
        return self.rps * self.bench.ops_per_request


# --------------------------------------------------------------------------- setup


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk not found; installing Debian's package (apt-get install -y wrk)", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [*sudo, "apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench: wrk is still missing after apt-get install")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def auth_header(kind: str = "track") -> str:
    user, password = (CDP_KEY, "") if kind == "cdp" else (SITE_ID, TRACK_KEY)
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class Server:
    """One server process on a free port, with its own temporary data dir."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        serve_args: tuple[str, ...] = (),
        database_url: str | None = None,
    ) -> None:
        self.kind = kind
        self.serve_args = serve_args  # extra `tidings serve` flags
        self.database_url = database_url  # a store other than SQLite in the data dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
        self.log_path = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def store_args(self) -> list[str]:
        """The store flags for `tidings` commands on this server's store."""
        if self.database_url:
            return ["--database-url", self.database_url]
        return ["--data-dir", str(self.dir / "data")]

    @property
    def db_path(self) -> Path:
        return self.dir / "data" / "tidings.sqlite3"

    def start(self) -> None:
        py = sys.executable
        if self.kind in ("tidings", "nowrite"):
            data = str(self.dir / "data")
            store = self.store_args()
            subprocess.run(
                [
                    py,
                    "-m",
                    "tidings",
                    "workspace",
                    "create",
                    *store,
                    "--name",
                    "bench",
                    "--site-id",
                    SITE_ID,
                    "--track-api-key",
                    TRACK_KEY,
                    "--app-api-key",
                    APP_KEY,
                    "--cdp-write-key",
                    CDP_KEY,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                cwd=ROOT,
            )
            cmd = [py, "-m", "tidings", "serve", *store, "--port", str(self.port)]
            cmd += self.serve_args
            if self.kind == "nowrite":
                cmd = [py, str(HERE / "nowrite.py"), "--data-dir", data, "--port", str(self.port)]
        else:
            cmd = [py, str(HERE / "bare.py"), "--port", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        path = "/" if self.kind == "bare" else "/healthz"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = self.request("GET", path, None)
                if status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} server not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def request(self, method: str, path: str, body: Any, auth: str = "track") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Authorization": "Basic " + auth_header(auth)}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def cpu_seconds(self) -> float:
        """CPU time of the server and its child processes (the writer process)."""
        assert self.proc is not None
        return sum(_process_cpu(pid) for pid in _tree(self.proc.pid))

    def commit_counters(self) -> tuple[float, float] | None:
        if self.kind == "bare":
            return None
        try:
            status, body = self.request("GET", "/metrics", None)
        except OSError:
            return None
        if status != 200:
            return None
        values: dict[str, float] = {}
        for line in body.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                with contextlib.suppress(ValueError):
                    values[parts[0]] = float(parts[1])
        try:
            return values["tidings_commit_batches_total"], values["tidings_committed_writes_total"]
        except KeyError:
            return None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _tree(pid: int) -> list[int]:
    """`pid` and every live descendant of it."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += _tree(int(child))
    return found


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def cpu_of(pids: list[int]) -> dict[int, float]:
    return {pid: _process_cpu(pid) for pid in pids}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots; a process started between them counts whole.
    A process that ended between them loses what it used after `before`."""
    return sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())


def postgres_pids(database: str | None) -> list[int]:
    """Local PostgreSQL processes: the backends of `database` and the cluster's
    background processes (whose work every database shares)."""
    if database is None:
        return []
    found = []
    for pid in pids_named("postgres"):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            client = "(" in cmdline or "[local]" in cmdline
            if not client or database in cmdline.split():
                found.append(pid)
    return found


def pids_named(name: str) -> list[int]:
    """The local processes whose command name (`/proc/<pid>/comm`) is `name`."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # leave out guest time, already counted in user
    return total - idle, total


# --------------------------------------------------------------------------- wrk


def run_wrk(
    wrk: str, url: str, bench: Bench, args: argparse.Namespace, seconds: float, seed: int
) -> tuple[dict[str, Any], float]:
    """Run wrk once; returns (the done() hook's numbers, wrk's CPU seconds)."""
    connections = args.batch_connections if bench.ops_per_request > 1 else args.connections
    cmd = [
        wrk,
        f"-t{args.threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={args.timeout}s",
        "-s",
        str(LUA / bench.script),
        url,
        "--",
        f"auth={auth_header(bench.auth)}",
        f"customers={args.customers}",
        f"seed={seed}",
        f"size={bench.ops_per_request}",
        f"ids={1 if args.event_ids else 0}",
    ]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.split(" ", 1)[1]), usage.ru_utime + usage.ru_stime
    raise RuntimeError(f"wrk printed no result (exit {proc.returncode}):\n{text}")


# --------------------------------------------------------------------------- one benchmark


def preflight(server: Server, bench: Bench) -> str | None:
    """One real request before the load; a reason to skip if it is not answered 200."""
    if bench.server == "bare":
        return None
    attrs = {"order_id": "ord_preflight", "price": 1.0, "currency": "USD"}
    if bench.script == "single.lua":
        status, body = server.request(
            "POST", "/api/v1/customers/cust_1/events", {"name": "purchase", "data": attrs}
        )
    elif bench.auth == "cdp":
        call = {"type": "track", "userId": "cust_1", "event": "purchase", "properties": attrs}
        status, body = server.request("POST", "/v1/batch", {"batch": [call, call]}, auth="cdp")
    else:
        op = {
            "type": "person",
            "identifiers": {"id": "cust_1"},
            "action": "event",
            "name": "purchase",
            "attributes": attrs,
        }
        status, body = server.request("POST", "/api/v2/batch", {"batch": [op, op]})
    if status != 200:
        return f"preflight answered {status} {body[:200].decode(errors='replace')}"
    return None


def count_events(db_path: Path) -> int | None:
    if not db_path.exists():
        return None
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        # Only the calls' own rows: the log also records attribute changes.
        query = "SELECT count(*) FROM events WHERE type IN ('event', 'page', 'screen', 'identify')"
        return int(conn.execute(query).fetchone()[0])
    finally:
        conn.close()


def run_one(wrk: str, bench: Bench, args: argparse.Namespace, workdir: Path, seed: int) -> Result:
    connections = args.batch_connections if bench.ops_per_request > 1 else args.connections
    result = Result(bench, connections)
    server = Server(bench.server, workdir)
    server.start()
    try:
        reason = preflight(server, bench)
        if reason:
            result.skipped = reason
            return result
        url = f"http://127.0.0.1:{server.port}"
        acked = 1 if bench.script == "single.lua" else 2  # the preflight's events
        if args.warmup > 0:
            warm, _ = run_wrk(wrk, url, bench, args, args.warmup, seed + 1000)
            acked += (warm["requests"] - warm["status_errors"]) * bench.ops_per_request
        commits_before = server.commit_counters()
        cpu_before, busy_before = server.cpu_seconds(), machine_ticks()
        started = time.monotonic()
        numbers, wrk_cpu = run_wrk(wrk, url, bench, args, args.duration, seed)
        wall = time.monotonic() - started
        cpu_after, busy_after = server.cpu_seconds(), machine_ticks()
        commits_after = server.commit_counters()

        result.requests = int(numbers["requests"])
        result.seconds = numbers["duration_us"] / 1e6
        result.status_errors = int(numbers["status_errors"])
        result.socket_errors = sum(
            int(numbers[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        )
        for pct in ("50", "90", "99", "999"):
            setattr(result, f"p{pct}_ms", float(numbers[f"latency_p{pct}_us"]) / 1000)
        result.server_cpu = (cpu_after - cpu_before) / wall
        result.wrk_cpu = wrk_cpu / wall
        busy = busy_after[0] - busy_before[0]
        total = busy_after[1] - busy_before[1]
        result.machine_busy = busy / total if total else 0.0
        if commits_before and commits_after:
            batches = commits_after[0] - commits_before[0]
            writes = commits_after[1] - commits_before[1]
            result.writes_per_commit = writes / batches if batches else None
        acked += (result.requests - result.status_errors) * bench.ops_per_request
        result.acked = acked
        if result.status_errors:
            result.notes.append(f"{result.status_errors} responses were not 2xx")
        if result.socket_errors:
            result.notes.append(f"{result.socket_errors} socket errors or timeouts")
    finally:
        code = server.stop()
        if code not in (0, None, -signal.SIGTERM):
            result.notes.append(f"server exited with {code}: {server.log_tail(5)}")
    if bench.server == "tidings" and result.skipped is None:
        result.stored = count_events(server.db_path)
        if result.stored is not None and result.acked is not None and result.stored < result.acked:
            result.notes.append(f"LOST WRITES: {result.acked} acknowledged, {result.stored} stored")
    if not args.keep:
        shutil.rmtree(server.dir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def median_result(results: list[Result]) -> Result:
    """The run with the median throughput (the lower middle one for an even count)."""
    ranked = sorted(results, key=lambda r: r.rps)
    return ranked[(len(ranked) - 1) // 2]


def round_ratios(runs: dict[str, list[Result]]) -> dict[str, float]:
    """Each benchmark's throughput over its baseline's, per round, then the median.

    A baseline and its benchmark run back to back, so a ratio taken within a
    round cancels most of the drift in what else the shared machine is doing.
    """
    ratios: dict[str, float] = {}
    for name, results in runs.items():
        if not results or results[0].bench.baseline not in runs:
            continue
        base_runs = runs[results[0].bench.baseline or ""]
        values = [
            r.rps / b.rps
            for r, b in zip(results, base_runs, strict=False)
            if not r.skipped and not b.skipped and b.rps
        ]
        if values:
            ratios[name] = statistics.median(values)
    return ratios


def verdict(result: Result, ratios: dict[str, float]) -> tuple[str, str]:
    """(ratio to its baseline, target and whether it is met)."""
    ratio = ""
    value = ratios.get(result.bench.name)
    if value is not None:
        ratio = f"{value:.3f}x {result.bench.baseline}"
    elif result.bench.baseline is None:
        ratio = "baseline"
    target = ""
    if result.bench.name == "single":
        if value is not None:
            met = value >= SINGLE_TARGET_RATIO
            target = f">= {SINGLE_TARGET_RATIO:.2f}x bare: {'met' if met else 'NOT met'}"
        else:
            target = f">= {SINGLE_TARGET_RATIO:.2f}x bare: baseline not run"
    elif result.bench.name == "batch":
        met = result.ops >= BATCH_TARGET_OPS
        target = f">= {BATCH_TARGET_OPS:,} ops/s: {'met' if met else 'NOT met'}"
    elif result.bench.name == "cdp-batch":
        met = result.ops >= CDP_BATCH_TARGET_OPS
        target = f">= {CDP_BATCH_TARGET_OPS:,} events/s: {'met' if met else 'NOT met'}"
    return ratio, target


COLUMNS = (
    "benchmark",
    "conns",
    "req/s",
    "ops/s",
    "p50 ms",
    "p99 ms",
    "server CPU",
    "CPU µs/op",
    "wrk CPU",
    "machine busy",
    "writes/commit",
    "vs baseline",
    "target",
)


def rows(
    results: list[Result], spread: dict[str, str], ratios: dict[str, float]
) -> list[list[str]]:
    out = []
    for r in results:
        if r.skipped:
            out.append(
                [r.bench.name, str(r.connections), "skipped"]
                + [""] * (len(COLUMNS) - 4)
                + [r.skipped]
            )
            continue
        ratio, target = verdict(r, ratios)
        rps = f"{r.rps:,.0f}" + spread.get(r.bench.name, "")
        out.append(
            [
                r.bench.name,
                str(r.connections),
                rps,
                f"{r.ops:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.server_cpu:.0%}",
                f"{r.cpu_us_per_op:.1f}",
                f"{r.wrk_cpu:.0%}",
                f"{r.machine_busy:.0%}",
                f"{r.writes_per_commit:.1f}" if r.writes_per_commit else "",
                ratio,
                target,
            ]
        )
    return out


def plain_table(table: list[list[str]]) -> str:
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def markdown_table(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def terminate(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM, then wait (SIGKILL after a minute): the seconds it took to exit."""
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.monotonic() - began


def announce(name: str) -> tuple[str, str, str]:
    """Print a bench's first line (the date, the commit, the load average before) and
    return those three."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{name}: {date}, commit {commit}, load average before {loadavg}", flush=True)
    return date, commit, loadavg


def cpu_model() -> str:
    """The machine's processor as /proc/cpuinfo names it ("?" when it does not)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def machine_description(wrk: str) -> dict[str, str]:
    cpu = cpu_model()
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "?",
        "cpu": f"{os.cpu_count()} x {cpu} (shared by the server, wrk and anything else running)",
        "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "server": f"uvicorn {version_of('uvicorn')}, httptools {version_of('httptools')}, "
        f"uvloop {version_of('uvloop')}, one server process (with its writer and worker processes)",
        "sqlite": f"{sqlite3.sqlite_version}, WAL, synchronous=FULL (a 200 means fsynced)",
        "wrk": (wrk_version.splitlines() or ["?"])[0].split(" Copyright")[0],
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="BENCH",
        help="bare, single, nowrite, bare-batch, batch, cdp-batch, cdp-mixed (default: all)",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds measured (10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured load (3)")
    # Enough concurrency to saturate the server under test: a group-commit
    # server's rate is connections / latency until its CPU is the limit, and
    # each request waits for a commit (docs/benchmarks.md, "Concurrency").
    parser.add_argument(
        "--connections", type=int, default=256, help="wrk connections for single-event loads"
    )
    parser.add_argument(
        "--batch-connections", type=int, default=64, help="wrk connections for batch loads"
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout, s (10)")
    parser.add_argument(
        "--customers",
        type=int,
        default=1000,
        help="distinct customer ids the load picks from (1000)",
    )
    parser.add_argument("--batch-size", type=int, default=100, help="operations per batch (100)")
    parser.add_argument(
        "--event-ids",
        action="store_true",
        help="give every event a unique `id` (exercises deduplication)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run everything N times, report the median run (1)"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="do not add the bare baselines of the benchmarks asked for",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="also write a Markdown report")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace, known: dict[str, Bench]) -> list[Bench]:
    names = args.names or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"bench: unknown benchmark {', '.join(unknown)}; choose from {', '.join(known)}")
    chosen: list[str] = []
    for name in names:
        baseline = known[name].baseline
        if baseline and not args.no_baseline and baseline not in chosen:
            chosen.append(baseline)
        if name not in chosen:
            chosen.append(name)
    return [known[n] for n in chosen]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    known = benches(args.batch_size)
    order = plan(args, known)
    wrk = ensure_wrk()
    machine = machine_description(wrk)
    print("bench: " + "; ".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    print(
        f"bench: {args.duration:g}s measured after {args.warmup:g}s warm-up per benchmark, "
        f"wrk -t{args.threads}, {args.connections} connections (batches: "
        f"{args.batch_connections}), {args.customers} customers, repeat {args.repeat}",
        flush=True,
    )
    runs: dict[str, list[Result]] = {b.name: [] for b in order}
    tmp = tempfile.mkdtemp(prefix="tidings-bench-")
    try:
        for round_ in range(args.repeat):
            for bench in order:
                label = f"[{round_ + 1}/{args.repeat}] {bench.name}"
                print(f"bench: {label}: {bench.about} ...", end=" ", flush=True)
                result = run_one(wrk, bench, args, Path(tmp), seed=round_ + 1)
                runs[bench.name].append(result)
                if result.skipped:
                    print(f"skipped ({result.skipped})", flush=True)
                else:
                    print(
                        f"{result.rps:,.0f} req/s, {result.ops:,.0f} ops/s, "
                        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                        f"server CPU {result.server_cpu:.0%} "
                        f"({result.cpu_us_per_op:.1f} µs/op), wrk CPU {result.wrk_cpu:.0%}"
                        + (
                            f", writes/commit {result.writes_per_commit:.1f}"
                            if result.writes_per_commit
                            else ""
                        )
                        + "".join(f"; {n}" for n in result.notes),
                        flush=True,
                    )
    finally:
        if args.keep:
            print(f"bench: data dirs and server logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    chosen = [median_result(runs[b.name]) for b in order]
    spread = {}
    if args.repeat > 1:
        for name, results in runs.items():
            values = [r.rps for r in results if not r.skipped]
            if values:
                spread[name] = f" ({min(values):,.0f}-{max(values):,.0f})"
    table = rows(chosen, spread, round_ratios(runs))
    print()
    print(plain_table(table))
    notes = [f"{r.bench.name}: {n}" for r in chosen for n in r.notes]
    for r in chosen:
        if r.stored is not None and r.acked is not None:
            notes.append(
                f"{r.bench.name}: {r.acked:,} events acknowledged (warm-up included), "
                f"{r.stored:,} in the database after shutdown"
            )
    for note in notes:
        print("note: " + note)
    if args.json:
        payload = {
            "machine": machine,
            "settings": {k: v for k, v in vars(args).items() if k not in ("json", "markdown")},
            "runs": {
                name: [
                    {
                        **{k: v for k, v in vars(r).items() if k != "bench"},
                        "rps": r.rps,
                        "ops": r.ops,
                        "cpu_us_per_op": r.cpu_us_per_op,
                    }
                    for r in results
                ]
                for name, results in runs.items()
            },
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    if args.markdown:
        text = [f"Measured {machine['date']} at commit {machine['commit']}.", ""]
        text += [f"- {k}: {v}" for k, v in machine.items() if k not in ("date", "commit")]
        text += [
            f"- load: {args.duration:g} s measured after {args.warmup:g} s warm-up, "
            f"wrk -t{args.threads}, {args.connections} connections "
            f"({args.batch_connections} for batches), {args.customers:,} customer ids, "
            f"median of {args.repeat} run(s)",
            "",
            markdown_table(table),
            "",
        ]
        text += [f"- {n}" for n in notes]
        Path(args.markdown).write_text("\n".join(text) + "\n")
    lost = any("LOST WRITES" in n for n in notes)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
