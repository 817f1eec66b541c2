"""What reading a number out of an attribute costs a condition, per row, on one store.

    .venv/bin/python bench/condition_numbers.py sqlite:////tmp/numbers.sqlite3
    .venv/bin/python bench/condition_numbers.py postgresql+psycopg://postgres@127.0.0.1/postgres

A scratch table of --rows (value, kind) pairs, half kind `n`, half numeric
text (kind `s`, as a CSV import stores it), written as --shape says; then a
COUNT of the rows above a bound, read the way the condition language reads
numbers (`segments/sql_number.number_of`) and, for comparison, with the bare
cast of kind `n` alone that it replaced (which skipped the text). Best of
--repeat runs, in µs a row.
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy import Column, Float, MetaData, String, Table, Text, case, cast, func, select

from tidings.db.engine import open_database
from tidings.runtime import wiring
from tidings.segments.sql_number import number_of

SHAPES = {"integer": "{}", "decimal": "{}.5", "exponent": "{}e0"}


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shape", choices=SHAPES, default="integer")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = open_database(args.url).writer
    table = Table(
        "bench_condition_numbers", MetaData(), Column("value", Text), Column("kind", String(1))
    )
    with engine.begin() as conn:
        table.drop(conn, checkfirst=True)
        table.create(conn)
        rows = [
            {"value": SHAPES[args.shape].format(1_600_000_000 + i), "kind": "ns"[i % 2]}
            for i in range(args.rows)
        ]
        conn.execute(table.insert(), rows)
    readings = {
        "bare cast of kind n": case((table.c.kind == "n", cast(table.c.value, Float))),
        "number_of": case((table.c.kind.in_(("n", "s")), number_of(table.c.value))),
    }
    try:
        for name, number in readings.items():
            query = select(func.count()).select_from(table).where(number > 1_600_000_000)
            best = min(_timed(engine, query) for _ in range(args.repeat))
            print(f"{name:20} {1e6 * best / args.rows:6.2f} µs a row ({args.shape})")
    finally:
        with engine.begin() as conn:
            table.drop(conn)


def _timed(engine, query) -> float:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        start = time.perf_counter()
        conn.execute(query).scalar()
        return time.perf_counter() - start


if __name__ == "__main__":
    main()
