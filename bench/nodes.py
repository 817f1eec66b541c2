"""Many nodes on one PostgreSQL (issue 18): ingest with N = 1, 2, 4 API processes.

    .venv/bin/python bench/nodes.py                      # N = 1, 2, 4 on 127.0.0.1:5432
    .venv/bin/python bench/nodes.py --duration 10 --markdown nodes.md
    .venv/bin/python bench/nodes.py --nodes 1,2,4,8 --pg-url postgresql://postgres@db:5432/postgres

A node is one `tidings serve --database-url ...` process on a port of its own,
with the worker process it starts (`tidings worker --exit-with-parent`), as it
would run on a machine of its own. For each N in `--nodes` and each load in
`--loads`, the run makes a fresh PostgreSQL database (through `--pg-url`, a
database to connect to for CREATE DATABASE; dropped afterwards), migrates it,
creates one workspace, starts N nodes, identifies the `--customers` people
the load names (`--no-people-first`: the load creates them as it goes), and
drives every node with a wrk process of its own (`--connections` per node)
for `--duration` seconds after `--warmup` seconds. In the same run, each load
is also sent to one SQLite server (`tidings serve --data-dir`: server, writer
and worker processes), the single-process baseline every row is compared with.

Loads (bench/lua): `cdp-batch`, Pipelines `POST /v1/batch` with 100 track calls
as customerio-cdp-analytics sends them (a random messageId each); `single`,
Track v1 `POST /api/v1/customers/{id}/events`, one event a request.

CPU is read from /proc: the node set (every node's process tree), PostgreSQL
(the backends connected to the bench database, plus the cluster's background
processes: checkpointer, background writer, walwriter, autovacuum, which other
databases on the cluster share), the local nats-server processes in the `log`
rows (every one on the machine: a cluster's three nodes too), and the wrk
processes. With a PostgreSQL or NATS on another machine its CPU is not seen
and its columns stay empty. `total µs/ev` is the node set's, PostgreSQL's and
(in the `log` rows) NATS's per event.

How the rows are run is a table (MODES): a mode names the store, the extra
`tidings serve` flags, whether it runs once per N or once as the baseline,
and how many `tidings worker` processes run beside the nodes. `postgres`:
every node with its own worker process (the default of `tidings serve`);
`pg-1-worker`: nodes with `--no-background-workers` and one `tidings worker`;
`log`: every node publishes to the ingest log (`--ingest-log`, NATS JetStream,
a stream of the row's own), and the worker processes apply it: acknowledged
events are in the database only once applied, so the check waits up to
`--settle` seconds for them, and `stored/s` is the appliers' rate in the window.

Every store is checked after its nodes stop: the run fails (exit 1) when the
database holds fewer of the load's events than were acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # noqa: E402

EVENT_TYPES = "('event', 'page', 'screen', 'identify')"  # the calls' own rows, as bench/run.py


# --------------------------------------------------------------------------- what is run


@dataclass(frozen=True)
class Load:
    name: str
    script: str  # in bench/lua
    events_per_request: int
    auth: str  # "cdp" or "track", as bench/run.py
    connections: int  # default wrk connections per node


LOADS = {
    "cdp-batch": Load("cdp-batch", "cdp_batch.lua", 100, "cdp", 32),
    "single": Load("single", "single.lua", 1, "track", 64),
}


@dataclass(frozen=True)
class Mode:
    """One kind of row. A new way of running the nodes is one more entry in MODES."""

    name: str
    about: str
    store: str  # "sqlite": a data dir of its own; "postgres": a fresh database per row
    serve_args: tuple[str, ...] = ()  # extra `tidings serve` flags of every node
    baseline: bool = False  # run once with one node (the row others are compared with)
    # Acknowledged events may reach the database after the answer (e.g. through
    # a log and its appliers): the check waits for them, up to --settle seconds.
    applies_later: bool = False
    # `tidings worker` processes started beside the nodes (counted in the node set),
    # for nodes started with --no-background-workers.
    worker_processes: int = 0
    # Through the ingest log (`--ingest-log`, a NATS stream of the row's own, deleted
    # after it): every node and worker gets the log's flags.
    log: bool = False


MODES = (
    Mode("sqlite", "one SQLite server (server, writer and worker processes)", "sqlite", (), True),
    Mode("postgres", "N nodes, each writing its events to PostgreSQL in the request", "postgres"),
    Mode(
        "pg-1-worker",
        "N nodes without background workers, and one `tidings worker` for all",
        "postgres",
        ("--no-background-workers",),
        worker_processes=1,
    ),
    Mode(
        "log",
        "N nodes publishing to the ingest log (NATS JetStream), each node's worker applying",
        "postgres",
        applies_later=True,
        log=True,
    ),
)


# --------------------------------------------------------------------------- processes


class Node:
    """One `tidings serve` on a free port (its writer/worker processes are its children),
    or with `command="worker"` a `tidings worker` (no port)."""

    def __init__(
        self, store: list[str], serve_args: tuple[str, ...], log: Path, command: str = "serve"
    ) -> None:
        self.port = harness.free_port()
        self.log = log
        cmd = [sys.executable, "-m", "tidings", command, *store]
        if command == "serve":
            cmd += ["--port", str(self.port)]
        cmd += [*serve_args, "--log-level", "warning"]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=harness.ROOT
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        server = self.client()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"a node exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if server.request("GET", "/healthz", None)[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"a node was not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def client(self) -> harness.Server:
        """bench/run.py's request helper, pointed at this node's port."""
        server = harness.Server.__new__(harness.Server)
        server.port, server.kind = self.port, "tidings"
        return server

    def commits(self) -> float:
        """Group commits of this node's writer so far (its /metrics)."""
        counters = self.client().commit_counters()
        return counters[0] if counters else 0.0

    def pids(self) -> list[int]:
        return harness._tree(self.proc.pid) if self.proc.poll() is None else []

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


