"""An API-triggered broadcast of a personalised email to N people, delivered over SMTP,
against a baseline measured in the same run.

    .venv/bin/python bench/broadcast.py                      # 100,000 people
    .venv/bin/python bench/broadcast.py --people 10000
    .venv/bin/python bench/broadcast.py --audience 10000 --audience 100000

Set-up: a fresh `tidings serve` (SQLite, WAL, synchronous=FULL; a writer
process commits and a worker process runs the fan-out job, the journeys and
the deliveries, as by default; `--postgres` for PostgreSQL) whose workspace
sends email through the SMTP adapter to a local SMTP server
(bench/smtp_sink.py, aiosmtpd in its own process), declared with `tidings
apply`. N people are identified through `POST /api/v2/batch`; the
broadcast (audience `plan = pro`, everyone; an email using customer
attributes and `trigger.*` data with a loop) is written with the campaign
store, since the broadcast routes are not part of this bench.

Measured: one `POST /v1/campaigns/{id}/triggers`, then messages/s from the
trigger's 200 to the last message the SMTP server received; the fan-out's
time (to the trigger's `processed_at`); the server's peak memory (the sum of
the RSS of `tidings serve` and its child processes, sampled every 0.2 s),
beside its RSS just before the trigger; and every recipient must have
received exactly one message (the sink lists each message's recipients).

`--audience N` holds the store constant and varies the audience: every
person gets a `cohort` attribute (0 to people - 1, in the order identified)
and the trigger names its recipients, `cohort lt N`, so the store, the
broadcast and everything before the trigger are the same whatever N (the
broadcast's own audience, `plan = pro`, is not used then; the broadcast is
written before the ingest, so that its commit on a connection of its own does
not empty the writer's page cache right before the trigger). The exactly-once
check is then on the first N people, and nobody else may get a message.
`--audience` given twice or more runs each on its own fresh server,
prepared identically (same `--people`), back to back, and prints their
peaks and the largest over the smallest against issue 16's target (memory
flat in the audience: within 10%). Without `--audience` the bench is as it
was (no `cohort`, the broadcast's own audience), so earlier figures compare.

Baseline: the same SMTP server fed directly by aiosmtplib over as many
connections as the provider may open (`--smtp-connections`, 16) with
messages built by `tidings.providers.mime` (bench/messaging.py's
baseline: what the sink itself can take); `--baseline-messages` of them
(20,000: a rate, it needs no more).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import messaging  # noqa: E402  (the SMTP sink, the direct baseline, PostgreSQL set-up)
import run as harness  # noqa: E402
import segment_delay as client  # noqa: E402

BATCH = 500  # people per identify batch
FLAT = 0.10  # issue 16: peak memory at the largest audience within 10% of the smallest's
SUBJECT = "{{ trigger.headline }}, {{ customer.first_name }}"
BODY = """<html><body>
<p>Hi {{ customer.first_name | default: "there" }} ({{ customer.email }}),</p>
<p>{{ trigger.headline }}: on the {{ customer.plan }} plan until {{ trigger.ends }}.</p>
<ul>{% for item in trigger.items %}<li>{{ item.name }}: {{ item.price }}</li>{% endfor %}</ul>
</body></html>"""
DATA = {
    "headline": "Spring sale",
    "ends": "Sunday",
    "items": [{"name": f"Item {n}", "price": f"{n * 3 + 9}.99"} for n in range(5)],
}


class RecipientSink(messaging.Sink):
    """The sink, read back with each message's recipients."""

    def stop_with_recipients(self) -> tuple[list[float], list[str]]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=120)
        report = json.loads(out.strip().splitlines()[-1])
        recipients = [r for rcpt_tos in report["recipients"] for r in rcpt_tos]
        return sorted(report["arrivals"]), recipients


