"""N people through a three-step journey with delays, on the real clock: steps/s, timer
lag and event-to-provider latency, against a baseline measured in the same run.

    .venv/bin/python bench/journeys.py                        # 10,000 people, 100 events/s
    .venv/bin/python bench/journeys.py --people 2000 --rate 100

Set-up: a fresh `tidings serve` (SQLite, WAL, synchronous=FULL; a writer
process commits and a worker process runs the journeys and the deliveries,
as by default) whose workspace sends email through the SMTP adapter to a
local SMTP server (bench/smtp_sink.py), declared with `tidings apply`
(bench/messaging.py's workspace: its provider, snippet and `receipt`
template). N people are identified through `POST /api/v2/batch`; the
campaign, `POST /v1/campaigns`, enters a person on event `signed_up` and
walks them through: email, delay 1 s, email, delay 1 s, email (each email
personalised with customer attributes, the event's data and a loop).

1. Baseline: `--baseline-sends` (2,000) transactional emails (`POST
   /v1/send/email`, the `receipt` template, a recipient of its own each)
   paced at `--rate`: send-to-provider latency, from each send's 200 to
   its message's arrival at the SMTP server (the shortest way a message
   takes through this server).
2. Journeys: one `signed_up` event per person (`POST
   /api/v1/customers/{id}/events`), open loop at `--rate` events/s over
   `--connections` (16) keep-alive connections. Measured:
   - event-to-provider latency: from each event's 200 to the arrival of
     the person's first message at the SMTP server;
   - timer lag: for the message after each delay, its arrival at the SMTP
     server minus the delay's due time (the `journey_steps` row of the wait
     gives when it began; the runner's clock is whole seconds, so due is
     that second + 1 s). An upper bound on how late the step ran: it
     includes composing and sending that message;
   - steps/s: the journey steps recorded (`journey_steps`, five per person)
     over the time from the first event's 200 to the last message's arrival;
     messages/s over the same time.
   Every person must have received exactly three messages.

Ratio: event-to-provider p99 over the baseline's send-to-provider p99.
Targets (issue 16): timer lag p99 under 1 s, event-to-provider p99 under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import broadcast  # noqa: E402  (RecipientSink, identify)
import messaging  # noqa: E402  (the workspace file, wait_for_mail)
import run as harness  # noqa: E402
import segment_delay as client  # noqa: E402

TARGET_LAG_P99_S = 1.0
TARGET_EVENT_P99_S = 2.0
EVENT = "signed_up"
SUBJECT = "Step {step} of 3, {{{{ customer.first_name }}}}"
BODY = """<html><body>
<p>Hi {{ customer.first_name | default: "there" }} ({{ customer.email }}),</p>
<p>Welcome to the {{ event.plan }} plan, {{ campaign.name }}.</p>
<ul>{% for item in event.items %}<li>{{ item.name }}: {{ item.price }}</li>{% endfor %}</ul>
{{ snippets.footer }}
</body></html>"""
ITEMS = [{"name": f"Item {n}", "price": f"{n * 3 + 9}.99"} for n in range(3)]


def campaign() -> dict[str, Any]:
    def email(step: int) -> dict[str, Any]:
        subject = SUBJECT.format(step=step)
        return {"email": {"from": "Acme <hello@acme.test>", "subject": subject, "body": BODY}}

    return {
        "name": "Welcome series",
        "state": "running",
        "trigger": {"event": {"name": EVENT}},
        "workflow": [email(1), {"delay": 1}, email(2), {"delay": 1}, email(3)],
    }


def send_request(n: int) -> bytes:
    body = json.dumps(
        {
            "transactional_message_id": "receipt",
            "identifiers": {"id": f"p{n}"},
            "to": f"b{n}@example.test",
            "message_data": {"order_id": f"A{n}", "items": ITEMS},
        },
        separators=(",", ":"),
    ).encode()
    return client.head("POST", "/v1/send/email", messaging.BEARER, len(body)) + body


def event_request(n: int) -> bytes:
    return client.event_request(f"p{n}", EVENT, {"plan": "pro", "items": ITEMS})


async def paced(
    port: int, requests: list[bytes], rate: float, connections: int
) -> tuple[list[float], int]:
    """Send `requests` open loop at `rate`/s (request i due at start + i / rate) over
    `connections` keep-alive connections; the monotonic time of each 200 (NaN if
    not 200) and how many were not."""
    done = [float("nan")] * len(requests)
    start = time.monotonic() + 0.1
    numbers = iter(range(len(requests)))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        conn = client.Conn("127.0.0.1", port)
        for i in numbers:
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            status, _ = await conn.request(requests[i])
            if status == 200:
                done[i] = time.monotonic()
            else:
                failed += 1
        conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return done, failed


def by_recipient(arrivals: list[float], recipients: list[list[str]]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = defaultdict(list)
    for at, rcpts in zip(arrivals, recipients, strict=True):
        for rcpt in rcpts:
            found[rcpt].append(at)
    return {rcpt: sorted(times) for rcpt, times in found.items()}


def stop_sink(sink: broadcast.RecipientSink) -> dict[str, list[float]]:
    sink.proc.terminate()
    out, _ = sink.proc.communicate(timeout=120)
    report = json.loads(out.strip().splitlines()[-1])
    return by_recipient(report["arrivals"], report["recipients"])


def waits(db_path: Path) -> dict[str, list[int]]:
    """Each person's delays' start times (whole seconds), in order, by customer id."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT p.customer_id, s.at FROM journey_steps s"
            " JOIN journeys j ON j.id = s.journey_id JOIN people p ON p.id = j.person_id"
            " WHERE s.outcome = 'waiting' ORDER BY s.journey_id, s.visit"
        ).fetchall()
        steps = conn.execute("SELECT count(*) FROM journey_steps").fetchone()[0]
    finally:
        conn.close()
    found: dict[str, list[int]] = defaultdict(list)
    for customer_id, at in rows:
        found[str(customer_id)].append(int(at))
    found["__steps__"] = [int(steps)]
    return found


