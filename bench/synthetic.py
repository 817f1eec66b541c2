"""The data side at scale: segments, search and export on a synthetic workspace.

    .venv/bin/python bench/synthetic.py                       # 1,000,000 people, 10,000,000 events
    .venv/bin/python bench/synthetic.py --people 100000 --events-per-person 10 --repeat 3

What it does:

1. builds (or reuses, from `--data-dir`) a SQLite store migrated by Tidings with
   one workspace of `--people` people, 20 attributes each (strings, numbers,
   booleans, timestamps with realistic spreads) and `--events-per-person`
   events each over the last 90 days. Rows are loaded with plain executemany in
   primary-key order and the secondary indexes are built afterwards (a bulk
   load, as `tidings import` would be after its first million rows); the
   result is exactly the schema and the row shapes Tidings writes. The store
   is kept and reused while its parameters match (`--regenerate` rebuilds it).
2. measures, on that store, with the code the server runs:
   - `baseline`: one full read of the attributes table (`SELECT sum(length(value))`),
     the machine's speed at touching every attribute row once; every other
     measurement is also shown as a multiple of it;
   - `attribute segment`: building a data-driven segment `plan = "pro"`
     (about a quarter of the people) with `segments.membership.build_segment`,
     the function the segment worker runs, entrants, their activities and all;
   - `event-count segment`: building "performed `purchase` at least twice in
     the last 60 days" (about a sixth of the people);
   - `window refresh`: bringing that segment up to date 10 s later, as the
     segment worker does every 10 s for segments with relative windows;
   - `search`: the first page (50) of `POST /v1/customers` search for
     `plan = "pro" and country = "DE"` (`segments.search.search`), median of 5;
   - `export`: exporting every person with 5 extra attribute columns to CSV,
     run by the export job's handler in a child process: wall time and the
     child's peak RSS (when the exports feature is present).
   Builds run inside a transaction that is rolled back, so the store stays as
   generated for the next run.

The membership delay target (an event's 2xx to the membership change, at
1,000 events/s) is measured by bench/segment_delay.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from tidings.db import schema
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.paging import PageRequest
from tidings.runtime import wiring
from tidings.segments import membership, search
from tidings.segments.conditions import parse
from tidings.workspaces.service import create_workspace

NOW = 1_780_000_000  # a fixed "now" so every run sees the same windows
DAY = 86_400
CHUNK = 5_000  # people per executemany round

PLANS = (("free", 50), ("basic", 20), ("pro", 25), ("enterprise", 5))
COUNTRIES = ("US", "DE", "FR", "GB", "BR", "IN", "JP", "ES", "IT", "NL", "SE", "PL")
CITIES = ("Springfield", "Riverton", "Lakeside", "Hillcrest", "Fairview", "Oakridge")
INDUSTRIES = ("retail", "saas", "media", "finance", "health", "education", "travel")
LANGUAGES = ("en", "de", "fr", "es", "pt", "ja", "it")
TIMEZONES = ("America/New_York", "Europe/Berlin", "Europe/Paris", "Asia/Tokyo", "UTC")
EVENT_NAMES = (
    ("viewed_product", 40),
    ("page_viewed", 25),
    ("added_to_cart", 15),
    ("purchase", 10),
    ("signed_in", 10),
)

TARGETS = {
    "attribute segment": 10.0,
    "event-count segment": 30.0,
    "search": 0.2,
    "export": 60.0,
}
EXPORT_MEMORY_TARGET_MB = 300
SEARCH_PAGE = 50

ATTRIBUTE_SEGMENT = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
EVENT_SEGMENT = {"event": {"name": "purchase", "count": {"gte": 2}, "within_last": {"days": 60}}}
SEARCH = {
    "and": [
        {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        {"attribute": {"field": "country", "operator": "eq", "value": "DE"}},
    ]
}
EXPORT_ATTRIBUTES = ["plan", "country", "lifetime_value", "signed_up_at", "newsletter"]


# -- generation ---------------------------------------------------------------


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [name for name, _ in pairs], [weight for _, weight in pairs]


def person_attributes(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """Twenty (name, value, kind) triples, rendered as Tidings stores them."""
    plans, plan_weights = _weighted(PLANS)
    signed_up = NOW - rng.randrange(3 * 365 * DAY)
    return [
        ("email", f"user{n}@example.com", "s"),
        ("first_name", rng.choice(("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken")), "s"),
        ("last_name", f"Person{n % 997}", "s"),
        ("plan", rng.choices(plans, plan_weights)[0], "s"),
        ("country", rng.choice(COUNTRIES), "s"),
        ("city", rng.choice(CITIES), "s"),
        ("company", f"Company {n % 20_000}", "s"),
        ("industry", rng.choice(INDUSTRIES), "s"),
        ("language", rng.choice(LANGUAGES), "s"),
        ("timezone", rng.choice(TIMEZONES), "s"),
        ("age", str(rng.randrange(18, 80)), "n"),
        ("lifetime_value", f"{rng.lognormvariate(4, 1.2):.2f}", "n"),
        ("orders", str(rng.randrange(0, 40)), "n"),
        ("score", str(rng.randrange(0, 100)), "n"),
        ("signed_up_at", str(signed_up), "n"),
        ("last_login_at", str(rng.randrange(signed_up, NOW)), "n"),
        ("newsletter", rng.choice(("true", "false")), "b"),
        ("is_active", "true" if rng.random() < 0.7 else "false", "b"),
        ("referrer", rng.choice(("google", "newsletter", "friend", "ads", "direct")), "s"),
        ("tier", str(rng.randrange(1, 4)), "n"),
    ]


def generate(path: Path, people: int, events_per_person: int, seed: int) -> None:
    """A migrated store at `path` with one workspace (id 1) holding the synthetic data."""
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    with db.writer.begin() as conn:
        workspace_id = create_workspace(conn, "synthetic", NOW).workspace_id
    secondary = [index for table in (schema.attributes, schema.events) for index in table.indexes]
    for index in secondary:
        index.drop(db.writer)
    db.dispose()

    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA synchronous=OFF")
    raw.execute("PRAGMA cache_size=-262144")
    rng = random.Random(seed)
    names, weights = _weighted(EVENT_NAMES)
    started = time.monotonic()
    for first in range(0, people, CHUNK):
        person_rows, attribute_rows, event_rows = [], [], []
        for n in range(first, min(first + CHUNK, people)):
            pk = n + 1
            created = NOW - rng.randrange(3 * 365 * DAY)
            person_rows.append(
                (
                    pk,
                    workspace_id,
                    f"{rng.getrandbits(48):012x}",
                    f"user-{n}",
                    f"user{n}@example.com",
                    created,
                    created,
                )
            )
            for name, value, kind in person_attributes(rng, n):
                attribute_rows.append((pk, workspace_id, name, value, kind, created))
            for name in rng.choices(names, weights, k=events_per_person):
                at = NOW - rng.randrange(90 * DAY)
                sku, price = rng.randrange(5000), rng.randrange(100, 20000) / 100
                data = f'{{"sku":"SKU-{sku}","price":{price}}}'
                event_rows.append((workspace_id, pk, None, "event", name, at, at, data))
        raw.execute("BEGIN")
        raw.executemany(
            "INSERT INTO people (id, workspace_id, cio_id, customer_id, email, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            person_rows,
        )
        raw.executemany(
            "INSERT INTO attributes (person_id, workspace_id, name, value, kind, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            attribute_rows,
        )
        raw.executemany(
            "INSERT INTO events (workspace_id, person_id, anonymous_id, type, name, timestamp,"
            " received_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            event_rows,
        )
        raw.execute("COMMIT")
        done = min(first + CHUNK, people)
        if done % 100_000 == 0 or done == people:
            print(f"  {done:,} people loaded ({time.monotonic() - started:.0f} s)", flush=True)
    raw.close()

    db = open_database(f"sqlite:///{path}")
    for index in secondary:
        print(f"  building index {index.name}", flush=True)
        index.create(db.writer)
    db.dispose()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("ANALYZE")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()


def ensure_store(
    data_dir: Path,
    people: int,
    events: int,
    seed: int,
    regenerate: bool,
    *,
    name: str = "synthetic",
    then: Callable[[Path], None] | None = None,
    version: int = 0,
) -> Path:
    """The store at `data_dir/<name>-...`, generated unless one of the same parameters
    is there; `then(path)` adds to a new one (`version` tells its stores apart)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"{name}-{people}-{events}-{seed}.sqlite3"
    marker = path.with_suffix(".json")
    wanted: dict[str, int] = {"people": people, "events_per_person": events, "seed": seed}
    wanted |= {"now": NOW, **({"version": version} if version else {})}
    if not regenerate and marker.exists() and json.loads(marker.read_text()) == wanted:
        print(f"reusing {path}", flush=True)
        upgrade(open_database(f"sqlite:///{path}"))  # newer migrations, if any
        return path
    for old in data_dir.glob(path.name + "*"):
        old.unlink()
    marker.unlink(missing_ok=True)
    print(f"generating {people:,} people and {people * events:,} events into {path}", flush=True)
    started = time.monotonic()
    generate(path, people, events, seed)
    if then is not None:
        then(path)
    print(f"generated in {time.monotonic() - started:.0f} s", flush=True)
    marker.write_text(json.dumps(wanted))
    return path


