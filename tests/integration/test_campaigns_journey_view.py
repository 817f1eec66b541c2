"""The web UI's campaign reads (`campaigns/journey_view.py`) on both stores: per-step
counts of journeys that reached a step and wait there, bounded list counts, a
broadcast's triggers and the preview of a trigger's audience."""

from __future__ import annotations

import pytest

from tests.conftest import new_workspace
from tests.integration.test_journeys import START, advance, campaign, deliver, person, track
from tidings.campaigns import broadcasts, journey_view
from tidings.clock import FixedClock
from tidings.errors import ApiError

DAY = 86400
FLOW = {
    "name": "Welcome",
    "state": "running",
    "trigger": {"event": {"name": "signed_up"}},
    "workflow": [
        {"key": "hi", "email": {"from": "a@example.com", "subject": "Hi", "body": "<p>Hi</p>"}},
        {"key": "wait", "delay": {"days": 1}},
        {"key": "bye", "email": {"from": "a@example.com", "subject": "Bye", "body": "<p>b</p>"}},
    ],
}
BROADCAST = {
    "name": "Outage",
    "kind": "broadcast",
    "state": "running",
    "audience": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
    "workflow": [{"email": {"from": "a@example.com", "subject": "Down", "body": "<p>x</p>"}}],
}


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


def read(db, fn, *args):
    with db.reader.connect() as conn, conn.begin():
        return fn(conn, *args)


def test_each_step_counts_the_journeys_that_reached_it_and_wait_there(db, ws):
    campaign_id = campaign(db, ws, FLOW)
    for n in range(3):
        person(db, ws, f"u{n}")
        track(db, ws, f"u{n}", "signed_up", START)
    assert advance(db, START) == 3
    deliver(db, FixedClock(START))

    found = read(db, journey_view.overview, ws, campaign_id, "campaign")
    ids = found["campaign"]["action_ids"]
    steps = found["steps"]
    assert (steps[ids["hi"]].reached.count, steps[ids["hi"]].waiting.count) == (3, 0)
    assert (steps[ids["wait"]].reached.count, steps[ids["wait"]].waiting.count) == (3, 3)
    assert (steps[ids["bye"]].reached.count, steps[ids["bye"]].waiting.count) == (0, 0)
    assert found["messages"][ids["hi"]]["created"] == 3
    assert found["messages"][ids["bye"]]["created"] == 0
    assert found["totals"]["created"] == 3

    capped = read(db, journey_view.step_counts, campaign_id, [ids["wait"]], 2)
    assert capped[ids["wait"]].waiting.count == 2 and capped[ids["wait"]].waiting.more

    listed = read(db, journey_view.listed, ws, "campaign")
    assert [c["id"] for c in listed["campaigns"]] == [campaign_id]
    counts = listed["counts"][campaign_id]
    assert (counts["journeys"].count, counts["sent"].count) == (3, 3)
    assert not counts["journeys"].more


def test_another_workspaces_campaign_is_not_found(db, ws):
    campaign_id = campaign(db, ws, FLOW)
    other = new_workspace(db).workspace_id
    with pytest.raises(ApiError) as caught:
        read(db, journey_view.overview, other, campaign_id, "campaign")
    assert caught.value.status == 404


def test_a_trigger_preview_counts_the_audience_and_lists_the_first(db, ws):
    broadcast_id = campaign(db, ws, BROADCAST)
    for n in range(12):
        person(db, ws, f"p{n}", plan="pro" if n % 2 == 0 else "free")

    default = broadcasts.parse_trigger({}).audience
    shown = read(db, journey_view.preview, ws, broadcast_id, default, START)
    assert (shown.count, shown.complete) == (6, True)
    assert [p["id"] for p in shown.first] == [f"p{n}" for n in range(0, 12, 2)]

    listed = broadcasts.parse_trigger({"ids": ["p1", "p3", "nobody"]}).audience
    shown = read(db, journey_view.preview, ws, broadcast_id, listed, START)
    assert shown.count == 2 and [p["id"] for p in shown.first] == ["p1", "p3"]
    assert shown.missing == ['ids[2]: no person has the id "nobody"']

    by_email = broadcasts.parse_trigger({"emails": ["p5@example.com"]}).audience
    assert read(db, journey_view.preview, ws, broadcast_id, by_email, START).count == 1


def test_a_broadcasts_triggers_are_listed_newest_first(db, ws):
    broadcast_id = campaign(db, ws, BROADCAST)
    person(db, ws, "t1", plan="pro")
    for n in range(2):
        with db.writer.begin() as conn:
            request = broadcasts.parse_trigger({"ids": ["t1"], "data": {"n": n}})
            broadcasts.trigger(conn, ws, broadcast_id, request, START + n * DAY)
    found = read(db, journey_view.triggers, ws, broadcast_id)
    assert [t["state"] for t in found] == ["queued", "queued"]
    assert found[0]["created_at"] == START + DAY and found[1]["created_at"] == START
    assert found[0]["errors"] == [] and found[0]["recipients_count"] == 0
