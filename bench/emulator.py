"""The emulator (issue 20): start to first answered request, and reset with 10,000
people, each against a baseline measured in the same run.

    .venv/bin/python bench/emulator.py                      # both, defaults below
    .venv/bin/python bench/emulator.py --starts 20 --resets 10 --people 10000

1. start: `--starts` times (10), spawn `python -m tidings emulate` on two free
   ports picked here and passed (`--port`, `--tls-port`), and time from just
   before the spawn to the first 200 of `GET /healthz` on the http port: the
   client connects every 5 ms until the port listens, then waits for the
   answer (the port is bound before the app serves, so the request may wait in
   the backlog). Also noted: when the JSON line arrived on stdout, and how long
   the process took to exit after SIGTERM. Baseline, alternating with it: the
   same for a `python -c` process that binds the port, prints a line and
   answers each connection with a fixed HTTP 200 (socket and json only): the
   floor of starting Python and connecting. Target: under 1 s.
2. reset: one emulator (`--apply` with a segment `plan = "pro"`, a
   transactional message and a campaign triggered by `signed_up`); each round
   loads `--people` people (10,000) with four attributes and two events each
   through Track v2 `/api/v2/batch` (100 operations a request, 4 connections),
   gives a tenth of them a `signed_up` event (the campaign's journeys and
   emails), sends `--emails` transactional emails (200), drains
   (`POST /_emulator/drain`: segment membership, journeys, captured
   messages), then times `POST /_emulator/reset`. Baselines, right after each
   timed reset: the same reset on the now-empty workspace, and `GET /healthz`,
   over the same keep-alive connection. Target: under 50 ms.

The table gives medians with (min-max); the last line is the results as JSON.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402  (bench/run.py: free ports, machine helpers)

TARGET_START_S = 1.0
TARGET_RESET_MS = 50.0
POLL_S = 0.005  # between connection attempts while the port does not listen yet

# A minimal HTTP server: the floor of starting Python, binding and answering.
BARE = """
import json, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
print(json.dumps({"url": "http://127.0.0.1:" + sys.argv[1]}), flush=True)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\nconnection: close\\r\\n\\r\\n{}")
    c.close()
"""

WORKSPACE = {
    "segments": [
        {
            "name": "Pros",
            "conditions": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        }
    ],
    "transactional_messages": [
        {
            "name": "Receipt",
            "trigger_name": "receipt",
            "channel": "email",
            "contents": {
                "": {
                    "from": "shop@example.test",
                    "subject": "Order {{ trigger.order_id }}",
                    "body": "<p>Hi {{ customer.first_name }}, order {{ trigger.order_id }}.</p>",
                }
            },
        }
    ],
    "campaigns": [
        {
            "name": "Welcome",
            "state": "running",
            "trigger": {"event": {"name": "signed_up"}},
            "workflow": [
                {
                    "email": {
                        "from": "shop@example.test",
                        "subject": "Hi {{ customer.first_name }}",
                        "body": "<p>hi</p>",
                    }
                }
            ],
        }
    ],
}  # JSON is YAML


# --------------------------------------------------------------------------- start


def spawn_emulator(port: int, tls_port: int, apply: Path | None = None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tidings", "emulate", "--port", str(port)]
    cmd += ["--tls-port", str(tls_port)] + (["--apply", str(apply)] if apply else [])
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=harness.ROOT
    )


def spawn_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", BARE, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=harness.ROOT,
    )


def first_answer(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    """Connect every POLL_S until `GET /healthz` answers 200; the time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode} before answering")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return time.monotonic()
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(POLL_S)
    raise RuntimeError(f"no 200 from port {port} within {timeout:g} s")