# -- measurements -------------------------------------------------------------


@contextlib.contextmanager
def rolled_back(db: Database) -> Iterator[Connection]:
    """A writing connection whose transaction is rolled back afterwards."""
    with db.writer.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def measure_baseline(db: Database) -> float:
    with db.reader.connect() as conn:
        seconds, _ = timed(
            lambda: conn.execute(text("SELECT sum(length(value)) FROM attributes")).scalar()
        )
    return seconds


def measure_build(db: Database, conditions: dict[str, Any]) -> tuple[float, int, float]:
    """Seconds to build, members, and seconds to bring it up to date 10 s later
    (what the segment worker does every 10 s for a segment with a time window)."""
    with rolled_back(db) as conn:
        body = {"segment": {"name": "bench", "conditions": conditions}}
        segment = membership.create_segment(conn, 1, body, NOW)
        seconds, changes = timed(lambda: membership.build_segment(conn, 1, segment["id"], NOW))
        members = conn.execute(
            text("SELECT count(*) FROM segment_members WHERE segment_id = :id"),
            {"id": segment["id"]},
        ).scalar_one()
        refresh, _ = timed(lambda: membership.refresh_time_windows(conn, 1, NOW + 10))
    return seconds, int(members), refresh


def measure_search(db: Database, repeat: int = 5) -> tuple[float, int]:
    condition = parse(SEARCH)
    page = PageRequest(limit=SEARCH_PAGE, after=None)
    runs = []
    found = 0
    with db.reader.connect() as conn:
        for _ in range(repeat):
            seconds, result = timed(lambda: search.search(conn, 1, condition, page, NOW))
            runs.append(seconds)
            found = len(result["identifiers"])
    return statistics.median(runs), found


