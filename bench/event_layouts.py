"""What a Pipelines event costs SQLite under other storage layouts: the writer's floor.

    .venv/bin/python bench/event_layouts.py                  # ~5 minutes
    .venv/bin/python bench/event_layouts.py --people 100000 --prefill 2000000

Each layout starts from the same store: the Tidings migrations, --people
people, and --prefill events with their messageId dedup keys, as the
writer left them. Then --rows more events go in, --per-commit to a
transaction (about what the writer commits under the cdp-batch load), each
with its dedup key recorded the way `events.dedup.record_keys` does (one
`INSERT ... ON CONFLICT DO NOTHING RETURNING` per 300 keys) and the rows in
multi-row INSERTs of 200, straight through the sqlite3 module: no HTTP, no
SQLAlchemy, no segment marks or person lookups. WAL, synchronous=FULL, the
writer's 64 MiB page cache; checkpoints run when the WAL passes the
writer's `CHECKPOINT_PAGES` and count in the time.

Printed per layout: CPU µs per event (this process, user and system: the
kernel's copying of written pages is a large part), wall µs, bytes written
to the WAL per event, and the CPU ratio to the first row, measured in the
same run:

  as migrated      today's layout, messageIds random (UUIDs, as the Python SDK)
  sequential keys  the same with increasing messageIds (the Node SDK's are
                   time-prefixed): each key lands at the index's right edge
  no dedup keys    events without messageIds
  hashed keys      each dedup key stored as a 64-bit hash, the rowid of a
                   table of (hash, seen_at): a B-tree a fifth the size
  no person index  without `events (person_id, name, timestamp)`
  append only      neither: the rows and the two indexes that grow at their
                   right edge (time; anonymous events only)
  deferred index   a redesign's candidate: the rows appended, their person
                   entries into a small tail B-tree that moves into the big
                   one every --chunk events, sorted (reads would have to
                   consult both); dedup keys as today
  deferred, no dedup keys

A random key or person dirties its own page of a large B-tree, and the
commit writes that page whole to the WAL (then the checkpoint copies it to
the database): this is what the layouts move.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from run import cpu_model
from sqlite_inserts import DATA, template

from tidings.db.engine import CHECKPOINT_PAGES

NAMES = ("purchase", "viewed_product", "added_to_cart", "checkout_started")
COLUMNS = "workspace_id, person_id, type, name, timestamp, received_at, data"
EVENTS_PER_INSERT = 200
KEYS_PER_INSERT = 300
PERSON_INDEX = "ix_events_person_id_name_timestamp"
NOW = 1_790_000_000


def _rows_sql(count: int) -> str:
    return f"INSERT INTO events ({COLUMNS}) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * count)


def _keys_sql(count: int) -> str:
    return (
        "INSERT INTO event_dedup (workspace_id, key, seen_at) VALUES "
        + ", ".join(["(1, ?, ?)"] * count)
        + " ON CONFLICT DO NOTHING RETURNING key"
    )


def _hashes_sql(count: int) -> str:
    return (
        "INSERT INTO dedup_hashes (id, seen_at) VALUES "
        + ", ".join(["(?, ?)"] * count)
        + " ON CONFLICT DO NOTHING RETURNING id"
    )


def key_hash(key: str) -> int:
    """A dedup key (of workspace 1) as a signed 64-bit integer."""
    digest = hashlib.blake2b(b"1:" + key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class Layout:
    label: str
    dedup: bool = True
    sequential_keys: bool = False
    setup: list[str] = field(default_factory=list)
    tail: bool = False  # person entries go to event_tail, moved in bulk
    hashed: bool = False  # dedup keys as 64-bit hashes in dedup_hashes


DEFERRED_SETUP = [
    "CREATE TABLE event_people (person_id INTEGER, name TEXT, timestamp INTEGER,"
    " event_id INTEGER, PRIMARY KEY (person_id, name, timestamp, event_id)) WITHOUT ROWID",
    "CREATE TABLE event_tail (person_id INTEGER, name TEXT, timestamp INTEGER,"
    " event_id INTEGER, PRIMARY KEY (person_id, name, timestamp, event_id)) WITHOUT ROWID",
    "INSERT INTO event_people SELECT person_id, name, timestamp, id FROM events"
    " ORDER BY person_id, name, timestamp, id",
    f"DROP INDEX {PERSON_INDEX}",
]

HASHED_SETUP = [
    "CREATE TABLE dedup_hashes (id INTEGER PRIMARY KEY, seen_at INTEGER NOT NULL)",
    "INSERT INTO dedup_hashes SELECT key_hash(key), seen_at FROM event_dedup ORDER BY 1",
    "CREATE INDEX ix_dedup_hashes_seen_at ON dedup_hashes (seen_at)",
    "DROP TABLE event_dedup",
]

LAYOUTS = [
    Layout("as migrated"),
    Layout("sequential keys", sequential_keys=True),
    Layout("no dedup keys", dedup=False),
    Layout("hashed keys", setup=HASHED_SETUP, hashed=True),
    Layout("no person index", setup=[f"DROP INDEX {PERSON_INDEX}"]),
    Layout("append only", dedup=False, setup=[f"DROP INDEX {PERSON_INDEX}"]),
    Layout("deferred index", setup=DEFERRED_SETUP, tail=True),
    Layout("deferred, no dedup keys", dedup=False, setup=DEFERRED_SETUP, tail=True),
]


class Load:
    """Events for random people and their dedup keys, the same sequence for every layout."""

    def __init__(self, pks: list[int], seed: int) -> None:
        self.pks = pks
        self.rng = random.Random(seed)
        self.key_rng = random.Random(seed + 1)  # so the events do not depend on the keys
        self.serial = itertools.count()

    def events(self, count: int, second: int) -> list[tuple[object, ...]]:
        rng = self.rng
        rows = []
        for _ in range(count):
            timestamp = second * 1000 + rng.randrange(1000)
            rows.append(
                (1, rng.choice(self.pks), "event", rng.choice(NAMES), timestamp, second, DATA)
            )
        return rows

    def keys(self, count: int, sequential: bool) -> list[str]:
        if sequential:
            return [f"cdp:m-{next(self.serial):012d}" for _ in range(count)]
        rng = self.key_rng
        return [f"cdp:{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(count)]


def write(con: sqlite3.Connection, load: Load, layout: Layout, count: int, second: int) -> None:
    """One transaction's worth: the dedup keys, then the rows (and tail entries)."""
    if layout.dedup:
        keys: list[str] | list[int] = load.keys(count, layout.sequential_keys)
        if layout.hashed:
            keys = [key_hash(key) for key in keys]
        for start in range(0, count, KEYS_PER_INSERT):
            chunk = keys[start : start + KEYS_PER_INSERT]
            params = [value for key in chunk for value in (key, second)]
            sql = _hashes_sql(len(chunk)) if layout.hashed else _keys_sql(len(chunk))
            new = con.execute(sql, params).fetchall()
            assert len(new) == len(chunk), "a random key was seen before"
    rows = load.events(count, second)
    for start in range(0, count, EVENTS_PER_INSERT):
        chunk = rows[start : start + EVENTS_PER_INSERT]
        cursor = con.execute(_rows_sql(len(chunk)), list(itertools.chain.from_iterable(chunk)))
        if layout.tail:
            last = cursor.lastrowid
            assert last is not None
            first = last - len(chunk) + 1
            entries = [(row[1], row[3], row[4], first + i) for i, row in enumerate(chunk)]
            sql = "INSERT INTO event_tail VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(entries))
            con.execute(sql, list(itertools.chain.from_iterable(entries)))


