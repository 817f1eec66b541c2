"""In-process profile of `transactional.send_transactional` (the accept side, no HTTP):
500 sends of bench/messaging.py's template, one commit each; prints µs per send and
the cProfile top 30. With an admin URL as the first argument, on a fresh PostgreSQL
database made through it (dropped afterwards) instead of SQLite.

    .venv/bin/python bench/profile_send.py
    .venv/bin/python bench/profile_send.py postgresql://postgres@127.0.0.1:5432/postgres
"""

import contextlib
import cProfile
import json
import os
import pstats
import random
import sys
import time

sys.path.insert(0, "bench")
import messaging as mb

from tidings.db.engine import open_database
from tidings.db.migrate import upgrade
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.runtime import wiring
from tidings.sending import request as send_request
from tidings.sending import transactional
from tidings.workspaces import apply as ap
from tidings.workspaces.service import create_workspace

path = "/tmp/prof_send.sqlite3"
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(path + suffix):
        os.remove(path + suffix)
store = contextlib.ExitStack()
pg_url = store.enter_context(mb.postgres_database(sys.argv[1] if len(sys.argv) > 1 else None))
if pg_url:
    pg_url = pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
db = open_database(pg_url or "sqlite:///" + path)
upgrade(db)
wiring.wire()  # as every process that runs use cases: they publish on the activity stream
now = int(time.time())
with db.writer.begin() as c:
    ws = create_workspace(c, "p", now).workspace_id
    doc = ap.parse(json.loads(mb.workspace_file(2525, 16)))
    ap.apply_plan(c, ws, ap.plan(doc, ap.current(c, ws)), now)
    for n in range(1000):
        service.identify(
            c,
            ws,
            classify(f"p{n}"),
            service.parse_identify(
                {"email": f"p{n}@example.test", "first_name": "Ada", "plan": "pro"}, now
            ),
            now,
        )
rng = random.Random(1)
bodies = []
for n in range(2000):
    raw = mb.send_request(n, rng)
    bodies.append(json.loads(raw.split(b"\r\n\r\n", 1)[1]))


def run(k):
    for body in bodies[:k]:
        spec = send_request.parse("email", body, now)
        with db.writer.begin() as c:
            transactional.send_transactional(
                c, ws, spec, transactional.new_delivery_id(), "http://127.0.0.1:8080", now
            )


run(50)
t, cpu = time.perf_counter(), time.process_time()
run(500)
el, cpu = time.perf_counter() - t, time.process_time() - cpu
print(f"{el / 500 * 1e6:.0f} us per send incl. one commit each, {cpu / 500 * 1e6:.0f} us of CPU")
pr = cProfile.Profile()
pr.enable()
run(500)
pr.disable()
pstats.Stats(pr).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(30)
db.dispose()
store.close()