# --------------------------------------------------------------------------- stores


@dataclass
class Store:
    args: list[str]  # --data-dir or --database-url for `tidings` commands
    database: str | None = None  # the PostgreSQL database's name
    url: str | None = None  # psycopg URL of that database
    sqlite_path: Path | None = None

    def count_events(self) -> int:
        if self.sqlite_path is not None:
            return harness.count_events(self.sqlite_path) or 0
        return int(self._pg_value(f"SELECT count(*) FROM events WHERE type IN {EVENT_TYPES}"))

    def transactions(self) -> int | None:
        """Transactions committed on the bench database (all of them: the workers' too)."""
        if self.url is None:
            return None
        query = f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{self.database}'"
        return int(self._pg_value(query))

    def _pg_value(self, query: str) -> Any:
        import psycopg

        assert self.url is not None
        with psycopg.connect(self.url) as conn:
            # Cumulative statistics are read once per transaction: take a fresh look.
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(query).fetchone()
            assert row is not None
            return row[0]


@contextlib.contextmanager
def make_store(mode: Mode, args: argparse.Namespace, workdir: Path, tag: str) -> Iterator[Store]:
    if mode.store == "sqlite":
        data = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=workdir)) / "data"
        yield Store(["--data-dir", str(data)], sqlite_path=data / "tidings.sqlite3")
        return
    import psycopg

    admin = args.pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"tidings_nodes_{os.getpid()}_{tag}".replace("-", "_")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        yield Store(["--database-url", url], database=name, url=url)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def ingest_log(mode: Mode, args: argparse.Namespace, tag: str) -> Iterator[tuple[str, ...]]:
    """The ingest log's flags for a row of a `log` mode (none otherwise): a stream of the
    row's own, so no row applies another's messages, deleted once the row is done."""
    if not mode.log:
        yield ()
        return
    stream = f"BENCH_{os.getpid()}_{tag}".replace("-", "_")
    try:
        yield ("--ingest-log", args.ingest_log, "--ingest-stream", stream)
    finally:
        asyncio.run(_delete_stream(args.ingest_log, stream))


