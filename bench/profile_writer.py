"""Where a single event's write time goes, without HTTP: a tiny driver for the writer path.

    .venv/bin/python bench/profile_writer.py            # timings per event
    .venv/bin/python bench/profile_writer.py --cprofile # plus the top functions

It runs the Track v1 `events.track` use case exactly as the group-commit writer
does (one SAVEPOINT per request, one COMMIT per batch) on a fresh SQLite store
(WAL, synchronous=FULL), and splits the cost per event into:

  - the whole use case through SQLAlchemy, for new and for known customers;
  - the same SQL replayed through the sqlite3 module directly (what SQLite itself
    costs, statement building and SQLAlchemy's result handling left out);
  - SAVEPOINT / RELEASE per event, and COMMIT (the fsyncs) per batch.

Numbers are CPU-bound microseconds on this machine; the machine is shared, so
compare rows of one run rather than runs.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event

from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.events import service as events
from tidings.people.identifiers import classify
from tidings.runtime import wiring
from tidings.workspaces import service as workspaces

BODY = {
    "name": "purchase",
    "data": {
        "order_id": "ord_1_1",
        "sku": "SKU-4821",
        "product": "Trail running shoes",
        "category": "footwear",
        "price": 129.95,
        "quantity": 2,
        "currency": "USD",
        "coupon": None,
        "source": "web",
        "session_id": "sess_1a2b3c4d",
        "plan": "premium",
        "first_order": False,
    },
    "timestamp": 1700000000,
}


def run_batches(conn: Any, ws: int, ids: list[str], batch: int, savepoints: bool) -> float:
    """Seconds to track one event per id, `batch` events per commit."""
    now = int(time.time())
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        with conn.begin():
            for cid in ids[start : start + batch]:
                parsed = events.parse_event(BODY)
                if savepoints:
                    sp = conn.begin_nested()
                    events.track(conn, ws, classify(cid), parsed, now)
                    sp.commit()
                else:
                    events.track(conn, ws, classify(cid), parsed, now)
    return time.perf_counter() - started


INSERT_EVENT = (
    "INSERT INTO events (workspace_id, person_id, anonymous_id, type, name, timestamp,"
    " received_at, data) VALUES (?, ?, NULL, ?, ?, ?, ?, ?)"
)


def _batch_rows(found: dict[str, int], ws: int, ids: list[str], now: int) -> list[tuple[Any, ...]]:
    out = []
    for cid in ids:
        parsed = events.parse_event(BODY)
        ts = parsed.timestamp if parsed.timestamp is not None else now
        out.append((ws, found[cid], parsed.type, parsed.name, ts, now, parsed.data_json))
    return out


def _set_based_raw(raw: Any, db_file: Path, ws: int, batches: list[list[str]], now: int) -> None:
    for ids in batches:
        marks = ",".join("?" * len(ids))
        raw.execute("BEGIN IMMEDIATE")
        blocked = raw.execute(
            "SELECT value FROM suppressions WHERE workspace_id = ? AND kind = 'id'"
            f" AND value IN ({marks})",
            (ws, *ids),
        ).fetchall()
        assert not blocked
        found = dict(
            raw.execute(
                "SELECT customer_id, id FROM people"
                f" WHERE workspace_id = ? AND customer_id IN ({marks})",
                (ws, *ids),
            ).fetchall()
        )
        raw.executemany(INSERT_EVENT, _batch_rows(found, ws, ids, now))
        raw.execute("COMMIT")


def _set_based_core(_: Any, db_file: Path, ws: int, batches: list[list[str]], now: int) -> None:
    from sqlalchemy import insert, select

    from tidings.db.schema import events as events_table
    from tidings.db.schema import people, suppressions

    db = open_database(f"sqlite:///{db_file}")
    keys = ("workspace_id", "person_id", "type", "name", "timestamp", "received_at", "data")
    with db.writer.connect() as conn:
        for ids in batches:
            with conn.begin():
                blocked = conn.execute(
                    select(suppressions.c.value).where(
                        suppressions.c.workspace_id == ws,
                        suppressions.c.kind == "id",
                        suppressions.c.value.in_(ids),
                    )
                ).all()
                assert not blocked
                found = dict(
                    conn.execute(
                        select(people.c.customer_id, people.c.id).where(
                            people.c.workspace_id == ws, people.c.customer_id.in_(ids)
                        )
                    ).all()
                )
                rows = [dict(zip(keys, r, strict=True)) for r in _batch_rows(found, ws, ids, now)]
                conn.execute(insert(events_table), rows)
    db.dispose()


def _prebuilt_core(_: Any, db_file: Path, ws: int, batches: list[list[str]], now: int) -> None:
    """The same 3 statements per event as today, but built once with bindparam()."""
    from sqlalchemy import bindparam, insert, select

    from tidings.db.schema import events as events_table
    from tidings.db.schema import people, suppressions

    is_blocked = select(suppressions.c.kind).where(
        suppressions.c.workspace_id == bindparam("ws"),
        suppressions.c.kind == "id",
        suppressions.c.value == bindparam("key"),
    )
    find = select(people.c.id, people.c.cio_id, people.c.email, people.c.created_at).where(
        people.c.workspace_id == bindparam("ws"), people.c.customer_id == bindparam("key")
    )
    append = insert(events_table)
    db = open_database(f"sqlite:///{db_file}")
    with db.writer.connect() as conn:
        for ids in batches:
            with conn.begin():
                for cid in ids:
                    parsed = events.parse_event(BODY)
                    assert conn.execute(is_blocked, {"ws": ws, "key": cid}).first() is None
                    person = conn.execute(find, {"ws": ws, "key": cid}).first()
                    assert person is not None
                    conn.execute(
                        append,
                        {
                            "workspace_id": ws,
                            "person_id": person[0],
                            "type": parsed.type,
                            "name": parsed.name,
                            "timestamp": parsed.timestamp or now,
                            "received_at": now,
                            "data": parsed.data_json,
                        },
                    )
    db.dispose()


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32, help="events per commit (32)")
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tidings-profile-"))
    try:
        report(tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(tmp: Path, args: argparse.Namespace) -> None:
    db_file = tmp / "tidings.sqlite3"
    db = open_database(f"sqlite:///{db_file}")
    upgrade(db)
    with db.writer.begin() as conn:
        ws = workspaces.create_workspace(conn, "bench", time.time()).workspace_id

    statements: list[tuple[str, Any]] = []
    recording = [False]

    @event.listens_for(db.writer, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if recording[0]:
            statements.append((statement, parameters))

    n = args.events
    new_ids = [f"cust_{i}" for i in range(n)]
    rows: list[tuple[str, float]] = []
    with db.writer.connect() as conn:
        recording[0] = True
        seconds = run_batches(conn, ws, new_ids, args.batch, savepoints=True)
        recording[0] = False
        per_new = len([s for s in statements if not s[0].startswith(("SAVEPOINT", "RELEASE"))])
        rows.append(("use case, new customer (SQLAlchemy, savepoint, commit)", seconds / n))
        statements.clear()

        recording[0] = True
        seconds = run_batches(conn, ws, new_ids, args.batch, savepoints=True)
        recording[0] = False
        known = [s for s in statements if not s[0].startswith("BEGIN")]
        per_known = len([s for s in known if not s[0].startswith(("SAVEPOINT", "RELEASE"))])
        rows.append(("use case, known customer (SQLAlchemy, savepoint, commit)", seconds / n))

        seconds = run_batches(conn, ws, new_ids, args.batch, savepoints=False)
        rows.append(("use case, known customer, no savepoints", seconds / n))

        profile = None
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            run_batches(conn, ws, new_ids, args.batch, savepoints=True)
            profile.disable()
    db.dispose()

    # The same statements, straight through sqlite3 (prepared-statement cache, no SQLAlchemy).
    raw = sqlite3.connect(db_file, isolation_level=None, cached_statements=256)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    for label, keep in (
        ("same SQL via sqlite3, savepoints and commits included", lambda s: True),
        ("same SQL via sqlite3, no SAVEPOINT/RELEASE", lambda s: not s.startswith(("SAVE", "REL"))),
    ):
        chosen = [(s, p) for s, p in known if keep(s)]
        started = time.perf_counter()
        for start in range(0, n, args.batch):
            raw.execute("BEGIN IMMEDIATE")
            end = min(n, start + args.batch)
            for s, p in chosen[start * len(chosen) // n : end * len(chosen) // n]:
                raw.execute(s, p).fetchall()
            raw.execute("COMMIT")
        rows.append((label, (time.perf_counter() - started) / n))

    # Sketches of a set-based group commit for known customers: per batch, one
    # lookup of all the batch's people, one suppression check, one multi-row insert.
    ids_by_batch = [new_ids[i : i + args.batch] for i in range(0, n, args.batch)]
    now = int(time.time())
    for label, fn in (
        (
            "set-based sketch via sqlite3: 2 SELECT ... IN + executemany INSERT per batch",
            _set_based_raw,
        ),
        ("set-based sketch via SQLAlchemy Core (same 3 statements per batch)", _set_based_core),
        ("per-event sketch via SQLAlchemy Core, statements built once (bindparam)", _prebuilt_core),
    ):
        started = time.perf_counter()
        fn(raw if "sqlite3" in label else None, db_file, ws, ids_by_batch, now)
        rows.append((label, (time.perf_counter() - started) / n))

    # Request-side work the writer never sees, for scale: decode + validate one body.
    body = msgspec.json.encode(BODY)
    started = time.perf_counter()
    for _ in range(n):
        events.parse_event(msgspec.json.decode(body))
    parse_seconds = (time.perf_counter() - started) / n
    rows.append(("(event loop side) JSON decode + parse_event of one body", parse_seconds))

    # COMMIT alone: an fsync of the WAL per batch.
    started = time.perf_counter()
    commits = 200
    for i in range(commits):
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE workspaces SET name = ? WHERE id = ?", (f"bench{i}", ws))
        raw.execute("COMMIT")
    commit_us = (time.perf_counter() - started) / commits
    raw.close()

    print(f"{n} events, {args.batch} per commit, SQLite WAL synchronous=FULL")
    print(f"SQL statements per event: {per_new / n:.1f} new customer, {per_known / n:.1f} known")
    for label, seconds in rows:
        print(f"  {seconds * 1e6:8.0f} us/event  {label}")
    per_event = commit_us * 1e6 / args.batch
    print(f"  {commit_us * 1e6:8.0f} us/commit of a one-row transaction (the fsync)")
    print(f"  {per_event:8.0f} us/event for that at {args.batch} events per commit")
    distinct = sorted({re.sub(r"sa_savepoint_\d+", "sa_savepoint_N", s) for s, _ in known})
    print("statements of a known customer's event:")
    for s in distinct:
        print("   ", " ".join(s.split())[:160])
    if profile is not None:
        print()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    main()
