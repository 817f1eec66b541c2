"""CPU per event on the batch ingest paths, without HTTP: what `cdp-batch` and `batch` cost.

    .venv/bin/python bench/profile_batch.py                 # both paths, µs per event
    .venv/bin/python bench/profile_batch.py cdp --cprofile  # plus the top functions

Bodies are shaped as `bench/lua/cdp_batch.lua` and `bench/lua/batch.lua` send
them (100 items, customers out of 1,000, a random UUID messageId per Pipelines
call). Each path is split the way the server splits it between its threads:

  - handler (event loop thread): JSON decode and parse/validate, exactly what
    `api/pipelines.py` and `api/track_v2.py` run before `app.write`;
  - use case (writer thread): `pipelines.ingest.ingest` / `track.apply.apply_batch`
    for `--per-commit` requests in one transaction, as the group-commit writer
    runs them (no savepoints), on a fresh SQLite store (WAL, synchronous=FULL);
  - COMMIT (the fsync) per transaction, measured on its own.

Times are process CPU (`time.process_time`) except COMMIT, which is wall
time (it waits for the disk). The machine is shared: compare runs made back
to back.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidings.api import pipelines as cdp_api
from tidings.api.http import Request
from tidings.db.engine import open_database, prepare_group_commit
from tidings.db.migrate import upgrade
from tidings.pipelines import ingest
from tidings.runtime import wiring
from tidings.track_v2 import apply as track_apply
from tidings.track_v2 import parse as track_parse
from tidings.workspaces import service as workspaces

NAMES = ("purchase", "viewed_product", "added_to_cart", "checkout_started")
PRODUCTS = (
    ("SKU-4821", "Trail running shoes", "footwear", 129.95),
    ("SKU-1177", "Merino wool socks (3 pack)", "accessories", 24.50),
    ("SKU-9034", "Waterproof shell jacket", "outerwear", 219.00),
    ("SKU-3310", "Insulated water bottle", "accessories", 34.99),
)
CDP_PREFIX = (
    '{"type":"track","integrations":{},"anonymousId":null,'
    '"context":{"library":{"name":"analytics-python","version":"1.1.0"}},"userId":"'
)


def _data(rng: random.Random, n: int) -> str:
    sku, product, category, price = rng.choice(PRODUCTS)
    return (
        f'{{"order_id":"ord_1_{n}","sku":"{sku}","product":"{product}","category":"{category}",'
        f'"price":{price:.2f},"quantity":{rng.randint(1, 4)},"currency":"USD","coupon":null,'
        f'"source":"web","session_id":"sess_{rng.getrandbits(31):08x}",'
        f'"plan":"{rng.choice(("free", "basic", "premium"))}",'
        f'"first_order":{"true" if rng.random() < 0.2 else "false"}}}'
    )


def cdp_body(rng: random.Random, start: int, size: int, customers: int) -> bytes:
    parts = []
    for n in range(start, start + size):
        i = n % 1024 + 1  # cdp_batch.lua cycles through 1,024 timestamps
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1700000000 + i * 37))
        parts.append(
            f'{CDP_PREFIX}cust_{rng.randint(1, customers)}","event":"{rng.choice(NAMES)}",'
            f'"properties":{_data(rng, n)},"timestamp":"{stamp}.{i % 1000:03d}+00:00",'
            f'"messageId":"{uuid.UUID(int=rng.getrandbits(128), version=4)}"}}'
        )
    body = '{"batch":[' + ",".join(parts) + '],"sentAt":"2023-11-14T22:13:20.633764+00:00"}'
    return body.encode()


PLANS = ("free", "basic", "premium")
CDP_CONTEXT = (
    '"integrations":{},"anonymousId":null,'
    '"context":{"library":{"name":"analytics-python","version":"1.1.0"}},'
)


def cdp_mixed_body(rng: random.Random, start: int, size: int, customers: int) -> bytes:
    """`cdp_body` with every tenth call an identify, as `bench/lua/cdp_mixed.lua` sends
    them (traits email, name and plan, and a last_login that changes every second)."""
    parts = []
    for n in range(start, start + size):
        if n % 10:
            one = cdp_body(rng, n, 1, customers).decode()
            parts.append(one[len('{"batch":[') : one.index("],")])
            continue
        number = rng.randint(1, customers)
        second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1700000000 + n // 100))
        parts.append(
            f'{{"type":"identify",{CDP_CONTEXT}"userId":"cust_{number}","traits":'
            f'{{"email":"cust_{number}@example.com","name":"Customer {number}",'
            f'"plan":"{PLANS[number % 3]}","last_login":"{second}.000Z"}},'
            f'"timestamp":"{second}.000Z",'
            f'"messageId":"{uuid.UUID(int=rng.getrandbits(128), version=4)}"}}'
        )
    body = '{"batch":[' + ",".join(parts) + '],"sentAt":"2023-11-14T22:13:20.633764+00:00"}'
    return body.encode()


EVENT_IDS = False  # --event-ids: a unique `id` per v2 event, as bench/run.py's flag


def _event_id(n: int) -> str:
    return f',"id":"evt_1_1_{n}"' if EVENT_IDS else ""


def v2_body(rng: random.Random, start: int, size: int, customers: int) -> bytes:
    parts = [
        f'{{"type":"person","identifiers":{{"id":"cust_{rng.randint(1, customers)}"}},'
        f'"action":"event","name":"{rng.choice(NAMES)}","attributes":{_data(rng, n)},'
        f'"timestamp":{1700000000 + n}{_event_id(n)}}}'
        for n in range(start, start + size)
    ]
    return ('{"batch":[' + ",".join(parts) + "]}").encode()


def _request(body: bytes) -> Request:
    scope = {"method": "POST", "path": "/", "headers": [], "query_string": b""}
    return Request(scope, body)


def cdp_handler(body: bytes, now: int) -> list[Any]:
    request = _request(body)
    decoded, refused = cdp_api.decode(request, False)
    assert refused is None
    return cdp_api.messages(decoded, len(body), None, now)


def cdp_write(conn: Any, ws: int, requests: list[list[Any]], now: int) -> None:
    """One commit's requests, as the writer applies them (`api/pipelines.py`)."""
    if all(ingest.only_plain_events(items) for items in requests):
        ingest.ingest_queued(conn, [(ws, ingest.plain_items(items), now) for items in requests])
        return
    for items in requests:
        ingest.ingest(conn, ws, items, now, False)