class PeakRss:
    """The largest sum of RSS over a process and its descendants, sampled in a thread,
    and each process's own largest (by role: server, writer, worker)."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now(self) -> int:
        return sum(self.by_role().values())

    def by_role(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for pid in harness._tree(self.pid):
            role = _role(pid)
            found[role] = found.get(role, 0) + _rss(pid)
        return found

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        """From the start: the peak is never below the RSS the window began with."""
        while True:
            with contextlib.suppress(OSError):
                roles = self.by_role()
                self.peak = max(self.peak, sum(roles.values()))
                for role, rss in roles.items():
                    self.peaks[role] = max(self.peaks.get(role, 0), rss)
            if self._stop.wait(self.every):
                return


def _role(pid: int) -> str:
    with contextlib.suppress(FileNotFoundError):
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"writer_process" in command:
            return "writer"
        if b"worker" in command:
            return "worker"
    return "server"


def _rss(pid: int) -> int:
    with contextlib.suppress(FileNotFoundError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def workspace_file(smtp_port: int, smtp_connections: int) -> str:
    config = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    provider = {"channel": "email", "kind": "smtp", "config": config}
    provider["config"]["max_connections"] = smtp_connections
    return json.dumps({"providers": [provider]})  # JSON is YAML


def identify(server: harness.Server, people: int, cohort: bool = False) -> None:
    """`people` people p0, p1, ...; with `cohort`, each also has `cohort` = n."""
    for first in range(0, people, BATCH):
        batch = [
            {
                "type": "person",
                "identifiers": {"id": f"p{n}"},
                "action": "identify",
                "attributes": person_attributes(n, cohort),
            }
            for n in range(first, min(first + BATCH, people))
        ]
        status, body = server.request("POST", "/api/v2/batch", {"batch": batch})
        if status != 200:
            sys.exit(f"broadcast: identify batch answered {status}: {body[:200]!r}")


def person_attributes(n: int, cohort: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "email": f"p{n}@example.test",
        "first_name": ("Ada", "Grace", "Alan", "Ken")[n % 4],
        "plan": "pro",
    }
    if cohort:
        attributes["cohort"] = n
    return attributes


def trigger_body(audience: int | None) -> dict[str, Any]:
    """The trigger's body: the broadcast's own audience, or the first `audience` people."""
    if audience is None:
        return {"data": DATA}
    condition = {"attribute": {"field": "cohort", "operator": "lt", "value": audience}}
    return {"data": DATA, "recipients": condition}


def create_broadcast(server: harness.Server) -> int:
    """The broadcast, written with the campaign store on the server's database."""
    from sqlalchemy import select

    from tidings.campaigns import definitions, store
    from tidings.db.engine import open_database
    from tidings.db.schema import workspaces

    url = server.database_url or f"sqlite:///{server.db_path}"
    document = {
        "name": "Spring sale",
        "state": "running",
        "audience": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        "workflow": [
            {"email": {"from": "Acme <news@acme.test>", "subject": SUBJECT, "body": BODY}}
        ],
    }
    db = open_database(url)
    try:
        with db.writer.begin() as conn:
            workspace_id = conn.execute(select(workspaces.c.id)).scalar_one()
            campaign = definitions.parse(document, kind="broadcast")
            return store.create(conn, workspace_id, campaign, int(time.time()))
    finally:
        db.dispose()


def fan_out_seconds(
    server: harness.Server, broadcast_id: int, trigger_id: int, since: float
) -> float:
    path = f"/v1/campaigns/{broadcast_id}/triggers/{trigger_id}"
    status, body = client.app_request(server.port, "GET", path)
    if status != 200 or body.get("state") != "done":
        sys.exit(f"broadcast: the trigger did not finish: {status} {body}")
    # `processed_at` is in whole seconds: a fan-out under a second can read as
    # negative against the trigger's wall time; it is "under 1 s" then.
    return max(0.0, float(body["processed_at"]) - since)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000, help="people in the store (100,000)")
    parser.add_argument(
        "--audience",
        type=int,
        action="append",
        metavar="N",
        help="send to the first N people only (the store still holds --people); "
        "twice or more: each on its own identically prepared server, and the peaks compared",
    )
    parser.add_argument(
        "--smtp-connections",
        type=int,
        default=16,
        help="the SMTP provider's max_connections, and the direct baseline's connections (16)",
    )
    parser.add_argument(
        "--baseline-messages", type=int, default=20_000, help="direct baseline sends (20,000)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for mail")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="run the server on a fresh PostgreSQL database made through this admin URL "
        "(e.g. postgresql://postgres@127.0.0.1:5432/postgres) instead of SQLite",
    )
    args = parser.parse_args(argv)
    for audience in args.audience or []:
        if not 0 < audience <= args.people:
            parser.error(f"--audience {audience} is not between 1 and --people {args.people}")
    return args