async def _delete_stream(url: str, stream: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    client = await nats.connect(url.split(","))
    try:
        with contextlib.suppress(NotFoundError):
            await client.jetstream().delete_stream(stream)
    finally:
        await client.close()


def prepare(store: Store) -> None:
    """Migrate and create the bench workspace once, before any node starts."""
    keys = ["--site-id", harness.SITE_ID, "--track-api-key", harness.TRACK_KEY]
    keys += ["--app-api-key", harness.APP_KEY, "--cdp-write-key", harness.CDP_KEY]
    for command in (["migrate"], ["workspace", "create", "--name", "bench", *keys]):
        cmd = [sys.executable, "-m", "tidings", *command, *store.args]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=harness.ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr}")


# --------------------------------------------------------------------------- load


@dataclass
class Wrk:
    proc: subprocess.Popen[bytes]
    out: IO[bytes]


def start_wrk(
    wrk: str, port: int, load: Load, args: argparse.Namespace, seconds: float, seed: int
) -> Wrk:
    connections = args.connections or load.connections
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={args.timeout}s",
        "-s",
        str(harness.LUA / load.script),
        f"http://127.0.0.1:{port}",
        "--",
        f"auth={harness.auth_header(load.auth)}",
        f"customers={args.customers}",
        f"seed={seed}",
        f"size={load.events_per_request}",
        "ids=0",
    ]
    out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish_wrk)
    return Wrk(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), out)


def finish_wrk(w: Wrk) -> tuple[dict[str, Any], float]:
    """Wait for one wrk; (its done() hook's numbers, its CPU seconds)."""
    _, status, usage = os.wait4(w.proc.pid, 0)
    w.proc.returncode = os.waitstatus_to_exitcode(status)
    w.out.seek(0)
    text = w.out.read().decode(errors="replace")
    w.out.close()
    for line in text.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.split(" ", 1)[1]), usage.ru_utime + usage.ru_stime
    raise RuntimeError(f"wrk printed no result (exit {w.proc.returncode}):\n{text}")


def drive(
    wrk: str, nodes: list[Node], load: Load, args: argparse.Namespace, seconds: float, seed: int
) -> tuple[list[dict[str, Any]], float]:
    """Every node loaded at once, each by a wrk of its own with a seed of its own (so
    the messageIds of different wrks differ)."""
    running = [
        start_wrk(wrk, node.port, load, args, seconds, seed * 100 + i)
        for i, node in enumerate(nodes)
    ]
    finished = [finish_wrk(w) for w in running]
    return [numbers for numbers, _ in finished], sum(cpu for _, cpu in finished)


def preflight(node: Node, load: Load) -> int:
    """One real request to a node before the load; the events it stored."""
    attrs = {"order_id": "ord_preflight", "price": 1.0, "currency": "USD"}
    server = node.client()
    if load.auth == "cdp":
        call = {"type": "track", "userId": "cust_1", "event": "purchase", "properties": attrs}
        status, body = server.request("POST", "/v1/batch", {"batch": [call, call]}, auth="cdp")
        events = 2
    else:
        path = "/api/v1/customers/cust_1/events"
        status, body = server.request("POST", path, {"name": "purchase", "data": attrs})
        events = 1
    if status != 200:
        raise RuntimeError(f"preflight answered {status}: {body[:200].decode(errors='replace')}")
    return events


def create_people(node: Node, customers: int) -> None:
    """Identify every customer id the load will use, before it: the load then measures
    events of known people, a service's steady state, instead of a fresh database's
    first minutes in which every batch also creates people."""
    server = node.client()
    for start in range(1, customers + 1, 500):
        calls = [
            {"type": "identify", "userId": f"cust_{i}", "traits": {"plan": "basic"}}
            for i in range(start, min(start + 500, customers + 1))
        ]
        status, body = server.request("POST", "/v1/batch", {"batch": calls}, auth="cdp")
        if status != 200:
            raise RuntimeError(f"identify answered {status}: {body[:200].decode(errors='replace')}")


# --------------------------------------------------------------------------- one row


