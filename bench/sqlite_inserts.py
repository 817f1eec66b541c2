"""What SQLite itself charges per appended event, and which schema/pragma choices move it.

    .venv/bin/python bench/sqlite_inserts.py [--rows 160000] [--per-commit 800]
    .venv/bin/python bench/sqlite_inserts.py --page-sizes 4096,16384 --rows 1500000 ...

Appends event rows for random people (out of --people) straight through the
sqlite3 module, in transactions of --per-commit rows, on a store made by the
Tidings migrations (WAL, synchronous=FULL), and repeats that with variations:
a bigger page cache, bigger transactions, and without the events indexes that
are keyed by person (random inserts into those B-trees dirty roughly a page
per row, which the commit writes to the WAL and checkpoints copy back).
No SQLAlchemy, no HTTP: this is the floor under the v2 batch path.

With --page-sizes it instead appends the same rows to copies of the store
rebuilt (VACUUM) with each page size, with the writer's 64 MiB page cache.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.runtime import wiring

DATA = json.dumps(
    {
        "order_id": "ord_1_284",
        "sku": "SKU-9034",
        "product": "Waterproof shell jacket",
        "category": "outerwear",
        "price": 219.00,
        "quantity": 1,
        "currency": "USD",
        "coupon": None,
        "source": "web",
        "session_id": "sess_30b5e1ee",
        "plan": "free",
        "first_order": False,
    }
)
INSERT = (
    "INSERT INTO events (workspace_id, person_id, type, name, timestamp, received_at, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def template(folder: Path, people: int) -> Path:
    path = folder / "template.sqlite3"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(
        "INSERT INTO workspaces (id, name, site_id, track_key_hash, app_key_hash, cdp_key_hash,"
        " created_at) VALUES (1, 'bench', 's', 't', 'a', 'c', 0)"
    )
    con.executemany(
        "INSERT INTO people (workspace_id, cio_id, customer_id, created_at, updated_at)"
        " VALUES (1, ?, ?, 0, 0)",
        [(f"{i:012x}", f"cust_{i}") for i in range(people)],
    )
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


def run(folder: Path, source: Path, label: str, pragmas: list[str], rows: int, per: int) -> None:
    path = folder / "run.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    for pragma in pragmas:
        con.execute(pragma)
    pks = [row[0] for row in con.execute("SELECT id FROM people")]
    rnd = random.Random(1)
    started, in_commit = time.perf_counter(), 0.0
    for first in range(0, rows, per):
        batch = [
            (
                1,
                rnd.choice(pks),
                "event",
                "purchase",
                1_700_000_000 + first + j,
                1_700_000_000,
                DATA,
            )
            for j in range(per)
        ]
        con.execute("BEGIN IMMEDIATE")
        con.executemany(INSERT, batch)
        before = time.perf_counter()
        con.execute("COMMIT")
        in_commit += time.perf_counter() - before
    elapsed = time.perf_counter() - started
    con.close()
    print(
        f"  {elapsed / rows * 1e6:6.1f} us/row ({in_commit / rows * 1e6:5.1f} in COMMIT)"
        f"  {rows / elapsed:9,.0f} rows/s  {label}"
    )


def with_page_size(folder: Path, source: Path, page_size: int) -> Path:
    path = folder / f"template-{page_size}.sqlite3"
    shutil.copy(source, path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")  # the page size of a WAL store is fixed
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("VACUUM")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    return path


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=160_000)
    parser.add_argument("--per-commit", type=int, default=800)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--page-sizes", help="comma-separated page sizes to compare instead")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tidings-sqlite-"))
    try:
        source = template(folder, args.people)
        indexes = [
            row[0]
            for row in sqlite3.connect(source).execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
                " AND sql LIKE '%person_id%'"
            )
        ]
        drops = [f"DROP INDEX {name}" for name in indexes]
        n, per = args.rows, args.per_commit
        print(f"{n:,} event rows, {per} per commit, {args.people} people, WAL synchronous=FULL")
        if args.page_sizes:
            for size in (int(value) for value in args.page_sizes.split(",")):
                resized = with_page_size(folder, source, size)
                cache = ["PRAGMA cache_size=-65536"]
                run(folder, resized, f"page_size={size}, 64 MiB cache", cache, n, per)
            return
        run(folder, source, "as migrated", [], n, per)
        run(
            folder,
            source,
            "cache_size=-65536 (64 MiB page cache)",
            ["PRAGMA cache_size=-65536"],
            n,
            per,
        )
        run(folder, source, f"{per * 4} rows per commit", [], n, per * 4)
        for drop in drops:
            run(folder, source, f"without {drop.split()[-1]}", [drop], n, per)
        run(folder, source, "without any person-keyed events index", drops, n, per)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
