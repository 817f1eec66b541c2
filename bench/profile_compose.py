"""In-process profile of a campaign message's way, without HTTP or SMTP: the journey
runner moving a broadcast's journeys on, then the delivery worker's composer
(`campaigns.messages.Composer`) composing the claimed deliveries.

    .venv/bin/python bench/profile_compose.py                  # 2,000 people, µs per item
    .venv/bin/python bench/profile_compose.py --cprofile compose

Set-up: a fresh SQLite store (WAL, synchronous=FULL), N people with the
attributes of bench/broadcast.py, its broadcast (the same personalised
email) triggered for all of them and fanned out by the job. Measured: the
fan-out job's CPU per person, `journeys.advance_due` in batches of `journeys.BATCH` (one write
transaction each, as the journey worker runs them), then batches of
`--batch` (128, the delivery worker's concurrency) claimed and composed in
one read transaction each, as `DeliveryWorker._composed` does. Times are
wall and process CPU per journey or per message; the machine is shared, so
compare runs made back to back.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from broadcast import BODY, DATA, SUBJECT  # noqa: E402

from tidings.campaigns import broadcasts, definitions, fanout, journeys, store  # noqa: E402
from tidings.campaigns.messages import Composer  # noqa: E402
from tidings.clock import FixedClock  # noqa: E402
from tidings.db.engine import Database, open_database  # noqa: E402
from tidings.db.migrate import upgrade  # noqa: E402
from tidings.fetch import Allowlist  # noqa: E402
from tidings.jobs.runner import JobWorker  # noqa: E402
from tidings.people import service as people  # noqa: E402
from tidings.people.identifiers import Identifier  # noqa: E402
from tidings.runtime import wiring  # noqa: E402
from tidings.sending import delivery_queue  # noqa: E402
from tidings.workspaces.service import create_workspace  # noqa: E402

NAMES = ("Ada", "Grace", "Alan", "Ken")


def setup(db: Database, count: int, now: int) -> float:
    """The people, the broadcast, its trigger and the fan-out: the journeys due; the
    fan-out's CPU seconds."""
    with db.writer.begin() as conn:
        ws = create_workspace(conn, "bench", now).workspace_id
        for n in range(count):
            body = {"email": f"p{n}@example.test", "first_name": NAMES[n % 4], "plan": "pro"}
            request = people.parse_identify(body, now)
            people.identify(conn, ws, Identifier("id", f"p{n}"), request, now)
        document = {
            "name": "Spring sale",
            "state": "running",
            "audience": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
            "workflow": [
                {"email": {"from": "Acme <news@acme.test>", "subject": SUBJECT, "body": BODY}}
            ],
        }
        broadcast_id = store.create(conn, ws, definitions.parse(document, kind="broadcast"), now)
    request = broadcasts.parse_trigger({"data": DATA})
    db.write(broadcasts.trigger, ws, broadcast_id, request, now)
    clock = FixedClock(now)
    job = fanout.FanoutJob(Allowlist.parse("127.0.0.1/32"))
    worker = JobWorker(db, clock, {broadcasts.JOB_KIND: job})
    cpu = time.process_time()
    while worker.run_once():
        pass
    return time.process_time() - cpu


def advance(db: Database, now: int, profile: cProfile.Profile | None) -> tuple[int, float, float]:
    """Every due journey moved on; (journeys, wall s, CPU s)."""
    moved, wall, cpu = 0, time.perf_counter(), time.process_time()
    if profile:
        profile.enable()
    while taken := db.write(journeys.advance_due, now, journeys.BATCH):
        moved += taken
    if profile:
        profile.disable()
    return moved, time.perf_counter() - wall, time.process_time() - cpu


def compose(
    db: Database, now: int, batch: int, profile: cProfile.Profile | None
) -> tuple[int, float, float, int]:
    """Every queued delivery claimed and composed; (messages, wall s, CPU s, failures)."""
    composer = Composer("http://127.0.0.1:8080")
    done = failures = 0
    wall = cpu = 0.0
    while claimed := db.write(delivery_queue.claim, now, 600, batch, float(now)):
        w0, c0 = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        results = db.read(composer, claimed)
        if profile:
            profile.disable()
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        done += len(results)
        failures += sum(1 for r in results if r.payload is None)
    return done, wall, cpu, failures


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=128, help="deliveries per claim (128)")
    parser.add_argument("--cprofile", choices=("journeys", "compose"))
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tidings-profile-compose-"))
    try:
        db = open_database(f"sqlite:///{tmp / 'db.sqlite3'}")
        upgrade(db)
        now = int(time.time())
        fan_out = setup(db, args.people, now)
        print(f"fan-out: {fan_out / args.people * 1e6:.0f} µs CPU per person")
        profile = cProfile.Profile() if args.cprofile else None
        moved, wall, cpu = advance(db, now, profile if args.cprofile == "journeys" else None)
        print(
            f"journeys: {moved:,} moved on, {wall / moved * 1e6:.0f} µs wall, "
            f"{cpu / moved * 1e6:.0f} µs CPU each ({moved / wall:,.0f}/s)"
        )
        sent, wall, cpu, failed = compose(
            db, now, args.batch, profile if args.cprofile == "compose" else None
        )
        print(
            f"compose: {sent:,} messages ({failed} failed), {wall / sent * 1e6:.0f} µs wall, "
            f"{cpu / sent * 1e6:.0f} µs CPU each ({sent / wall:,.0f}/s)"
        )
        db.dispose()
        if profile:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