@dataclass
class Row:
    mode: Mode
    load: Load
    nodes: int
    connections: int
    seconds: float = 0.0
    requests: int = 0
    status_errors: int = 0
    socket_errors: int = 0
    p50_ms: float = 0.0  # the highest of the nodes' wrks
    p99_ms: float = 0.0
    node_cpu: float = 0.0  # cores busy: all node processes
    pg_cpu: float | None = None  # cores busy: PostgreSQL's processes (None: not seen)
    nats_cpu: float | None = None  # cores busy: nats-server's processes (None: no log, not seen)
    wrk_cpu: float = 0.0
    machine_busy: float = 0.0  # share of all cores busy, every process on the machine
    commits: float = 0.0  # the nodes' writers' group commits in the window
    pg_transactions: int | None = None  # every transaction on the bench database, in the window
    stored_in_window: int = 0
    acked: int = 0  # warm-up and preflight included
    stored: int = 0  # the load's, after the nodes stopped (and the appliers caught up)
    notes: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        good = self.requests - self.status_errors
        return good * self.load.events_per_request / self.seconds if self.seconds else 0.0

    def us_per_event(self, cores: float | None) -> float | None:
        rate = self.events_per_s
        return None if cores is None or not rate else cores * 1e6 / rate

    @property
    def events_per_commit(self) -> float | None:
        return self.events_per_s * self.seconds / self.commits if self.commits else None

    @property
    def lost(self) -> bool:
        return self.stored < self.acked


def run_row(
    wrk: str, mode: Mode, load: Load, n: int, args: argparse.Namespace, workdir: Path, seed: int
) -> Row:
    conns = args.connections or load.connections
    row = Row(mode, load, n, conns * n)
    tag = f"{mode.name}-{load.name}-{n}"
    with make_store(mode, args, workdir, tag) as store, ingest_log(mode, args, tag) as log:
        prepare(store)
        nodes: list[Node] = []
        workers = [
            Node(store.args, log, workdir / f"{tag}-worker-{i}.log", command="worker")
            for i in range(mode.worker_processes)
        ]
        try:
            for i in range(n):  # one at a time: each is ready before the next starts
                serve_args = (*mode.serve_args, *log)
                nodes.append(Node(store.args, serve_args, workdir / f"{tag}-{i}.log"))
                nodes[-1].wait_ready()
            if args.people_first:
                create_people(nodes[0], args.customers)
            before_load = store.count_events()  # the people's own rows are not the load's
            row.acked = sum(preflight(node, load) for node in nodes)
            if args.warmup > 0:
                warm, _ = drive(wrk, nodes, load, args, args.warmup, seed + 50)
                row.acked += sum(
                    (w["requests"] - w["status_errors"]) * load.events_per_request for w in warm
                )
            stored_before, txn_before = store.count_events(), store.transactions()
            commits_before = sum(node.commits() for node in nodes)
            node_pids = [pid for node in nodes + workers for pid in node.pids()]
            node_before, pg_before = (
                harness.cpu_of(node_pids),
                harness.cpu_of(harness.postgres_pids(store.database)),
            )
            nats_before = harness.cpu_of(harness.pids_named("nats-server") if mode.log else [])
            busy_before = harness.machine_ticks()
            started = time.monotonic()
            numbers, wrk_cpu = drive(wrk, nodes, load, args, args.duration, seed)
            wall = time.monotonic() - started
            node_pids = [pid for node in nodes + workers for pid in node.pids()]
            node_after, pg_after = (
                harness.cpu_of(node_pids),
                harness.cpu_of(harness.postgres_pids(store.database)),
            )
            nats_after = harness.cpu_of(harness.pids_named("nats-server") if mode.log else [])
            busy_after = harness.machine_ticks()
            commits_after = sum(node.commits() for node in nodes)
            stored_after, txn_after = store.count_events(), store.transactions()
            if mode.applies_later:  # its appliers run in the nodes: wait before stopping them
                acked = row.acked + sum(
                    (w["requests"] - w["status_errors"]) * load.events_per_request for w in numbers
                )
                settle(store, before_load + acked, args.settle)
        finally:
            for node in nodes + workers:
                code = node.stop()
                if code not in (0, None, -signal.SIGTERM):
                    row.notes.append(f"a node exited with {code}: {node.log_tail(5)}")
        row.requests = sum(int(w["requests"]) for w in numbers)
        row.status_errors = sum(int(w["status_errors"]) for w in numbers)
        row.socket_errors = sum(
            int(w[k])
            for w in numbers
            for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        )
        row.seconds = max(w["duration_us"] for w in numbers) / 1e6
        row.p50_ms = max(float(w["latency_p50_us"]) for w in numbers) / 1000
        row.p99_ms = max(float(w["latency_p99_us"]) for w in numbers) / 1000
        row.node_cpu = harness.cpu_delta(node_before, node_after) / wall
        row.pg_cpu = harness.cpu_delta(pg_before, pg_after) / wall if pg_after else None
        row.nats_cpu = harness.cpu_delta(nats_before, nats_after) / wall if nats_after else None
        row.wrk_cpu = wrk_cpu / wall
        busy, total = (a - b for a, b in zip(busy_after, busy_before, strict=True))
        row.machine_busy = busy / total if total else 0.0
        row.commits = commits_after - commits_before
        if txn_before is not None and txn_after is not None:
            row.pg_transactions = txn_after - txn_before
        row.stored_in_window = stored_after - stored_before
        row.acked += (row.requests - row.status_errors) * load.events_per_request
        row.stored = settle(store, before_load + row.acked, 0.0) - before_load
    if not row.requests:
        row.notes.append("STALLED: no request was answered in the measured window")
    if row.status_errors:
        row.notes.append(f"{row.status_errors} responses were not 2xx")
    if row.socket_errors:
        row.notes.append(f"{row.socket_errors} socket errors or timeouts")
    if row.lost:
        row.notes.append(f"LOST WRITES: {row.acked:,} acknowledged, {row.stored:,} stored")
    return row