def run_broadcast(
    args: argparse.Namespace, tmp: Path, sink: RecipientSink, audience: int | None
) -> dict[str, Any]:
    """One fresh server, `args.people` people, one trigger to `audience` of them (None:
    the broadcast's own audience, everyone)."""
    store = contextlib.ExitStack()
    url = store.enter_context(messaging.postgres_database(args.postgres))
    server = harness.Server("tidings", tmp, database_url=url)
    server.start()
    try:
        spec = server.dir / "workspace.yaml"
        spec.write_text(workspace_file(sink.port, args.smtp_connections))
        subprocess.run(
            [sys.executable, "-m", "tidings", "apply", "-f", str(spec), *server.store_args()],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=harness.ROOT,
        )
        if audience is not None:
            # Before the ingest: written on a connection of its own, the broadcast
            # would empty the writer's page cache (SQLite drops a connection's cache
            # when another one has committed) right before the trigger, and the
            # send would refill it, more of it the larger the audience.
            broadcast_id = create_broadcast(server)
        print(f"broadcast: identifying {args.people:,} people", flush=True)
        identify(server, args.people, cohort=audience is not None)
        if audience is None:
            broadcast_id = create_broadcast(server)
        assert server.proc is not None
        with PeakRss(server.proc.pid) as rss:
            roles_before = rss.by_role()
            before = sum(roles_before.values())
            print("broadcast: triggered", flush=True)
            started, wall = time.monotonic(), time.time()
            status, body = client.app_request(
                server.port,
                "POST",
                f"/v1/campaigns/{broadcast_id}/triggers",
                trigger_body(audience),
            )
            if status != 200:
                sys.exit(f"broadcast: the trigger answered {status}: {body}")
            expected = args.people if audience is None else audience
            sent = messaging.wait_for_mail(server, expected, timeout=args.timeout)
        fan_out = fan_out_seconds(server, broadcast_id, body["id"], wall)
    finally:
        server.stop()
        store.close()
        if not args.keep:
            shutil.rmtree(server.dir, ignore_errors=True)
    arrivals, recipients = sink.stop_with_recipients()
    return {
        "sent": sent,
        "received": len(arrivals),
        "per_s": len(arrivals) / (arrivals[-1] - started) if arrivals else 0.0,
        "fan_out_s": fan_out,
        "rss_before": before,
        "rss_peak": rss.peak,
        "rss_by_process": {
            role: [roles_before.get(role, 0), peak] for role, peak in sorted(rss.peaks.items())
        },
        "recipients": recipients,
    }


def exactly_once(recipients: list[str], people: int, audience: int) -> tuple[bool, str]:
    """Every one of the first `audience` people got exactly one message, and nobody else
    (neither the store's other people nor an unknown address) got any."""
    counts = Counter(recipients)
    expected = {f"p{n}@example.test" for n in range(audience)}
    outside = {f"p{n}@example.test" for n in range(audience, people)}
    missing = len(expected - set(counts))
    twice = sum(1 for n in counts.values() if n > 1)
    not_in_audience = len(set(counts) & outside)
    stray = len(set(counts) - expected - outside)
    ok = missing == twice == not_in_audience == stray == 0
    detail = f"{len(counts):,} recipients; {missing} missing, {twice} twice or more, "
    if audience < people:
        detail += f"{not_in_audience} outside the audience, "
    return ok, detail + f"{stray} stray"


MIB = 1024 * 1024