def pct(values: list[float], p: float) -> float:
    return client.pct(sorted(values), p) if values else float("nan")


def baseline(args: argparse.Namespace, server: harness.Server, sink: Any) -> list[float]:
    """Send-to-provider latencies of transactional sends at `--rate`."""
    count = args.baseline_sends
    requests = [send_request(n) for n in range(count)]
    done, failed = client.run_async(paced(server.port, requests, args.rate, args.connections))
    if failed:
        sys.exit(f"journeys: {failed} baseline sends were not answered 200")
    messaging.wait_for_mail(server, count, timeout=args.timeout)
    arrived = stop_sink(sink)
    return [arrived[f"b{n}@example.test"][0] - done[n] for n in range(count)]


def journeys(args: argparse.Namespace, server: harness.Server, sink: Any) -> dict[str, Any]:
    people = args.people
    requests = [event_request(n) for n in range(people)]
    offset = time.time() - time.monotonic()
    done, failed = client.run_async(paced(server.port, requests, args.rate, args.connections))
    if failed:
        sys.exit(f"journeys: {failed} events were not answered 200")
    messaging.wait_for_mail(server, args.baseline_sends + 3 * people, timeout=args.timeout)
    arrived = stop_sink(sink)
    started = waits(server.db_path)
    steps = started.pop("__steps__")[0]
    first_message, lags, wrong = [], [], 0
    for n in range(people):
        times = arrived.get(f"p{n}@example.test", [])
        begun = started.get(f"p{n}", [])
        if len(times) != 3 or len(begun) != 2:
            wrong += 1
            continue
        first_message.append(times[0] - done[n])
        lags += [times[k + 1] - (begun[k] + 1 - offset) for k in range(2)]
    last = max(t for times in arrived.values() for t in times)
    span = last - min(done)
    return {
        "event_to_provider": first_message,
        "timer_lag": lags,
        "steps": steps,
        "steps_per_s": steps / span,
        "messages_per_s": sum(len(t) for t in arrived.values()) / span,
        "span_s": span,
        "wrong": wrong,
    }