class LineTime(threading.Thread):
    """Reads the process's stdout; `at` is when its first line arrived, `line` the line."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.at: float | None = None
        self.line = b""

    def run(self) -> None:
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline()
        self.at = time.monotonic()
        self.proc.stdout.read()  # until it exits, so it never blocks on a full pipe


def one_start(kind: str) -> dict[str, float]:
    port, tls_port = harness.free_port(), harness.free_port()
    began = time.monotonic()
    proc = spawn_emulator(port, tls_port) if kind == "emulator" else spawn_bare(port)
    reader = LineTime(proc)
    reader.start()
    try:
        answered = first_answer(port, proc)
    except RuntimeError:
        harness.terminate(proc)
        raise
    reader.join(timeout=10)  # the line comes before the first answer, or just after it
    exit_s = harness.terminate(proc)
    line_s = reader.at - began if reader.at is not None else float("nan")
    return {"answer_s": answered - began, "line_s": line_s, "exit_s": exit_s}


def starts(rounds: int) -> dict[str, list[dict[str, float]]]:
    """Alternating bare and emulator starts, so drift in the machine hits both."""
    results: dict[str, list[dict[str, float]]] = {"bare": [], "emulator": []}
    one_start("emulator")  # unmeasured: the first run pays for cold file caches
    for i in range(rounds):
        for kind in ("bare", "emulator") if i % 2 == 0 else ("emulator", "bare"):
            results[kind].append(one_start(kind))
        last = results["emulator"][-1]
        print(
            f"emulator bench: start {i + 1}/{rounds}: emulator {last['answer_s'] * 1000:.0f} ms "
            f"(line {last['line_s'] * 1000:.0f}), "
            f"bare {results['bare'][-1]['answer_s'] * 1000:.0f} ms",
            flush=True,
        )
    return results


# --------------------------------------------------------------------------- reset


class Client:
    """One keep-alive connection to the emulator, with its keys."""

    def __init__(self, port: int, keys: dict[str, Any]) -> None:
        self.port = port
        self.keys = keys
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        track = f"{keys['site_id']}:{keys['track_api_key']}".encode()
        self.track_auth = "Basic " + base64.b64encode(track).decode()
        self.app_auth = "Bearer " + keys["app_api_key"]

    def call(
        self, method: str, path: str, body: Any = None, auth: str = "app"
    ) -> tuple[int, bytes]:
        headers = {"Authorization": self.app_auth if auth == "app" else self.track_auth}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def must(self, method: str, path: str, body: Any = None, auth: str = "app") -> bytes:
        status, answer = self.call(method, path, body, auth)
        if status >= 300:
            raise RuntimeError(f"{method} {path} answered {status}: {answer[:300]!r}")
        return answer

    def timed(self, method: str, path: str, body: Any = None) -> float:
        began = time.monotonic()
        self.must(method, path, body)
        return time.monotonic() - began

    def reopen(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)

    def close(self) -> None:
        self.conn.close()


def person_batch(first: int, count: int, round_: int) -> dict[str, Any]:
    ops: list[dict[str, Any]] = []
    for n in range(first, first + count):
        who = {"id": f"p{n}"}
        ops.append(
            {
                "type": "person",
                "identifiers": who,
                "action": "identify",
                "attributes": {
                    "email": f"p{n}@example.test",
                    "first_name": ("Ada", "Grace", "Alan", "Ken")[n % 4],
                    "plan": "pro" if n % 3 == 0 else "free",
                    "created_at": 1_700_000_000 + n,
                },
            }
        )
        for name in ("viewed_product", "added_to_cart"):
            ops.append(
                {
                    "type": "person",
                    "identifiers": who,
                    "action": "event",
                    "name": name,
                    "attributes": {"product": f"sku-{n % 97}", "round": round_},
                }
            )
        if n % 10 == 0:
            ops.append(
                {"type": "person", "identifiers": who, "action": "event", "name": "signed_up"}
            )
    return {"batch": ops}


def load(port: int, keys: dict[str, Any], people: int, emails: int, round_: int) -> None:
    """People, events and transactional sends, over 4 connections in parallel."""
    per = 33  # people a request: 100 operations or so (identify and two events each)
    firsts = list(range(0, people, per))

    def send_people(firsts: list[int]) -> None:
        client = Client(port, keys)
        for first in firsts:
            batch = person_batch(first, min(per, people - first), round_)
            client.must("POST", "/api/v2/batch", batch, auth="track")
        client.close()

    def send_emails(numbers: list[int]) -> None:
        client = Client(port, keys)
        for n in numbers:
            person = (n * 37) % people
            body = {
                "transactional_message_id": "receipt",
                "identifiers": {"id": f"p{person}"},
                "to": f"p{person}@example.test",
                "message_data": {"order_id": f"A{round_}-{n}"},
            }
            client.must("POST", "/v1/send/email", body)
        client.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send_people, [firsts[i::4] for i in range(4)]))
        list(pool.map(send_emails, [list(range(emails))[i::4] for i in range(4)]))


def resets(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    spec = folder / "workspace.yaml"
    spec.write_text(json.dumps(WORKSPACE))
    port = harness.free_port()
    proc = spawn_emulator(port, harness.free_port(), spec)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready:
        harness.terminate(proc)
        raise RuntimeError("the emulator printed no line within 60 s")
    keys = json.loads(proc.stdout.readline())
    client = Client(port, keys)
    found: dict[str, Any] = {
        "reset_ms": [],
        "empty_ms": [],
        "healthz_ms": [],
        "load_s": [],
        "drain_s": [],
    }
    try:
        for round_ in range(args.resets):
            began = time.monotonic()
            load(port, keys, args.people, args.emails, round_)
            loaded = time.monotonic()
            client.reopen()  # the server closed the idle connection during the load
            client.must("POST", "/_emulator/drain", {"timeout": 600})
            drained = time.monotonic()
            if round_ == 0:
                found["held"] = held(client)
            found["load_s"].append(loaded - began)
            found["drain_s"].append(drained - loaded)
            found["reset_ms"].append(1000 * client.timed("POST", "/_emulator/reset"))
            found["empty_ms"].append(1000 * client.timed("POST", "/_emulator/reset"))
            found["healthz_ms"].append(1000 * client.timed("GET", "/healthz"))
            if round_ == 0:
                found["held_after"] = held(client)
            print(
                f"emulator bench: reset {round_ + 1}/{args.resets}: "
                f"{found['reset_ms'][-1]:.1f} ms (empty {found['empty_ms'][-1]:.1f} ms, "
                f"healthz {found['healthz_ms'][-1]:.2f} ms; load {loaded - began:.1f} s, "
                f"drain {drained - loaded:.1f} s)",
                flush=True,
            )
    finally:
        client.close()
        harness.terminate(proc)
    return found


def held(client: Client) -> dict[str, int]:
    """What the control API and the App API count: captured messages, the segment's size."""
    captured, start = 0, ""
    while True:
        page = json.loads(client.must("GET", f"/_emulator/outbox?limit=1000&start={start}"))
        captured += len(page["messages"])
        start = page["next"]
        if not start:
            break
    segments = json.loads(client.must("GET", "/v1/segments"))["segments"]
    pros = next(s for s in segments if s["name"] == "Pros")
    members = json.loads(client.must("GET", f"/v1/segments/{pros['id']}/customer_count"))
    return {"captured messages": captured, "segment Pros": members["count"]}