def settle(store: Store, acked: int, seconds: float) -> int:
    """The events in the store, polled until it holds `acked` or `seconds` pass."""
    deadline = time.monotonic() + seconds
    stored = store.count_events()
    while stored < acked and time.monotonic() < deadline:
        time.sleep(0.5)
        stored = store.count_events()
    return stored


# --------------------------------------------------------------------------- report

COLUMNS = (
    "mode",
    "load",
    "nodes",
    "conns",
    "events/s",
    "stored/s",
    "× 1 node",
    "× SQLite",
    "p50 ms",
    "p99 ms",
    "node CPU",
    "node µs/ev",
    "PG CPU",
    "PG µs/ev",
    "NATS CPU",
    "NATS µs/ev",
    "total µs/ev",
    "ev/commit",
    "PG txn/s",
    "wrk CPU",
    "machine busy",
)


def table(rows: list[Row]) -> list[list[str]]:
    def ratio(row: Row, base: Row | None) -> str:
        if base is None or base is row or not base.events_per_s:
            return ""
        return f"{row.events_per_s / base.events_per_s:.2f}"

    out = []
    for r in rows:
        one = next((b for b in rows if (b.mode, b.load, b.nodes) == (r.mode, r.load, 1)), None)
        sqlite = next((b for b in rows if b.mode.baseline and b.load == r.load), None)
        node_us, pg_us = r.us_per_event(r.node_cpu), r.us_per_event(r.pg_cpu)
        nats_us = r.us_per_event(r.nats_cpu)
        total_us = (node_us or 0.0) + (pg_us or 0.0) + (nats_us or 0.0)
        per_commit = r.events_per_commit
        txn_s = r.pg_transactions / r.seconds if r.pg_transactions and r.seconds else None
        out.append(
            [
                r.mode.name,
                r.load.name,
                str(r.nodes),
                str(r.connections),
                f"{r.events_per_s:,.0f}",
                f"{r.stored_in_window / r.seconds:,.0f}" if r.seconds else "",
                "" if r.mode.baseline else ratio(r, one),
                ratio(r, sqlite),
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{r.node_cpu:.2f}",
                f"{node_us:.1f}" if node_us is not None else "",
                f"{r.pg_cpu:.2f}" if r.pg_cpu is not None else "",
                f"{pg_us:.1f}" if pg_us is not None else "",
                f"{r.nats_cpu:.2f}" if r.nats_cpu is not None else "",
                f"{nats_us:.1f}" if nats_us is not None else "",
                f"{total_us:.1f}",
                f"{per_commit:.1f}" if per_commit is not None else "",
                f"{txn_s:,.0f}" if txn_s is not None else "",
                f"{r.wrk_cpu:.2f}",
                f"{r.machine_busy:.0%}",
            ]
        )
    return out