def exports_available() -> bool:
    return importlib.util.find_spec("tidings.exports") is not None


def measure_export(path: Path) -> dict[str, Any] | None:
    """Run the export job's handler in a child; its wall time and peak RSS."""
    if not exports_available():
        return None
    script = Path(__file__).with_name("synthetic_export.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), json.dumps(EXPORT_ATTRIBUTES)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"export child failed (status {status})")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


# -- report -------------------------------------------------------------------


def machine() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        models = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
    load = os.getloadavg()[0]
    return (
        f"{len(models)} vCPU {models[0] if models else platform.processor()}, "
        f"load average {load:.1f} before the run; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def verdict(name: str, seconds: float) -> str:
    target = TARGETS[name]
    shown = f"< {target * 1000:.0f} ms" if target < 1 else f"< {target:.0f} s"
    return f"{shown}: {'met' if seconds < target else '**not met**'}"


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events-per-person", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "tidings-synthetic"
    )
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of measurements (median)")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()

    path = ensure_store(
        args.data_dir, args.people, args.events_per_person, args.seed, args.regenerate
    )
    db = open_database(f"sqlite:///{path}")
    rounds: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    for round_no in range(args.repeat):
        print(f"round {round_no + 1}", flush=True)
        rounds.setdefault("baseline", []).append(measure_baseline(db))
        seconds, members, _ = measure_build(db, ATTRIBUTE_SEGMENT)
        rounds.setdefault("attribute segment", []).append(seconds)
        notes["attribute segment"] = f"{members:,} members"
        print(f"  attribute segment: {seconds:.3f} s", flush=True)
        seconds, members, refresh = measure_build(db, EVENT_SEGMENT)
        rounds.setdefault("event-count segment", []).append(seconds)
        notes["event-count segment"] = f"{members:,} members"
        print(f"  event-count segment: {seconds:.3f} s", flush=True)
        rounds.setdefault("window refresh", []).append(refresh)
        notes["window refresh"] = "the event-count segment brought up to date 10 s later"
        print(f"  window refresh: {refresh:.3f} s", flush=True)
        seconds, found = measure_search(db)
        rounds.setdefault("search", []).append(seconds)
        notes["search"] = f"first page: {found} people"
        print(f"  search: {seconds:.3f} s", flush=True)
        export = None if args.skip_export else measure_export(path)
        if export is not None:
            rounds.setdefault("export", []).append(export["seconds"])
            notes["export"] = (
                f"{export['rows']:,} rows, {export['bytes'] / 1e6:.0f} MB of CSV, "
                f"peak RSS {export['peak_rss_mb']:.0f} MB (target < {EXPORT_MEMORY_TARGET_MB} MB)"
            )
    db.dispose()

    baseline = statistics.median(rounds["baseline"])
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print()
    print(f"{stamp}; {args.people:,} people, {args.people * args.events_per_person:,} events;")
    print(f"{machine()}; median of {args.repeat} round(s)")
    print()
    print("| measurement | seconds (min-max) | vs baseline | target | notes |")
    print("|---|---|---|---|---|")
    for name, values in rounds.items():
        median = statistics.median(values)
        spread = f"{min(values):.3f}-{max(values):.3f}" if len(values) > 1 else ""
        ratio = "baseline" if name == "baseline" else f"{median / baseline:.1f}x"
        target = verdict(name, median) if name in TARGETS else ""
        print(f"| {name} | {median:.3f} {spread} | {ratio} | {target} | {notes.get(name, '')} |")
    if "export" not in rounds:
        print("| export | not measured in this run | | | |")


if __name__ == "__main__":
    main()
