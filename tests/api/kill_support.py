"""The load, the processes and the checks shared by the kill tests of issue 18
(tests/api/test_many_nodes_kill.py without the ingest log, test_ingest_log_kill.py
with it): events with unique markers sent through Pipelines `/v1/batch` and Track v1
to several servers (5% re-sent ids, some events without one), a campaign that mails
each `order` event to a real SMTP server, and what must hold afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
import msgspec
from sqlalchemy import text

from tests.support import CLI
from tidings.db.engine import Database

BATCH = 100  # Pipelines events per /v1/batch request
PEOPLE = 3000
CONCURRENCY = 16  # requests in flight at once, over both servers
TERMINAL = ("sent", "failed", "suppressed")

CAMPAIGN = """\
providers:
  - {{channel: email, kind: smtp, config: {{host: 127.0.0.1, port: {port}, security: none}}}}
campaigns:
  - name: Order mail
    state: running
    frequency: every_time
    trigger: {{event: {{name: order}}}}
    workflow:
      - email: {{from: shop@example.net, subject: "Order {{{{ event.marker }}}}",
                 body: "<p>{{{{ event.marker }}}}</p>"}}
"""


# --- the load: what is sent, and what was acknowledged ----------------------------------


@dataclass(frozen=True)
class Item:
    marker: str
    name: str
    surface: str  # cdp | track
    body: dict[str, Any]  # a Pipelines message, or a Track v1 event body
    user: str
    has_id: bool


@dataclass
class Load:
    requests: list[list[Item]]  # a /v1/batch of items, or one Track v1 item
    acknowledged: set[str] = field(default_factory=set)
    done: int = 0
    failed: int = 0  # answers that were not a 2xx (or none), each followed by a retry or not


def plan(count: int) -> Load:
    """`count` items in requests; every 20th re-sends an earlier item that has an id:
    half of them a recent one (the same or a nearby request, likely in flight on the
    other server at the same moment), half any earlier one."""
    sent: list[Item] = []
    with_id: list[Item] = []
    for i in range(count):
        if i % 20 == 19 and with_id:
            back = i % 300 if i % 40 == 19 else (i * 7919) % len(with_id)
            sent.append(with_id[max(0, len(with_id) - 1 - back)])
            continue
        item = _item(i - i // 20)
        sent.append(item)
        if item.has_id:
            with_id.append(item)
    requests: list[list[Item]] = []
    batch: list[Item] = []
    for item in sent:
        if item.surface == "track":
            requests.append([item])
            continue
        batch.append(item)
        if len(batch) == BATCH:
            requests.append(batch)
            batch = []
    return Load(requests + ([batch] if batch else []))


def _item(n: int) -> Item:
    marker, user = f"m{n}", f"u{n % PEOPLE}"
    name = "order" if n % 40 == 1 else "visit"
    data: dict[str, Any] = {"marker": marker, "n": n}
    if name == "order":
        data["recipient"] = f"{user}@example.com"
    has_id = n % 25 != 3  # 4% carry no id
    if n % 20 == 0:  # 5% through Track v1
        body = {"name": name, "data": data, **({"id": f"ev-{n}"} if has_id else {})}
        return Item(marker, name, "track", body, user, has_id)
    message = {"type": "track", "userId": user, "event": name, "properties": data}
    if has_id:
        message["messageId"] = f"msg-{n}"
    return Item(marker, name, "cdp", message, user, has_id)


@dataclass
class Target:
    port: int
    process: subprocess.Popen[bytes]
    alive: bool = True


async def drive(
    load: Load,
    servers: list[Target],
    creds: dict[str, str],
    *,
    attempts: int = 4,
    pause: float = 0.0,
) -> None:
    """Send every request, CONCURRENCY at once, alternating servers; a failed request's
    items that carry an id are sent again (up to `attempts` in all, `pause` seconds
    after each failure, as a client honouring `Retry-After` would) to a server still
    alive."""
    track_auth = httpx.BasicAuth(creds["site_id"], creds["track_api_key"])
    cdp_auth = httpx.BasicAuth(creds["cdp_write_key"], "")
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        pending = iter(enumerate(load.requests))

        async def post(items: list[Item], port: int) -> bool:
            base = f"http://127.0.0.1:{port}"
            try:
                if items[0].surface == "track":
                    item = items[0]
                    url = f"{base}/api/v1/customers/{item.user}/events"
                    answer = await client.post(url, json=item.body, auth=track_auth)
                else:
                    body = {"batch": [i.body for i in items]}
                    answer = await client.post(f"{base}/v1/batch", json=body, auth=cdp_auth)
            except httpx.TransportError:
                return False
            return answer.is_success

        async def sender() -> None:
            for index, items in pending:
                for attempt in range(attempts):
                    live = [s for s in servers if s.alive]
                    if await post(items, live[(index + attempt) % len(live)].port):
                        load.acknowledged.update(i.marker for i in items)
                        break
                    load.failed += 1
                    items = [i for i in items if i.has_id]  # the rest may have been stored
                    if not items:
                        break
                    await asyncio.sleep(pause)
                load.done += 1

        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))


# --- the processes -----------------------------------------------------------------------


def start(args: list[str], log: IO[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TIDINGS_LOG_LEVEL": "warning"}
    return subprocess.Popen([*CLI, *args], stdout=log, stderr=log, env=env)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait; SIGKILL after 30 s. Its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def scalar(db: Database, sql: str, **params: Any) -> Any:
    with db.reader.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def deadlocks(db: Database) -> int:
    sql = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    return int(scalar(db, sql))


def in_flight(db: Database, ws: int) -> set[str]:
    sql = "SELECT id FROM deliveries WHERE workspace_id = :ws AND state = 'sending'"
    with db.reader.connect() as conn:
        return set(conn.execute(text(sql), {"ws": ws}).scalars())


def drained(db: Database, ws: int) -> bool:
    """Every stored `order` event has its delivery, and none is waiting or sending."""
    count = "SELECT count(*) FROM {} WHERE workspace_id = :ws AND {}"
    orders = scalar(db, count.format("events", "name = 'order'"), ws=ws)
    active = scalar(db, count.format("journeys", "state = 'active'"), ws=ws)
    ended = scalar(db, count.format("deliveries", f"state IN {TERMINAL}"), ws=ws)
    return active == 0 and ended == orders


@dataclass
class Kills:
    worker_at: int = -1  # messages the SMTP server had when the worker was killed
    in_flight: set[str] = field(default_factory=set)
    server_at: int = -1  # requests done when the server was killed


EVENT_DATA = "SELECT data FROM events WHERE workspace_id = :ws AND type = 'event'"


def check_events(db: Database, ws: int, load: Load) -> None:
    """Each acknowledged marker stored exactly once; nothing stored twice or unasked."""
    with db.reader.connect() as conn:
        rows = conn.execute(text(EVENT_DATA), {"ws": ws})
        stored = Counter(msgspec.json.decode(data)["marker"] for (data,) in rows)
    assert max(stored.values()) == 1, [m for m, n in stored.items() if n > 1][:10]
    assert load.acknowledged <= set(stored), sorted(load.acknowledged - set(stored))[:10]
    asked = {i.marker for r in load.requests for i in r}
    assert set(stored) <= asked


def check_deliveries(db: Database, ws: int) -> dict[str, str]:
    """One delivery per stored `order` event, each sent, with one terminal metric; the
    marker of each delivery's trigger event."""
    with db.reader.connect() as conn:
        orders = dict(
            conn.execute(
                text("SELECT id, data FROM events WHERE workspace_id = :ws AND name = 'order'"),
                {"ws": ws},
            ).all()
        )
        rows = conn.execute(
            text("SELECT id, state, trigger_event_id FROM deliveries WHERE workspace_id = :ws"),
            {"ws": ws},
        ).all()
        terminal = Counter(
            conn.execute(
                text(
                    "SELECT delivery_id FROM delivery_metrics WHERE workspace_id = :ws"
                    " AND metric IN ('sent', 'failed', 'suppressed')"
                ),
                {"ws": ws},
            ).scalars()
        )
    assert Counter(state for _, state, _ in rows) == {"sent": len(orders)}
    assert sorted(trigger for _, _, trigger in rows) == sorted(orders)
    assert terminal == Counter({delivery_id: 1 for delivery_id, _, _ in rows})
    return {d: msgspec.json.decode(orders[event])["marker"] for d, _, event in rows}


def check_mail(received: list[Any], markers: dict[str, str], kills: Kills) -> None:
    """DESIGN.md's delivery promise: at least once, duplicates only of sends in flight
    at the crash and carrying the same Message-ID, never a lost send. Each mail is
    its delivery's: its Message-ID names the delivery, its subject the trigger's marker."""
    times: Counter[str] = Counter()
    for mail in received:
        message = mail.message  # (parsed on each access)
        delivery_id = message["Message-ID"].strip("<>").split("@")[0]
        assert message["Subject"] == f"Order {markers.get(delivery_id)}"
        times[delivery_id] += 1
    assert set(times) == set(markers)  # nothing lost, nothing that is not a delivery
    assert 0 < kills.worker_at < len(received), "the worker was not killed mid-run"
    twice = {d for d, n in times.items() if n > 1}
    assert max(times.values()) <= 2
    assert twice <= kills.in_flight