def move_tail(con: sqlite3.Connection) -> None:
    con.execute("INSERT INTO event_people SELECT * FROM event_tail")
    con.execute("DELETE FROM event_tail")


def connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "cache_size=-65536",
        "temp_store=MEMORY",
        "wal_autocheckpoint=0",
    ):
        con.execute(f"PRAGMA {pragma}")
    return con


def prefill(path: Path, events: int, seed: int) -> None:
    con = connect(path)
    load = Load([row[0] for row in con.execute("SELECT id FROM people")], seed)
    layout = Layout("prefill")
    per = 30_000
    for done in range(0, events, per):
        con.execute("BEGIN")
        write(con, load, layout, min(per, events - done), NOW - 86_400 + done // 1000)
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


@dataclass
class Measured:
    cpu_us: float
    wall_us: float
    wal_bytes: float


def measure(folder: Path, source: Path, layout: Layout, args: argparse.Namespace) -> Measured:
    path = folder / "run.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, path)
    con = connect(path)
    con.create_function("key_hash", 1, key_hash, deterministic=True)
    for statement in layout.setup:
        con.execute(statement)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    load = Load([row[0] for row in con.execute("SELECT id FROM people")], args.seed + 1)
    wal, page_size = Path(f"{path}-wal"), con.execute("PRAGMA page_size").fetchone()[0]
    frames = done = pending = 0

    def checkpoint() -> int:
        size = wal.stat().st_size if wal.exists() else 0
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return max(0, size - 32) // (page_size + 24)

    cpu, started = time.process_time(), time.perf_counter()
    while done < args.rows:
        count = min(args.per_commit, args.rows - done)
        con.execute("BEGIN IMMEDIATE")
        write(con, load, layout, count, NOW + done // 50_000)
        con.execute("COMMIT")
        done, pending = done + count, pending + count
        if layout.tail and pending >= args.chunk:
            con.execute("BEGIN IMMEDIATE")
            move_tail(con)
            con.execute("COMMIT")
            pending = 0
        if wal.stat().st_size > CHECKPOINT_PAGES * (page_size + 24):  # as the writer
            frames += checkpoint()
    frames += checkpoint()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - started
    con.close()
    return Measured(cpu / done * 1e6, wall / done * 1e6, frames * page_size / done)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--prefill", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--per-commit", type=int, default=3000)
    parser.add_argument(
        "--chunk", type=int, default=100_000, help="deferred index: events per move"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", help="comma-separated layout numbers (1-based) to run")
    args = parser.parse_args()
    chosen = LAYOUTS
    if args.only:
        chosen = [LAYOUTS[int(n) - 1] for n in args.only.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="tidings-layouts-"))
    try:
        source = template(folder, args.people)
        prefill(source, args.prefill, args.seed)
        print(
            f"{args.prefill:,} events in the store, {args.people:,} people; {args.rows:,} more,"
            f" {args.per_commit:,} a commit; WAL, synchronous=FULL;"
            f" cpu: {os.cpu_count()} x {cpu_model()}"
        )
        print(f"{'layout':<26} {'CPU µs/ev':>9} {'wall µs/ev':>10} {'WAL B/ev':>9} {'vs first':>8}")
        first = None
        for layout in chosen:
            result = measure(folder, source, layout, args)
            first = first or result
            print(
                f"{layout.label:<26} {result.cpu_us:9.1f} {result.wall_us:10.1f}"
                f" {result.wal_bytes:9,.0f} {result.cpu_us / first.cpu_us:7.2f}x",
                flush=True,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