def run(args: argparse.Namespace, tmp: Path) -> tuple[list[float], dict[str, Any]]:
    sink = broadcast.RecipientSink()
    server = harness.Server("tidings", tmp)
    server.start()
    try:
        spec = server.dir / "workspace.yaml"
        spec.write_text(messaging.workspace_file(sink.port, args.smtp_connections))
        subprocess.run(
            [sys.executable, "-m", "tidings", "apply", "-f", str(spec), *server.store_args()],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=harness.ROOT,
        )
        print(f"journeys: identifying {args.people:,} people", flush=True)
        broadcast.identify(server, args.people)
        status, body = client.app_request(server.port, "POST", "/v1/campaigns", campaign())
        if status != 200:
            sys.exit(f"journeys: POST /v1/campaigns answered {status}: {body}")
        print(f"journeys: baseline, {args.baseline_sends:,} sends at {args.rate:g}/s", flush=True)
        sent = baseline(args, server, sink)
        sink = broadcast.RecipientSink(sink.port)
        print(f"journeys: {args.people:,} events at {args.rate:g}/s", flush=True)
        found = journeys(args, server, sink)
    finally:
        server.stop()
        if sink.proc.poll() is None:
            sink.proc.kill()
    return sent, found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=10_000, help="journeys (10,000)")
    parser.add_argument("--rate", type=float, default=100, help="events (and sends) per s (100)")
    parser.add_argument("--connections", type=int, default=16, help="client connections (16)")
    parser.add_argument("--baseline-sends", type=int, default=2000, help="baseline sends (2,000)")
    parser.add_argument(
        "--smtp-connections", type=int, default=16, help="the SMTP provider's connections (16)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for mail")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    return parser.parse_args(argv)


def ms(values: list[float], p: float) -> str:
    return f"{pct(values, p) * 1000:,.0f} ms"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    date, commit, loadavg = harness.announce("journeys")
    random.seed(1)
    tmp = Path(tempfile.mkdtemp(prefix="tidings-journeys-"))
    try:
        sent, found = run(args, tmp)
    finally:
        if args.keep:
            print(f"journeys: data dir kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    event, lag = found["event_to_provider"], found["timer_lag"]
    ratio = pct(event, 99) / pct(sent, 99)
    lag_ok = pct(lag, 99) < TARGET_LAG_P99_S
    event_ok = pct(event, 99) < TARGET_EVENT_P99_S
    print()
    print(f"{date}, commit {commit}, load average before {loadavg}, SQLite")
    print()
    print("| measurement | load | result | baseline | vs baseline | target |")
    print("|---|---|---|---|---|---|")
    print(
        f"| journeys: email, delay 1 s, email, delay 1 s, email | {args.people:,} people, "
        f"`{EVENT}` at {args.rate:g}/s | {found['steps_per_s']:,.0f} steps/s, "
        f"{found['messages_per_s']:,.0f} messages/s ({found['steps']:,} steps in "
        f"{found['span_s']:.0f} s; {found['wrong']} people without exactly 3 messages) | | | |"
    )
    print(
        f"| timer lag, to the provider | {len(lag):,} delays | p50 {ms(lag, 50)}, "
        f"p99 {ms(lag, 99)}, max {ms(lag, 100)} | | | p99 < 1 s: {'met' if lag_ok else 'not met'} |"
    )
    print(
        f"| event to provider | {len(event):,} events | p50 {ms(event, 50)}, "
        f"p99 {ms(event, 99)} | transactional send to provider at {args.rate:g}/s: "
        f"p50 {ms(sent, 50)}, p99 {ms(sent, 99)} | {ratio:.2f}x (p99) "
        f"| p99 < 2 s: {'met' if event_ok else 'not met'} |"
    )
    print()
    summary = {
        "steps_per_s": found["steps_per_s"],
        "messages_per_s": found["messages_per_s"],
        "timer_lag_p50": pct(lag, 50),
        "timer_lag_p99": pct(lag, 99),
        "event_to_provider_p50": pct(event, 50),
        "event_to_provider_p99": pct(event, 99),
        "send_to_provider_p50": pct(sent, 50),
        "send_to_provider_p99": pct(sent, 99),
        "wrong": found["wrong"],
    }
    print(json.dumps(summary))
    return 0 if found["wrong"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