def doublings(rows: list[Row]) -> list[str]:
    """Each N against 2N of the same mode and load: the issue's 1.7 × per doubling."""
    lines = []
    for r in rows:
        twice = next(
            (b for b in rows if (b.mode, b.load, b.nodes) == (r.mode, r.load, 2 * r.nodes)), None
        )
        if twice is None or not r.events_per_s:
            continue
        gain = twice.events_per_s / r.events_per_s
        verdict = "met" if gain >= 1.7 else "NOT met"
        lines.append(
            f"{r.mode.name} {r.load.name}: {r.nodes} -> {twice.nodes} nodes: "
            f"{gain:.2f} × the events/s (>= 1.7: {verdict})"
        )
    return lines


def model(rows: list[Row]) -> list[str]:
    """The scaling model's inputs, measured at one node, and its prediction.

    A node costs `api` CPU µs per event, PostgreSQL `pg`; N nodes of c cores
    each on a PostgreSQL of P cores then take min(N·c/api, P/pg) events per
    µs. With two loads of different events per commit, PostgreSQL's cost is
    split into a part per event and a part per commit: pg = a + b / (events
    per commit), the writers' group commits counted from their /metrics."""
    ones = [
        r
        for r in rows
        if not r.mode.baseline and r.nodes == 1 and r.pg_cpu is not None and r.events_per_s
    ]
    lines = []
    for r in ones:
        api, pg = r.us_per_event(r.node_cpu), r.us_per_event(r.pg_cpu)
        assert api is not None and pg is not None
        lines.append(
            f"model, {r.mode.name} {r.load.name}: API side {api:.1f} µs/event, PostgreSQL "
            f"{pg:.1f} µs/event; N nodes of c cores, PostgreSQL on P cores: "
            f"min(N·c·{1e6 / api:,.0f}, P·{1e6 / pg:,.0f}) events/s"
        )
    for mode in {r.mode for r in ones}:
        fit = [r for r in ones if r.mode == mode and r.events_per_commit]
        if len(fit) < 2:
            continue
        small, large = sorted(fit, key=lambda r: r.events_per_commit or 0.0)[:2]
        ps, pl = small.us_per_event(small.pg_cpu), large.us_per_event(large.pg_cpu)
        ks, kl = small.events_per_commit, large.events_per_commit
        assert ps is not None and pl is not None and ks and kl
        if ks == kl:
            continue
        b = (ps - pl) / (1 / ks - 1 / kl)  # ps = a + b / ks, pl = a + b / kl
        a = pl - b / kl
        lines.append(
            f"model, {mode.name}: PostgreSQL µs/event = {a:.1f} per event + {b:.0f} per commit "
            f"/ events per commit (from {small.load.name}, {ks:.1f} events/commit, and "
            f"{large.load.name}, {kl:.1f})"
        )
    return lines


