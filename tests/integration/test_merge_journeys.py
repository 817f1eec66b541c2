"""`merge_customers` and campaign journeys on both stores (BEHAVIOUR.md 3.7).

The primary gets the secondary's journeys of campaigns (and broadcasts) it
never entered, which go on for it; the secondary's journeys of campaigns the
primary entered end (`exit_reason` "merged"). Journeys step on
`journeys.advance_due` and messages are sent by the delivery worker through
the capture adapter, each at the time a FixedClock says. The module has a
database of its own, so no other worker runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tidings.campaigns import broadcasts, definitions, fanout, journeys, merging, store
from tidings.campaigns import metrics as reports
from tidings.campaigns import report_query as ask
from tidings.campaigns.messages import Composer
from tidings.clock import FixedClock
from tidings.db.schema import deliveries, journey_steps
from tidings.db.schema import journeys as journey_table
from tidings.events import service as events
from tidings.fetch import Allowlist
from tidings.jobs.runner import JobWorker
from tidings.paging import PageRequest
from tidings.people import merge
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.people.store import Person
from tidings.providers import outbox
from tidings.sending.deliverer import DeliveryWorker

START = 1_830_000_000  # not another module's: store.workflow caches by campaign id and time
HOUR, DAY = 3600, 86_400
MAIL = {"from": "team@example.com", "body": "<p>hi</p>"}
WELCOME = {
    "name": "Welcome",
    "state": "running",
    "trigger": {"event": {"name": "signed_up"}},
    "workflow": [
        {"email": {**MAIL, "subject": "Day one"}},
        {"delay": {"days": 1}},
        {"email": {**MAIL, "subject": "Day two"}},
    ],
}


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db) -> int:
    return new_workspace(db).workspace_id


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def campaign(db, ws: int, document: dict[str, Any], kind: str = "campaign") -> int:
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document, kind=kind), START)


def person(db, ws: int, customer_id: str, **attributes: Any) -> Person:
    body = {"email": f"{customer_id}@example.com", **attributes}
    with db.writer.begin() as conn:
        request = people.parse_identify(body, START)
        return people.identify(conn, ws, Identifier("id", customer_id), request, START)


def track(db, ws: int, customer_id: str, name: str, now: int) -> None:
    event = events.parse_event({"name": name, "timestamp": now}, type_=None)
    with db.writer.begin() as conn:
        events.track(conn, ws, Identifier("id", customer_id), event, now)


def merge_into(db, ws: int, primary: str, secondary: str, now: int) -> None:
    with db.writer.begin() as conn:
        merge.merge_people(conn, ws, Identifier("id", primary), Identifier("id", secondary), now)


def run_at(db, clock: FixedClock, now: int) -> None:
    """Move the due journeys on and send what they queued, at `now` (every workspace's:
    the tests read their own workspace's journeys and messages)."""
    clock.value = now
    while db.write(journeys.advance_due, now, journeys.BATCH):
        pass
    worker = DeliveryWorker(db, clock, composers={"campaign": Composer("https://t.test")})
    while worker.run_once():
        pass


def sent(db, ws: int) -> list[tuple[str, str]]:
    """(recipient, subject) of every message sent, oldest first."""
    page = PageRequest(limit=100, after=None)
    with db.reader.connect() as conn:
        found = outbox.list_captured(conn, ws, page)["messages"]
    return [(m["recipient"], m["subject"]) for m in reversed(found)]


def rows(db, campaign_id: int) -> list[Any]:
    with db.reader.connect() as conn:
        query = select(journey_table).where(journey_table.c.campaign_id == campaign_id)
        return conn.execute(query.order_by(journey_table.c.id)).all()


def steps(db, journey_id: int) -> list[tuple[str, str | None]]:
    with db.reader.connect() as conn:
        query = (
            select(journey_steps.c.outcome, journey_steps.c.delivery_id)
            .where(journey_steps.c.journey_id == journey_id)
            .order_by(journey_steps.c.visit)
        )
        return [(row.outcome, row.delivery_id) for row in conn.execute(query)]


def deliveries_of(db, journey_id: int) -> list[tuple[str, int | None]]:
    with db.reader.connect() as conn:
        query = select(deliveries.c.id, deliveries.c.person_id).where(
            deliveries.c.journey_id == journey_id
        )
        return [(row.id, row.person_id) for row in conn.execute(query)]


def journey_metrics(db, ws: int, campaign_id: int) -> dict[str, list[int]]:
    window = ask.parse_journey_window(
        {"start": str(START), "end": str(START + DAY + 20), "resolution": "days"}
    )
    with db.reader.connect() as conn:
        return reports.journey_report(conn, ws, str(campaign_id), window)["journey_metric"]


def test_a_secondary_waiting_in_a_delay_goes_on_for_the_primary_exactly_once(db, ws, clock):
    campaign_id = campaign(db, ws, WELCOME)
    keep, gone = person(db, ws, "keep"), person(db, ws, "gone")
    track(db, ws, "gone", "signed_up", START)
    run_at(db, clock, START)
    assert sent(db, ws) == [("gone@example.com", "Day one")]
    [before] = rows(db, campaign_id)
    history = steps(db, before.id)
    metrics_before = journey_metrics(db, ws, campaign_id)

    merge_into(db, ws, "keep", "gone", START + HOUR)

    [moved] = rows(db, campaign_id)
    assert moved.id == before.id and moved.person_id == keep.pk
    assert (moved.state, moved.action_id, moved.due_at) == ("active", before.action_id, START + DAY)
    assert moved.waiting == before.waiting and moved.started_at == START
    assert steps(db, moved.id) == history  # the first message and the wait
    [(delivery_id, owner)] = deliveries_of(db, moved.id)
    assert owner == keep.pk and history[0][1] == delivery_id
    assert journey_metrics(db, ws, campaign_id) == metrics_before
    track(db, ws, "keep", "signed_up", START + 2 * HOUR)  # entered already: once is once
    assert len(rows(db, campaign_id)) == 1

    run_at(db, clock, START + DAY - 1)  # still in its delay
    assert [(row.state, row.due_at) for row in rows(db, campaign_id)] == [("active", START + DAY)]
    assert len(sent(db, ws)) == 1
    run_at(db, clock, START + DAY)
    run_at(db, clock, START + 2 * DAY)
    assert sent(db, ws) == [("gone@example.com", "Day one"), ("keep@example.com", "Day two")]
    [done] = rows(db, campaign_id)
    assert (done.state, done.person_id, done.ended_at) == ("finished", keep.pk, START + DAY)
    assert len(deliveries_of(db, done.id)) == 2
    assert journey_metrics(db, ws, campaign_id)["finished"] == [1, 0]
    assert gone.pk not in {row.person_id for row in rows(db, campaign_id)}


def test_a_campaign_both_were_in_keeps_only_the_primarys_journey(db, ws, clock):
    campaign_id = campaign(db, ws, WELCOME)
    keep = person(db, ws, "keep")
    person(db, ws, "gone")
    track(db, ws, "keep", "signed_up", START)
    track(db, ws, "gone", "signed_up", START)
    run_at(db, clock, START)
    [kept, ended] = rows(db, campaign_id)
    assert kept.person_id == keep.pk

    merge_into(db, ws, "keep", "gone", START + HOUR)

    [still, merged] = rows(db, campaign_id)
    assert still == kept  # untouched
    assert (merged.id, merged.person_id, merged.state) == (ended.id, None, "exited")
    assert (merged.exit_reason, merged.ended_at) == (merging.EXIT_REASON, START + HOUR)
    assert merged.due_at is None and merged.waiting is None
    assert len(steps(db, merged.id)) == 2  # its history stays, counted in the step totals

    run_at(db, clock, START + DAY)  # only the primary's journey goes on
    run_at(db, clock, START + 2 * DAY)
    assert rows(db, campaign_id)[0].state == "finished"
    assert sent(db, ws).count(("keep@example.com", "Day two")) == 1
    assert len(sent(db, ws)) == 3  # the two first mails, one second mail
    assert journey_metrics(db, ws, campaign_id) == {
        "started": [2, 0],
        "activated": [2, 0],
        "exited_early": [1, 0],  # the secondary's, ended by the merge
        "finished": [1, 0],
        "converted": [0, 0],
        "never_activated": [0, 0],
        "messaged": [2, 0],
    }


def test_only_the_campaigns_the_primary_never_entered_move(db, ws, clock):
    welcome = campaign(db, ws, WELCOME)
    other = campaign(db, ws, {**WELCOME, "name": "Other", "trigger": {"event": {"name": "bought"}}})
    keep, gone = person(db, ws, "keep"), person(db, ws, "gone")
    track(db, ws, "keep", "signed_up", START)
    track(db, ws, "gone", "signed_up", START)
    track(db, ws, "gone", "bought", START)
    run_at(db, clock, START)

    merge_into(db, ws, "keep", "gone", START + HOUR)

    assert [(r.person_id, r.state) for r in rows(db, welcome)] == [
        (keep.pk, "active"),
        (None, "exited"),
    ]
    assert [(r.person_id, r.state) for r in rows(db, other)] == [(keep.pk, "active")]
    run_at(db, clock, START + DAY)
    assert sorted(sent(db, ws)[3:]) == [("keep@example.com", "Day two")] * 2
    assert all(r.person_id != gone.pk for r in rows(db, welcome) + rows(db, other))


def test_events_merged_in_start_no_journey_for_the_primary(db, ws, clock):
    """The secondary's events move over without starting the primary's journeys, even of
    a campaign that began after them and that the secondary never entered."""
    keep = person(db, ws, "keep")
    person(db, ws, "gone")
    track(db, ws, "gone", "signed_up", START - HOUR)
    every_time = campaign(db, ws, {**WELCOME, "frequency": "every_time"})

    merge_into(db, ws, "keep", "gone", START)

    assert rows(db, every_time) == []
    run_at(db, clock, START)
    assert rows(db, every_time) == [] and sent(db, ws) == []
    track(db, ws, "keep", "signed_up", START + 10)  # the primary's own event does
    assert [row.person_id for row in rows(db, every_time)] == [keep.pk]


def test_a_broadcast_journey_the_primary_never_got_goes_on_for_it(db, ws, clock):
    document = {"name": "News", "state": "running", "workflow": WELCOME["workflow"]}
    broadcast_id = campaign(db, ws, document, kind="broadcast")
    keep = person(db, ws, "keep")
    person(db, ws, "gone")
    request = broadcasts.parse_trigger({"ids": ["gone"]})
    db.write(broadcasts.trigger, ws, broadcast_id, request, START)
    jobs = {broadcasts.JOB_KIND: fanout.FanoutJob(Allowlist.parse("127.0.0.1/32"), 5)}
    worker = JobWorker(db, clock, jobs)
    while worker.run_once():
        pass
    run_at(db, clock, START)
    assert sent(db, ws) == [("gone@example.com", "Day one")]

    merge_into(db, ws, "keep", "gone", START + HOUR)

    [moved] = rows(db, broadcast_id)
    assert (moved.person_id, moved.state, moved.due_at) == (keep.pk, "active", START + DAY)
    run_at(db, clock, START + DAY)
    run_at(db, clock, START + 2 * DAY)
    assert sent(db, ws) == [("gone@example.com", "Day one"), ("keep@example.com", "Day two")]
    assert [row.state for row in rows(db, broadcast_id)] == ["finished"]


def test_a_date_entry_scheduled_for_the_secondary_is_the_primarys_own_to_schedule(db, ws, clock):
    """The secondary's entry, not started, is dropped; the date attribute the merge fills
    in schedules the primary's, which fires once."""
    renewal = {
        "name": "Renewal",
        "state": "running",
        "trigger": {"date": {"attribute": "renews_at"}},
        "workflow": [{"email": {**MAIL, "subject": "Renewing"}}],
    }
    campaign_id = campaign(db, ws, renewal)
    keep = person(db, ws, "keep")
    gone = person(db, ws, "gone", renews_at=START + 5 * DAY)
    [scheduled] = rows(db, campaign_id)
    assert (scheduled.person_id, scheduled.started_at) == (gone.pk, None)

    merge_into(db, ws, "keep", "gone", START + HOUR)

    [own] = rows(db, campaign_id)
    assert own.created_at == START + HOUR  # scheduled by the merge (SQLite may reuse the id)
    assert (own.person_id, own.started_at, own.due_at) == (keep.pk, None, scheduled.due_at)
    run_at(db, clock, own.due_at)
    run_at(db, clock, own.due_at + DAY)
    assert sent(db, ws) == [("keep@example.com", "Renewing")]