# --------------------------------------------------------------------------- report


def spread(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    med, low, high = statistics.median(values), min(values), max(values)
    return f"{med * scale:.{digits}f} ({low * scale:.{digits}f}-{high * scale:.{digits}f})"


def report(
    args: argparse.Namespace, head: str, start: dict[str, Any], reset: dict[str, Any]
) -> None:
    print()
    print(head)
    print()
    print("| measurement | result, median (min-max) | baseline | vs baseline | target |")
    print("|---|---|---|---|---|")
    if start:
        emu = [r["answer_s"] for r in start["emulator"]]
        bare = [r["answer_s"] for r in start["bare"]]
        line = [r["line_s"] for r in start["emulator"]]
        exit_ = [r["exit_s"] for r in start["emulator"]]
        met = "met" if statistics.median(emu) < TARGET_START_S else "**not met**"
        print(
            f"| start to first `GET /healthz` 200, {len(emu)} starts "
            f"| {spread(emu, 1000)} ms; JSON line at {spread(line, 1000)} ms; "
            f"exit after SIGTERM {spread(exit_, 1000)} ms "
            f"| bare Python server {spread(bare, 1000)} ms "
            f"| +{(statistics.median(emu) - statistics.median(bare)) * 1000:.0f} ms "
            f"| < {TARGET_START_S * 1000:.0f} ms: {met} |"
        )
    if reset:
        ms = reset["reset_ms"]
        met = "met" if statistics.median(ms) < TARGET_RESET_MS else "**not met**"
        print(
            f"| `POST /_emulator/reset`, {args.people:,} people, {len(ms)} resets "
            f"| {spread(ms, digits=1)} ms "
            f"| empty workspace {spread(reset['empty_ms'], digits=1)} ms; "
            f"`GET /healthz` {spread(reset['healthz_ms'], digits=2)} ms "
            f"| {statistics.median(ms) / statistics.median(reset['empty_ms']):.1f}x empty "
            f"| < {TARGET_RESET_MS:.0f} ms: {met} |"
        )
        print()
        print(
            f"Each reset round: loaded in {spread(reset['load_s'], digits=1)} s, drained in "
            f"{spread(reset['drain_s'], digits=1)} s; held before the first reset: "
            + ", ".join(f"{k} {v:,}" for k, v in reset["held"].items())
            + "; after it: "
            + ", ".join(f"{k} {v:,}" for k, v in reset["held_after"].items())
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=10, help="timed starts of each kind (10)")
    parser.add_argument("--resets", type=int, default=5, help="timed resets, each after a load (5)")
    parser.add_argument("--people", type=int, default=10_000, help="people loaded (10,000)")
    parser.add_argument("--emails", type=int, default=200, help="transactional sends a round (200)")
    parser.add_argument("--only", choices=("start", "reset"), help="run one of the two")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    date, commit, loadavg = harness.announce("emulator bench")
    head = f"{date}, commit {commit}, {os.cpu_count()} x {harness.cpu_model()}"
    head += f", load average before {loadavg}"
    start = starts(args.starts) if args.only in (None, "start") else {}
    with tempfile.TemporaryDirectory(prefix="tidings-emubench-") as tmp:
        reset = resets(args, Path(tmp)) if args.only in (None, "reset") else {}
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report(args, head + f", after {after}", start, reset)
    print()
    print(
        json.dumps(
            {
                "date": date,
                "commit": commit,
                "load_before": loadavg,
                "load_after": after,
                "start": start,
                "reset": reset,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