def plain(cells: list[list[str]]) -> str:
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def markdown(cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default="1,2,4", help="node counts, comma-separated (1,2,4)")
    parser.add_argument(
        "--loads", default="cdp-batch,single", help=f"of {', '.join(LOADS)} (cdp-batch,single)"
    )
    parser.add_argument(
        "--modes", default=",".join(m.name for m in MODES), help="rows kinds to run (all)"
    )
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument(
        "--ingest-log",
        default="nats://127.0.0.1:4222",
        help="NATS URLs for the `log` rows (nats://127.0.0.1:4222)",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds measured (10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured load (3)")
    parser.add_argument(
        "--connections",
        type=int,
        default=0,
        help="wrk connections per node (default: 32 for cdp-batch, 64 for single)",
    )
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout, s (10)")
    parser.add_argument("--customers", type=int, default=1000, help="distinct customer ids (1000)")
    parser.add_argument(
        "--settle",
        type=float,
        default=60,
        help="seconds the check waits for events applied after the answer (60)",
    )
    parser.add_argument(
        "--no-people-first",
        dest="people_first",
        action="store_false",
        help="do not identify the customers before the load (the load then creates them)",
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write a Markdown report")
    parser.add_argument("--keep", action="store_true", help="keep the node logs")
    args = parser.parse_args(argv)
    args.node_counts = sorted({int(n) for n in args.nodes.split(",") if n.strip()})
    if not args.node_counts or min(args.node_counts) < 1:
        parser.error("--nodes: positive numbers, e.g. 1,2,4")
    args.load_list = [LOADS[n] for n in args.loads.split(",") if _known(parser, n, LOADS)]
    modes = {m.name: m for m in MODES}
    args.mode_list = [modes[n] for n in args.modes.split(",") if _known(parser, n, modes)]
    return args


def _known(parser: argparse.ArgumentParser, name: str, known: dict[str, Any]) -> bool:
    if name not in known:
        parser.error(f"unknown {name!r}; choose from {', '.join(known)}")
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = harness.ensure_wrk()
    machine = harness.machine_description(wrk)
    machine["server"] = (
        "a node: one `tidings serve` process and the worker process it starts; "
        "the SQLite baseline: server, writer and worker processes"
    )
    machine["load average before"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print("nodes: " + "; ".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="tidings-nodes-"))
    rows: list[Row] = []
    seed = 1
    try:
        for load in args.load_list:
            for mode in args.mode_list:
                for n in [1] if mode.baseline else args.node_counts:
                    print(f"nodes: {mode.name} {load.name} N={n} ...", end=" ", flush=True)
                    row = run_row(wrk, mode, load, n, args, workdir, seed)
                    seed += 1
                    rows.append(row)
                    print(
                        f"{row.events_per_s:,.0f} events/s, p99 {row.p99_ms:.1f} ms, "
                        f"node CPU {row.node_cpu:.2f}, PG CPU "
                        + (f"{row.pg_cpu:.2f}" if row.pg_cpu is not None else "-")
                        + (f", NATS CPU {row.nats_cpu:.2f}" if row.nats_cpu is not None else "")
                        + f", wrk CPU {row.wrk_cpu:.2f}"
                        + "".join(f"; {note}" for note in row.notes),
                        flush=True,
                    )
    finally:
        if args.keep:
            print(f"nodes: node logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    machine["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cells = table(rows)
    notes = [f"{r.mode.name} {r.load.name} N={r.nodes}: {n}" for r in rows for n in r.notes]
    notes += [
        f"{r.mode.name} {r.load.name} N={r.nodes}: {r.acked:,} events acknowledged "
        f"(preflight and warm-up included), {r.stored:,} of the load's in the database "
        "after the nodes stopped"
        for r in rows
    ]
    findings = doublings(rows) + model(rows)
    print()
    print(plain(cells))
    for line in findings:
        print("result: " + line)
    for note in notes:
        print("note: " + note)
    if args.markdown:
        text = [f"Measured {machine['date']} at commit {machine['commit']}.", ""]
        text += [f"- {k}: {v}" for k, v in machine.items() if k not in ("date", "commit")]
        text += [
            f"- load: {args.duration:g} s measured after {args.warmup:g} s warm-up, one wrk "
            f"(one thread) per node, {args.customers:,} customer ids; p50/p99: the highest "
            "of the nodes' wrks",
            "",
            markdown(cells),
            "",
        ]
        text += [f"- {line}" for line in findings + notes]
        Path(args.markdown).write_text("\n".join(text) + "\n")
    return 1 if any(r.lost for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
