"""Send rate limits on campaign messages: never more than N in any window of `per`.

The delivery worker runs on the real clock (its pacer waits for real time);
the provider records the clock at the start of each send, and every window,
starting at any send, is checked: a limit that let 2N through across a
second's edge, or a burst, would fail.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tests.support import eventually
from tidings.campaigns import definitions, journeys, limits, store
from tidings.campaigns.messages import Composer
from tidings.clock import FixedClock, SystemClock
from tidings.db.schema import deliveries
from tidings.events import service as events
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.providers import base as outbound
from tidings.providers.base import Sent
from tidings.sending import delivery_queue
from tidings.sending.deliverer import DeliveryWorker

START = int(time.time())  # the real clock: the pacer waits for real time


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


class Recording:
    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.times: list[float] = []

    async def send(self, delivery_id: str, message: outbound.Outbound) -> outbound.Outcome:
        self.times.append(self.clock.now())
        return Sent(None)

    async def close(self) -> None:
        return None


def queue_messages(db, ws, count: int, send_rate: dict[str, int] | None, name: str) -> None:
    document: dict[str, Any] = {
        "name": name,
        "state": "running",
        "trigger": {"event": {"name": name}},
        "workflow": [{"email": {"from": "a@example.com", "subject": "s", "body": "b"}}],
    }
    if send_rate:
        document["send_rate"] = send_rate
    with db.writer.begin() as conn:
        store.create(conn, ws, definitions.parse(document), START)
        for n in range(count):
            who = Identifier("id", f"{name}-{n}")
            body = {"email": f"{name}-{n}@example.com"}
            people.identify(conn, ws, who, people.parse_identify(body, START), START)
            event = events.parse_event({"name": name, "timestamp": START}, type_=None)
            events.track(conn, ws, who, event, START)
    db.write(journeys.advance_due, START, 1000)


def send_all(db, clock, expected: int) -> list[float]:
    provider = Recording(clock)
    worker = DeliveryWorker(
        db,
        clock,
        factories={"capture": lambda config, ws, channel, services: provider},
        composers={"campaign": Composer("https://t.test")},
    )
    eventually(lambda: worker.run_once() >= 0 and len(provider.times) >= expected, timeout=60)
    assert len(provider.times) == expected
    return provider.times


def most_in_any_window(times: list[float], per: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + per) for start in ordered)


def test_a_campaign_limit_holds_in_every_window(db, ws):
    queue_messages(db, ws, 35, {"messages": 10, "per": 1}, "limited")
    times = send_all(db, SystemClock(), 35)
    assert most_in_any_window(times, 1.0) <= 10
    assert max(times) - min(times) >= 3.4  # 35, spaced by a tenth of a second


def test_a_workspace_limit_holds_across_its_campaigns(db, ws):
    with db.writer.begin() as conn:
        limits.put(conn, ws, {"send_rate": {"messages": 4, "per": 2}}, START)
    queue_messages(db, ws, 6, None, "one")
    queue_messages(db, ws, 6, None, "two")
    times = send_all(db, SystemClock(), 12)
    assert most_in_any_window(times, 2.0) <= 4


def test_without_limits_a_batch_goes_at_once(db, ws):
    clock = FixedClock(START)  # no pacing: the fixed clock never has to move
    queue_messages(db, ws, 20, None, "free")
    times = send_all(db, clock, 20)
    assert set(times) == {START}


def test_slots_beyond_the_horizon_go_back_to_the_queue(db, ws):
    queue_messages(db, ws, 30, {"messages": 2, "per": 1}, "slow")
    with db.writer.begin() as conn:
        claimed = delivery_queue.claim(conn, START, 15, 100, float(START))
        states = Counter(
            conn.execute(
                select(deliveries.c.state).where(deliveries.c.workspace_id == ws)
            ).scalars()
        )
    # A third of the 15 s lease is 5 s: slots at 0, 0.5, ..., 5.0 are kept (11).
    assert len(claimed) == 11 and all(c.slot is not None for c in claimed)
    assert [c.slot.at for c in claimed] == [START + n / 2 for n in range(11)]
    assert states == {"sending": 11, "queued": 19}