def v2_handler(body: bytes, now: int) -> list[Any]:
    track_parse.check_size(body, track_parse.BATCH_LIMIT)
    return track_parse.parse_batch(_request(body).json(), now, len(body))


def v2_write(conn: Any, ws: int, requests: list[list[Any]], now: int) -> None:
    """One commit's requests, as the writer applies them (`api/track_v2.py`)."""
    if all(track_apply.only_events(items) for items in requests):
        track_apply.apply_queued(
            conn, [(ws, track_apply.plain_events(items), now) for items in requests]
        )
        return
    for items in requests:
        track_apply.apply_batch(conn, ws, items, now)


PATHS: dict[str, tuple[Callable[..., bytes], Callable[..., list[Any]], Callable[..., None]]] = {
    "cdp": (cdp_body, cdp_handler, cdp_write),
    "cdp-mixed": (cdp_mixed_body, cdp_handler, cdp_write),
    "v2": (v2_body, v2_handler, v2_write),
}


def measure(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    make_body, handler, write = PATHS[name]
    rng = random.Random(1)
    size, count = args.size, args.requests
    bodies = [make_body(rng, i * size, size, args.customers) for i in range(count)]
    db = open_database(f"sqlite:///{tmp / (name + '.sqlite3')}")
    upgrade(db)
    with db.writer.begin() as conn:
        ws = workspaces.create_workspace(conn, "bench", time.time()).workspace_id
    now = int(time.time())
    profile = cProfile.Profile() if args.cprofile else None
    parse_cpu = write_cpu = commit_cpu = commit_wall = 0.0
    with db.writer.connect() as conn:
        prepare_group_commit(conn)  # as the server's writer does
        for pragma in args.pragma:
            conn.connection.driver_connection.execute(f"PRAGMA {pragma}")
        _prefill(conn, ws, make_body, handler, write, args, now)
        for start in range(0, count, args.per_commit):
            group = bodies[start : start + args.per_commit]
            if profile:
                profile.enable()
            t0 = time.process_time()
            parsed = [handler(body, now) for body in group]
            t1 = time.process_time()
            transaction = conn.begin()
            write(conn, ws, parsed, now)
            t2 = time.process_time()
            w0 = time.perf_counter()
            transaction.commit()
            commit_wall += time.perf_counter() - w0
            commit_cpu += time.process_time() - t2
            if profile:
                profile.disable()
            parse_cpu += t1 - t0
            write_cpu += t2 - t1
    db.dispose()
    events = size * count
    if profile:
        print(f"--- {name}: cProfile (handler + use case + commit) ---")
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    return {
        "handler": parse_cpu / events * 1e6,
        "use case": write_cpu / events * 1e6,
        "COMMIT": commit_cpu / events * 1e6,
        "COMMIT (wall)": commit_wall / events * 1e6,
    }


def _prefill(
    conn: Any, ws: int, make_body: Any, handler: Any, write: Any, args: Any, now: int
) -> None:
    """`--prefill` requests written unmeasured first (the bench's store reaches ~500,000 events)."""
    rng = random.Random(2)
    size = args.size
    for start in range(0, args.prefill, args.per_commit):
        count = min(args.per_commit, args.prefill - start)
        parsed = [
            handler(make_body(rng, -(start + i + 1) * size, size, args.customers), now)
            for i in range(count)
        ]
        with conn.begin():
            write(conn, ws, parsed, now)


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", help="cdp, cdp-mixed, v2 (default: cdp and v2)")
    parser.add_argument("--requests", type=int, default=400, help="requests per path (400)")
    parser.add_argument("--size", type=int, default=100, help="items per request (100)")
    parser.add_argument("--per-commit", type=int, default=8, help="requests per commit (8)")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument(
        "--prefill", type=int, default=0, help="requests written before measuring (0)"
    )
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--pragma", action="append", default=[], help="run on the writer first")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--event-ids", action="store_true", help="a unique id per v2 event")
    args = parser.parse_args()
    global EVENT_IDS
    EVENT_IDS = args.event_ids
    tmp = Path(tempfile.mkdtemp(prefix="tidings-profile-batch-"))
    try:
        for name in args.paths or ["cdp", "v2"]:
            result = measure(name, args, tmp)
            line = ", ".join(f"{key} {value:.1f}" for key, value in result.items())
            cpu = sum(result.values()) - result["COMMIT (wall)"]
            print(f"{name}: µs per event: {line}; CPU total {cpu:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
