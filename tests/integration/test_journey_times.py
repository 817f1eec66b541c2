"""Wall-clock steps and date triggers in journeys, across daylight-saving changes.

"At 09:00 local", time windows and date triggers are resolved in the person's
`timezone` attribute (or a fixed zone), each date on its own UTC offset; the
expected instants are written out in UTC by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tidings.campaigns import dates, definitions, journeys, store
from tidings.db.schema import journeys as journey_table
from tidings.events import service as events
from tidings.people import service as people
from tidings.people.identifiers import Identifier


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


def campaign(db, ws, document: dict[str, Any], now: int) -> int:
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document), now)


def person(db, ws, customer_id: str, now: int, **attributes: Any) -> None:
    with db.writer.begin() as conn:
        request = people.parse_identify(attributes, now)
        people.identify(conn, ws, Identifier("id", customer_id), request, now)


def track(db, ws, customer_id: str, name: str, now: int) -> None:
    event = events.parse_event({"name": name, "timestamp": now}, type_=None)
    with db.writer.begin() as conn:
        events.track(conn, ws, Identifier("id", customer_id), event, now)


def due_of(db, campaign_id: int) -> list[int | None]:
    with db.reader.connect() as conn:
        return list(
            conn.execute(
                select(journey_table.c.due_at)
                .where(journey_table.c.campaign_id == campaign_id)
                .order_by(journey_table.c.id)
            ).scalars()
        )


def at_nine(zone: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"time": "09:00", "fallback_timezone": "UTC"}
    if zone:
        step["timezone"] = zone
    return {
        "name": "Morning",
        "state": "running",
        "trigger": {"event": {"name": "go"}},
        "workflow": [{"at_local": step}, {"update": {"attributes": {"greeted": True}}}],
    }


@pytest.mark.parametrize(
    ("zone", "entered", "due"),
    [
        # New York springs forward on 2024-03-10: 09:00 is 14:00Z before, 13:00Z after.
        ("America/New_York", "2024-03-09T15:00", "2024-03-10T13:00"),
        ("America/New_York", "2024-03-08T15:00", "2024-03-09T14:00"),
        # ... and falls back on 2024-11-03: 13:00Z before, 14:00Z after.
        ("America/New_York", "2024-11-02T14:00", "2024-11-03T14:00"),
        # Berlin springs forward on 2024-03-31 (08:00Z before, 07:00Z after) and falls
        # back on 2024-10-27 (07:00Z before, 08:00Z after).
        ("Europe/Berlin", "2024-03-30T09:00", "2024-03-31T07:00"),
        ("Europe/Berlin", "2024-10-26T09:00", "2024-10-27T08:00"),
        # No zone of their own: the fallback, UTC.
        (None, "2024-03-09T15:00", "2024-03-10T09:00"),
    ],
)
def test_at_local_time_follows_the_persons_zone_across_dst(db, ws, zone, entered, due):
    now = utc(entered)
    campaign_id = campaign(db, ws, at_nine(), now)
    attributes = {"timezone": zone} if zone else {}
    person(db, ws, "p", now, **attributes)
    track(db, ws, "p", "go", now)
    db.write(journeys.advance_due, now, 100)
    assert due_of(db, campaign_id) == [utc(due)]
    db.write(journeys.advance_due, utc(due), 100)
    with db.reader.connect() as conn:
        state = conn.execute(
            select(journey_table.c.state).where(journey_table.c.campaign_id == campaign_id)
        ).scalar()
    assert state == "finished"


def test_a_fixed_zone_beats_the_persons(db, ws):
    now = utc("2024-03-09T15:00")
    campaign_id = campaign(db, ws, at_nine("Europe/Berlin"), now)
    person(db, ws, "p", now, timezone="America/New_York")
    track(db, ws, "p", "go", now)
    db.write(journeys.advance_due, now, 100)
    assert due_of(db, campaign_id) == [utc("2024-03-10T08:00")]


def test_a_time_window_holds_until_it_opens_in_the_persons_zone(db, ws):
    document = {
        "name": "Office hours",
        "state": "running",
        "trigger": {"event": {"name": "go"}},
        "workflow": [
            {
                "time_window": {
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "09:00",
                    "end": "17:00",
                }
            },
            {"update": {"attributes": {"called": True}}},
        ],
    }
    saturday = utc("2024-03-09T18:00")  # 13:00 in New York, a Saturday
    campaign_id = campaign(db, ws, document, saturday)
    person(db, ws, "p", saturday, timezone="America/New_York")
    track(db, ws, "p", "go", saturday)
    db.write(journeys.advance_due, saturday, 100)
    assert due_of(db, campaign_id) == [utc("2024-03-11T13:00")]  # Monday 09:00 EDT


def test_an_open_window_lets_the_journey_through_at_once(db, ws):
    document = {
        "name": "Office hours",
        "state": "running",
        "trigger": {"event": {"name": "go"}},
        "workflow": [
            {"time_window": {"start": "09:00", "end": "17:00", "timezone": "UTC"}},
            {"update": {"attributes": {"called": True}}},
        ],
    }
    now = utc("2024-03-11T10:00")
    campaign_id = campaign(db, ws, document, now)
    person(db, ws, "p", now)
    track(db, ws, "p", "go", now)
    db.write(journeys.advance_due, now, 100)
    assert due_of(db, campaign_id) == [None]


def renewal(frequency: str = "once", offset_days: int = -3) -> dict[str, Any]:
    return {
        "name": "Renewal",
        "state": "running",
        "trigger": {
            "date": {
                "attribute": "renewal_at",
                "frequency": frequency,
                "offset": {"days": offset_days},
                "at": "09:00",
                "timezone": "customer",
                "fallback_timezone": "UTC",
            }
        },
        "workflow": [{"update": {"attributes": {"reminded": True}}}],
    }


def test_a_date_trigger_starts_days_before_the_date_at_the_local_hour(db, ws):
    now = utc("2024-03-01T00:00")
    campaign_id = campaign(db, ws, renewal(), now)
    # Renewal on 2024-03-12 (its UTC date); three days before is 2024-03-09, a day still
    # on standard time in New York: 09:00 EST is 14:00Z.
    person(db, ws, "p", now, timezone="America/New_York", renewal_at=utc("2024-03-12T00:00"))
    assert due_of(db, campaign_id) == [utc("2024-03-09T14:00")]
    # Moving the date moves the entry (to 2024-03-17, after the change: 13:00Z).
    person(db, ws, "p", now + 60, renewal_at=utc("2024-03-20T00:00"))
    assert due_of(db, campaign_id) == [utc("2024-03-17T13:00")]
    db.write(journeys.advance_due, utc("2024-03-17T13:00"), 100)
    with db.reader.connect() as conn:
        row = conn.execute(
            select(journey_table).where(journey_table.c.campaign_id == campaign_id)
        ).one()
    assert (row.state, row.started_at) == ("finished", utc("2024-03-17T13:00"))


def test_a_yearly_date_trigger_schedules_the_next_year_when_it_fires(db, ws):
    now = utc("2024-05-01T00:00")
    campaign_id = campaign(db, ws, renewal("yearly", 0), now)
    person(db, ws, "p", now, renewal_at=utc("1990-06-15T00:00"))
    assert due_of(db, campaign_id) == [utc("2024-06-15T09:00")]
    db.write(journeys.advance_due, utc("2024-06-15T09:00"), 100)
    assert due_of(db, campaign_id) == [None, utc("2025-06-15T09:00")]


def test_people_holding_the_date_before_the_campaign_started_are_scheduled(db, ws):
    now = utc("2024-03-01T00:00")
    for n in range(3):
        person(db, ws, f"p{n}", now, renewal_at=utc(f"2024-04-1{n}T00:00"))
    person(db, ws, "none", now)
    campaign_id = campaign(db, ws, renewal(offset_days=0), now)
    page_end = db.write(dates.schedule_page, ws, campaign_id, 0, now)
    assert page_end is not None
    assert db.write(dates.schedule_page, ws, campaign_id, page_end, now) is None
    assert sorted(due_of(db, campaign_id)) == [utc(f"2024-04-1{n}T09:00") for n in range(3)]


def test_a_zero_date_never_fires(db, ws):
    now = utc("2024-03-01T00:00")
    campaign_id = campaign(db, ws, renewal("yearly", 0), now)
    person(db, ws, "p", now, renewal_at=0)
    assert due_of(db, campaign_id) == []


def quiet_campaign(quiet: dict[str, Any] | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "Late",
        "state": "running",
        "trigger": {"event": {"name": "go"}},
        "workflow": [{"email": {"from": "a@example.com", "subject": "hi", "body": "x"}}],
    }
    if quiet is not None:
        document["quiet_hours"] = quiet
    return document


def messages_of(db, campaign_id: int) -> list[Any]:
    from tidings.db.schema import deliveries

    with db.reader.connect() as conn:
        return conn.execute(
            select(deliveries.c.created_at).where(deliveries.c.campaign_id == campaign_id)
        ).all()


def test_quiet_hours_hold_a_message_until_they_end_in_the_persons_zone(db, ws):
    late = utc("2024-03-09T03:30")  # 22:30 on the 8th in New York (EST)
    campaign_id = campaign(db, ws, quiet_campaign({"start": "21:00", "end": "08:00"}), late)
    person(db, ws, "q", late, timezone="America/New_York")
    track(db, ws, "q", "go", late)
    db.write(journeys.advance_due, late, 100)
    assert messages_of(db, campaign_id) == []
    assert due_of(db, campaign_id) == [utc("2024-03-09T13:00")]  # 08:00 EST
    db.write(journeys.advance_due, utc("2024-03-09T13:00"), 100)
    assert [row.created_at for row in messages_of(db, campaign_id)] == [utc("2024-03-09T13:00")]


def test_the_workspaces_quiet_hours_apply_when_the_campaign_has_none(db, ws):
    from tidings.campaigns import limits

    with db.writer.begin() as conn:
        quiet = {"start": "21:00", "end": "08:00", "timezone": "UTC"}
        limits.put(conn, ws, limits.parse({"quiet_hours": quiet}), 0)
    late = utc("2024-03-09T23:00")
    campaign_id = campaign(db, ws, quiet_campaign(None), late)
    person(db, ws, "q", late)
    track(db, ws, "q", "go", late)
    db.write(journeys.advance_due, late, 100)
    assert due_of(db, campaign_id) == [utc("2024-03-10T08:00")]
    noon = utc("2024-03-10T12:00")
    daytime = campaign(db, ws, {**quiet_campaign(None), "name": "Day"}, noon)
    track(db, ws, "q", "go", noon)
    db.write(journeys.advance_due, noon, 100)
    assert len(messages_of(db, daytime)) == 1
