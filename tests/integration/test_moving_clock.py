"""Moving the process's clock (`clock.install`, the emulator's way) on both stores.

With an `OffsetClock` installed, what reads the clock moves with it: the
callers' `now`, and on SQLite the database's clock (`jobs.lease.db_now`), so
that due times and leases alike come round when a test moves time. On
PostgreSQL the database's clock stays the server's (the emulator is SQLite
only): the tests say so. The module has a database of its own, so that no
other test's worker claims these rows.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tests.leases import db_clock
from tidings import clock
from tidings.campaigns import definitions, store
from tidings.campaigns.runner import JourneyWorker
from tidings.db.schema import journeys
from tidings.events import service as events
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.sending import delivery_queue
from tidings.sending import request as send_request
from tidings.sending.transactional import new_delivery_id, send_transactional

DAY = 86400
LEASE = 60


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


def now() -> int:
    return int(clock.current().now())


def test_the_database_clock_follows_the_process_clock_on_sqlite(db, offset_clock):
    before = db_clock(db)
    offset_clock.advance(DAY)
    moved = db_clock(db) - before
    if db.is_sqlite:
        assert DAY <= moved <= DAY + 2
    else:  # the server's clock
        assert 0 <= moved <= 2


def schedule(db, ws: int, send_at: int) -> str:
    body = {
        "identifiers": {"id": "u1"},
        "to": "ann@example.com",
        "from": "shop@example.net",
        "subject": "Your reminder",
        "body": "<p>Hello</p>",
        "send_at": send_at,
    }
    request = send_request.parse("email", body, now())
    with db.writer.begin() as conn:
        answer = send_transactional(conn, ws, request, new_delivery_id(), "https://t.test", now())
    return str(answer["delivery_id"])


def claim(ws: int) -> Any:
    """What a delivery worker would claim now, by the process's clock: the ids and
    attempts of those of workspace `ws` (the module's other tests have theirs)."""

    def run(conn: Any) -> list[tuple[str, int]]:
        claimed = delivery_queue.claim(conn, now(), LEASE, limit=100)
        return [(c.id, c.attempt) for c in claimed if c.workspace_id == ws]

    return run


def test_a_scheduled_delivery_is_claimed_once_the_clock_reaches_it(db, ws, offset_clock):
    delivery_id = schedule(db, ws, now() + 3 * DAY)
    assert db.write(claim(ws)) == []
    offset_clock.advance(3 * DAY - 10)
    assert db.write(claim(ws)) == []
    offset_clock.advance(10)
    assert db.write(claim(ws)) == [(delivery_id, 1)]


def test_a_lease_runs_out_as_the_clock_moves_on_sqlite(db, ws, offset_clock):
    delivery_id = schedule(db, ws, now() + 60)
    offset_clock.advance(60)
    assert db.write(claim(ws)) == [(delivery_id, 1)]
    assert db.write(claim(ws)) == []  # held
    offset_clock.advance(LEASE + 2)  # past the lease's end, whatever second it began in
    if db.is_sqlite:
        assert db.write(claim(ws)) == [(delivery_id, 2)]
    else:  # leases are on the server's clock, which has not moved
        assert db.write(claim(ws)) == []


DELAYED = {
    "name": "Reminder",
    "state": "running",
    "trigger": {"event": {"name": "signed_up"}},
    "workflow": [
        {"delay": {"days": 3}},
        {"email": {"from": "team@example.com", "subject": "Still there?", "body": "<p>2</p>"}},
    ],
}


def start_journey(db, ws: int) -> int:
    with db.writer.begin() as conn:
        campaign_id = store.create(conn, ws, definitions.parse(DELAYED), now())
        identify = people.parse_identify({"email": "ann@example.com"}, now())
        people.identify(conn, ws, Identifier("id", "ann"), identify, now())
        event = events.parse_event({"name": "signed_up", "timestamp": now()}, type_=None)
        events.track(conn, ws, Identifier("id", "ann"), event, now())
    return campaign_id


def journey_state(db, campaign_id: int) -> tuple[str, int | None]:
    with db.reader.connect() as conn:
        row = conn.execute(
            select(journeys.c.state, journeys.c.due_at).where(journeys.c.campaign_id == campaign_id)
        ).one()
    return row.state, row.due_at


def test_a_journey_delay_ends_when_the_clock_passes_it(db, ws, offset_clock):
    campaign_id = start_journey(db, ws)
    worker = JourneyWorker(db, clock.ProcessClock())
    assert worker.run_once()  # enters the delay
    state, due_at = journey_state(db, campaign_id)
    assert state == "active" and due_at is not None and due_at >= now() + 3 * DAY - 2
    assert not worker.run_once()
    offset_clock.advance(3 * DAY)
    assert worker.run_once()  # sends, and the journey ends
    assert journey_state(db, campaign_id)[0] == "finished"
