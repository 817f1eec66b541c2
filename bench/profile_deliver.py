"""In-process profile of the delivery side: the worker's claim, suppression check,
MIME build and outcome recording, for deliveries accepted with bench/messaging.py's
template. The provider builds the message as the SMTP adapter does and answers
`Sent` without a network (aiosmtplib's own cost is not in these numbers). With an
admin URL as the first argument, on a fresh PostgreSQL database made through it
(dropped afterwards) instead of SQLite.

    .venv/bin/python bench/profile_deliver.py
    .venv/bin/python bench/profile_deliver.py postgresql://postgres@127.0.0.1:5432/postgres
"""

import contextlib
import cProfile
import json
import os
import pstats
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import messaging as mb

from tidings.clock import FixedClock
from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.providers import mime
from tidings.providers.base import Sent
from tidings.runtime import wiring
from tidings.sending import request as send_request
from tidings.sending import transactional
from tidings.sending.deliverer import DeliveryWorker
from tidings.workspaces import apply as ap
from tidings.workspaces.service import create_workspace

PATH = "/tmp/profile_deliver.sqlite3"
SENDS = int(os.environ.get("SENDS", "2000"))


class Building:
    async def send(self, delivery_id, message):
        mime.build(delivery_id, message)
        return Sent(None)

    async def close(self):
        pass


def setup(now: int, pg_url: str | None):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(PATH + suffix):
            os.remove(PATH + suffix)
    if pg_url:
        pg_url = pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    db = open_database(pg_url or "sqlite:///" + PATH)
    upgrade(db)
    with db.writer.begin() as c:
        ws = create_workspace(c, "p", now).workspace_id
        doc = ap.parse(json.loads(mb.workspace_file(2525, 16)))
        ap.apply_plan(c, ws, ap.plan(doc, ap.current(c, ws)), now)
        for n in range(mb.PEOPLE):
            attrs = {"email": f"p{n}@example.test", "first_name": "Ada", "plan": "pro"}
            service.identify(c, ws, classify(f"p{n}"), service.parse_identify(attrs, now), now)
    rng = random.Random(1)
    with db.writer.begin() as c:
        for n in range(SENDS):
            raw = mb.send_request(n, rng)
            body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
            spec = send_request.parse("email", body, now)
            transactional.send_transactional(
                c, ws, spec, transactional.new_delivery_id(), "http://127.0.0.1:8080", now
            )
    return db


def main() -> None:
    wiring.wire()  # as every process that runs use cases: they publish on the activity stream
    now = int(time.time())
    store = contextlib.ExitStack()
    pg_url = store.enter_context(mb.postgres_database(sys.argv[1] if len(sys.argv) > 1 else None))
    db = setup(now, pg_url)
    factories = {"smtp": lambda config, ws, channel, services: Building()}
    worker = DeliveryWorker(db, FixedClock(now), factories=factories, concurrency=64)
    worker.run_once()  # warm up
    t, cpu, done = time.perf_counter(), time.process_time(), 0
    while done < SENDS // 2:
        done += worker.run_once()
    el, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"{el / done * 1e6:.0f} us per delivery, {cpu / done * 1e6:.0f} us of CPU ({done})")
    pr = cProfile.Profile()
    pr.enable()
    while worker.run_once():
        pass
    pr.disable()
    pstats.Stats(pr).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(35)
    db.dispose()
    store.close()


if __name__ == "__main__":
    main()