def row(
    args: argparse.Namespace, audience: int | None, found: dict[str, Any], direct: float
) -> str:
    """The run's line of the results table."""
    by_process = ", ".join(
        f"{role} {before / MIB:,.0f} -> {peak / MIB:,.0f}"
        for role, (before, peak) in found["rss_by_process"].items()
    )
    load = f"{args.people:,} people, one trigger"
    if audience is not None:
        load = f"{args.people:,} people, one trigger to the first {audience:,}"
    return (
        f"| broadcast delivered to SMTP | {load} "
        f"| {found['per_s']:,.0f} messages/s ({found['received']:,} received; fan-out "
        f"{found['fan_out_s']:.0f} s (whole seconds); "
        f"server RSS peak {found['rss_peak'] / MIB:,.0f} MiB, "
        f"{found['rss_before'] / MIB:,.0f} MiB before the trigger, "
        f"+{(found['rss_peak'] - found['rss_before']) / MIB:,.0f} MiB; by process, before "
        f"-> peak: {by_process}) "
        f"| sink fed directly: {direct:,.0f}/s | {found['per_s'] / direct:.2f}x "
        f"| {'yes' if found['exactly_once'] else '**no**'}: {found['exactly_once_detail']} |"
    )


def flat(runs: list[tuple[int, dict[str, Any]]]) -> tuple[bool, str]:
    """Issue 16's memory target over the audiences run: the peak at the largest audience
    within 10% of the peak at the smallest (the store the same in both)."""
    (small, low), (large, high) = min(runs), max(runs)
    ratio = high["rss_peak"] / low["rss_peak"]
    added = [(found["rss_peak"] - found["rss_before"]) / MIB for _, found in (min(runs), max(runs))]
    ok = ratio <= 1 + FLAT
    return ok, (
        f"server RSS peak {high['rss_peak'] / MIB:,.0f} MiB to {large:,} against "
        f"{low['rss_peak'] / MIB:,.0f} MiB to {small:,}: {ratio:.3f}x "
        f"(the send added +{added[1]:,.0f} against +{added[0]:,.0f} MiB); "
        f"within {FLAT:.0%}: {'met' if ok else 'not met'}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    date, commit, loadavg = harness.announce("broadcast")
    audiences: list[int | None] = list(args.audience or [None])
    runs: list[tuple[int | None, dict[str, Any]]] = []
    tmp = Path(tempfile.mkdtemp(prefix="tidings-broadcast-"))
    try:
        for audience in audiences:
            load = os.getloadavg()
            if audience is not None:
                print(
                    f"broadcast: audience {audience:,} of {args.people:,}, "
                    f"load average {' '.join(f'{x:.2f}' for x in load)}",
                    flush=True,
                )
            found = run_broadcast(args, tmp, RecipientSink(), audience)
            found["load_average_before"] = list(load)
            ok, detail = exactly_once(
                found.pop("recipients"), args.people, args.people if audience is None else audience
            )
            found["exactly_once"], found["exactly_once_detail"] = ok, detail
            runs.append((audience, found))
        print("broadcast: baseline (aiosmtplib straight to the sink)", flush=True)
        sink = RecipientSink()
        started = client.run_async(
            messaging.direct_smtp(sink.port, args.baseline_messages, args.smtp_connections)
        )
        arrivals = sink.stop()
        direct = len(arrivals) / (arrivals[-1] - started)
    finally:
        if args.keep:
            print(f"broadcast: data dir kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    store = "PostgreSQL" if args.postgres else "SQLite"
    loadafter = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(f"{date}, commit {commit}, load average before {loadavg}, after {loadafter}, {store}")
    print()
    print("| measurement | load | result | baseline | vs baseline | exactly once |")
    print("|---|---|---|---|---|---|")
    for audience, found in runs:
        print(row(args, audience, found, direct))
    all_ok = all(found["exactly_once"] for _, found in runs)
    summary: dict[str, Any] = {"direct_per_s": direct}
    sized = [(audience, found) for audience, found in runs if audience is not None]
    if len({audience for audience, _ in sized}) > 1:
        met, text = flat(sized)  # type: ignore[arg-type]
        print()
        print(f"memory flat in the audience: {text}")
        summary["flat"] = met
    print()
    for audience, found in runs:
        print(json.dumps({"audience": audience, **found, "direct_per_s": direct}))
    print(json.dumps(summary))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
