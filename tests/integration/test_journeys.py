"""Campaign journeys end to end on both stores, with a clock the tests move.

An event starts a journey in its own transaction; the journey worker's pass
(`journeys.advance_due`) takes its steps; the delivery worker composes and
sends its messages through the capture adapter. Time only moves when a test
moves it. The module has a database of its own, so no other worker runs.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tidings.campaigns import definitions, journeys, store
from tidings.campaigns.messages import Composer
from tidings.clock import FixedClock
from tidings.db.schema import deliveries, journey_steps
from tidings.db.schema import journeys as journey_table
from tidings.events import service as events
from tidings.paging import PageRequest
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.providers import outbox
from tidings.sending.deliverer import DeliveryWorker

START = 1_800_000_000
DAY = 86400


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


@pytest.fixture
def clock():
    return FixedClock(START)


def campaign(db, ws, document: dict[str, Any], now: int = START) -> int:
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document), now)


def person(db, ws, customer_id: str, now: int = START, **attributes: Any) -> None:
    body = {"email": f"{customer_id}@example.com", **attributes}
    with db.writer.begin() as conn:
        people.identify(
            conn, ws, Identifier("id", customer_id), people.parse_identify(body, now), now
        )


def track(
    db, ws, customer_id: str, name: str, now: int, timestamp: int | None = None, **data: Any
) -> None:
    body = {"name": name, "data": data, "timestamp": now if timestamp is None else timestamp}
    event = events.parse_event(body, type_=None)
    with db.writer.begin() as conn:
        events.track(conn, ws, Identifier("id", customer_id), event, now)


def advance(db, now: int) -> int:
    return db.write(journeys.advance_due, now, journeys.BATCH)


def deliver(db, clock) -> None:
    DeliveryWorker(db, clock, composers={"campaign": Composer("https://t.test")}).run_once()


def sent(db, ws) -> list[dict[str, Any]]:
    page = PageRequest(limit=100, after=None)
    with db.reader.connect() as conn:
        found = outbox.list_captured(conn, ws, page)["messages"]
    return list(reversed(found))


def journey_rows(db, campaign_id: int) -> list[Any]:
    with db.reader.connect() as conn:
        return conn.execute(
            select(journey_table).where(journey_table.c.campaign_id == campaign_id)
        ).all()


WELCOME = {
    "name": "Welcome",
    "state": "running",
    "trigger": {"event": {"name": "signed_up"}},
    "workflow": [
        {
            "email": {
                "from": "team@example.com",
                "subject": "Hi {{ customer.first_name }} on {{ event.plan }} ({{ campaign.name }})",
                "body": "<p>Welcome</p>",
            }
        },
        {"delay": {"days": 1}},
        {"email": {"from": "team@example.com", "subject": "Day two", "body": "<p>2</p>"}},
    ],
}


def test_an_event_starts_a_journey_that_sends_waits_and_sends_again(db, ws, clock):
    campaign_id = campaign(db, ws, WELCOME)
    person(db, ws, "u1", first_name="Ann")
    track(db, ws, "u1", "signed_up", START, plan="pro")
    assert advance(db, START) == 1
    deliver(db, clock)
    [first] = sent(db, ws)
    assert first["recipient"] == "u1@example.com"
    assert first["subject"] == "Hi Ann on pro (Welcome)"

    assert advance(db, START + DAY - 1) == 0  # still in its delay
    clock.value = START + DAY
    assert advance(db, START + DAY) == 1
    deliver(db, clock)
    assert [m["subject"] for m in sent(db, ws)] == [first["subject"], "Day two"]
    [journey] = journey_rows(db, campaign_id)
    assert journey.state == "finished" and journey.ended_at == START + DAY
    with db.reader.connect() as conn:
        parents = conn.execute(
            select(deliveries.c.campaign_id, deliveries.c.action_id, deliveries.c.journey_id).where(
                deliveries.c.workspace_id == ws
            )
        ).all()
        steps = (
            conn.execute(
                select(journey_steps.c.outcome)
                .where(journey_steps.c.journey_id == journey.id)
                .order_by(journey_steps.c.visit)
            )
            .scalars()
            .all()
        )
    assert {(p.campaign_id, p.journey_id) for p in parents} == {(campaign_id, journey.id)}
    assert steps == ["queued", "waiting", "queued"]


def test_once_campaigns_start_one_journey_per_person(db, ws):
    campaign_id = campaign(db, ws, {**WELCOME, "workflow": [{"delay": 60}]})
    person(db, ws, "u2")
    track(db, ws, "u2", "signed_up", START)
    track(db, ws, "u2", "signed_up", START + 5)
    assert len(journey_rows(db, campaign_id)) == 1


def test_every_time_starts_a_journey_per_event(db, ws):
    document = {**WELCOME, "frequency": "every_time", "workflow": [{"delay": 60}]}
    campaign_id = campaign(db, ws, document)
    person(db, ws, "u3")
    track(db, ws, "u3", "signed_up", START)
    track(db, ws, "u3", "signed_up", START + 5)
    assert len(journey_rows(db, campaign_id)) == 2


def test_every_few_days_waits_out_the_gap_since_the_last_entry(db, ws):
    document = {**WELCOME, "frequency": {"every": {"days": 7}}, "workflow": [{"delay": 60}]}
    campaign_id = campaign(db, ws, document)
    person(db, ws, "u3b")
    track(db, ws, "u3b", "signed_up", START)
    track(db, ws, "u3b", "signed_up", START + 6 * DAY)  # within 7 days of the entry
    assert len(journey_rows(db, campaign_id)) == 1
    track(db, ws, "u3b", "signed_up", START + 7 * DAY + 1)
    assert [row.started_at for row in journey_rows(db, campaign_id)] == [START, START + 7 * DAY + 1]


def test_old_events_and_other_names_start_nothing(db, ws):
    campaign_id = campaign(db, ws, WELCOME)
    person(db, ws, "u4")
    track(db, ws, "u4", "signed_up", START, timestamp=START - 73 * 3600)  # older than 72 h
    track(db, ws, "u4", "logged_in", START)
    assert journey_rows(db, campaign_id) == []


def test_event_data_conditions_choose_who_enters(db, ws):
    where = [{"field": "plan", "operator": "eq", "value": "pro"}]
    document = {**WELCOME, "trigger": {"event": {"name": "signed_up", "where": where}}}
    campaign_id = campaign(db, ws, document)
    person(db, ws, "u5")
    person(db, ws, "u6")
    track(db, ws, "u5", "signed_up", START, plan="free")
    track(db, ws, "u6", "signed_up", START, plan="pro")
    [journey] = journey_rows(db, campaign_id)
    with db.reader.connect() as conn:
        assert journey.person_id == people.store.find(conn, ws, Identifier("id", "u6")).pk


def test_a_draft_or_stopped_campaign_admits_nobody(db, ws):
    draft = campaign(db, ws, {**WELCOME, "state": "draft"})
    stopped = campaign(db, ws, {**WELCOME, "state": "stopped"})
    person(db, ws, "u7")
    track(db, ws, "u7", "signed_up", START)
    assert journey_rows(db, draft) == [] and journey_rows(db, stopped) == []


def test_filters_failing_at_entry_are_retried_then_not_activated(db, ws):
    filters = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    campaign_id = campaign(db, ws, {**WELCOME, "filters": filters})
    person(db, ws, "u8")
    track(db, ws, "u8", "signed_up", START)
    advance(db, START)
    [journey] = journey_rows(db, campaign_id)
    assert journey.state == "active" and journey.due_at == START + journeys.FILTER_RETRY
    advance(db, START + journeys.FILTER_GRACE)
    [journey] = journey_rows(db, campaign_id)
    assert (journey.state, journey.exit_reason, journey.activated_at) == (
        "exited",
        "filtered",
        None,
    )


def test_filters_passing_later_within_the_grace_activate(db, ws, clock):
    filters = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    campaign_id = campaign(db, ws, {**WELCOME, "filters": filters})
    person(db, ws, "u9")
    track(db, ws, "u9", "signed_up", START)
    advance(db, START)
    person(db, ws, "u9", START + 30, plan="pro")
    advance(db, START + journeys.FILTER_RETRY)
    [journey] = journey_rows(db, campaign_id)
    assert journey.activated_at == START + journeys.FILTER_RETRY and journey.action_id is not None


def test_branches_split_and_rejoin(db, ws, clock):
    document = {
        "name": "Branchy",
        "state": "running",
        "trigger": {"event": {"name": "go"}},
        "workflow": [
            {
                "branch": {
                    "if": {"attribute": {"field": "vip", "operator": "eq", "value": True}},
                    "then": [{"email": {"from": "a@example.com", "subject": "vip", "body": "x"}}],
                    "else": [
                        {"email": {"from": "a@example.com", "subject": "regular", "body": "x"}}
                    ],
                }
            },
            {"email": {"from": "a@example.com", "subject": "everyone", "body": "x"}},
        ],
    }
    campaign(db, ws, document)
    person(db, ws, "v1", vip=True)
    person(db, ws, "v2")
    track(db, ws, "v1", "go", START)
    track(db, ws, "v2", "go", START)
    advance(db, START)
    deliver(db, clock)
    by_recipient: dict[str, list[str]] = {}
    for message in sent(db, ws):
        by_recipient.setdefault(message["recipient"], []).append(message["subject"])
    assert sorted(by_recipient["v1@example.com"]) == ["everyone", "vip"]
    assert sorted(by_recipient["v2@example.com"]) == ["everyone", "regular"]


def test_wait_until_an_event_releases_at_once_or_times_out(db, ws, clock):
    document = {
        "name": "Nudge",
        "state": "running",
        "trigger": {"event": {"name": "cart"}},
        "workflow": [
            {
                "wait_until": {
                    "event": {"name": "paid"},
                    "timeout": {"days": 2},
                    "on_timeout": [
                        {"email": {"from": "a@example.com", "subject": "forgot?", "body": "x"}}
                    ],
                }
            },
            {"email": {"from": "a@example.com", "subject": "thanks", "body": "x"}},
        ],
    }
    campaign(db, ws, document)
    person(db, ws, "w1")
    person(db, ws, "w2")
    track(db, ws, "w1", "cart", START)
    track(db, ws, "w2", "cart", START)
    advance(db, START)
    track(db, ws, "w1", "paid", START + 100)
    advance(db, START + 100)
    advance(db, START + 2 * DAY)
    clock.value = START + 2 * DAY
    deliver(db, clock)
    got = {(m["recipient"], m["subject"]) for m in sent(db, ws)}
    assert got == {
        ("w1@example.com", "thanks"),
        ("w2@example.com", "forgot?"),
        ("w2@example.com", "thanks"),
    }


def test_exit_when_ends_journeys_waiting_in_a_delay(db, ws):
    document = {
        **WELCOME,
        "exit_when": {"attribute": {"field": "unsubscribed_all", "operator": "eq", "value": True}},
    }
    campaign_id = campaign(db, ws, document)
    person(db, ws, "x1")
    track(db, ws, "x1", "signed_up", START)
    advance(db, START)
    person(db, ws, "x1", START + 10, unsubscribed_all=True)
    advance(db, START + 10)
    [journey] = journey_rows(db, campaign_id)
    assert (journey.state, journey.exit_reason) == ("exited", "exit_condition")


def test_a_goal_met_after_a_message_converts_and_exits(db, ws):
    document = {**WELCOME, "goal": {"event": {"name": "purchased"}, "within": {"days": 3}}}
    campaign_id = campaign(db, ws, document)
    person(db, ws, "g1")
    track(db, ws, "g1", "signed_up", START)
    advance(db, START)
    track(db, ws, "g1", "purchased", START + 3600)
    [journey] = journey_rows(db, campaign_id)
    assert (journey.state, journey.exit_reason, journey.converted_at) == (
        "exited",
        "goal",
        START + 3600,
    )


def test_update_steps_write_attributes_with_liquid(db, ws):
    document = {
        **WELCOME,
        "workflow": [
            {"update": {"attributes": {"stage": "welcomed {{ event.plan }}", "score": 5}}}
        ],
    }
    campaign(db, ws, document)
    person(db, ws, "p1")
    track(db, ws, "p1", "signed_up", START, plan="pro")
    advance(db, START)
    with db.reader.connect() as conn:
        found = people.store.find(conn, ws, Identifier("id", "p1"))
        attrs = people.store.load_attributes(conn, found.pk)
    assert attrs["stage"].value == "welcomed pro" and attrs["score"].value == "5"


def test_a_message_that_does_not_render_fails_with_the_reason(db, ws, clock):
    document = {
        **WELCOME,
        "workflow": [
            {"email": {"from": "a@example.com", "subject": "{{ 1 | divided_by: 0 }}", "body": "x"}}
        ],
    }
    campaign(db, ws, document)
    person(db, ws, "r1")
    track(db, ws, "r1", "signed_up", START)
    advance(db, START)
    deliver(db, clock)
    with db.reader.connect() as conn:
        state, reason = conn.execute(
            select(deliveries.c.state, deliveries.c.failure_message).where(
                deliveries.c.workspace_id == ws
            )
        ).one()
    assert state == "failed" and "subject" in reason


def test_random_cohorts_follow_their_percentages(db, ws):
    document = {
        **WELCOME,
        "frequency": "every_time",
        "workflow": [
            {
                "random": {
                    "paths": [
                        {"percent": 100, "steps": [{"update": {"attributes": {"path": "a"}}}]},
                        {"percent": 0, "steps": [{"update": {"attributes": {"path": "b"}}}]},
                    ]
                }
            }
        ],
    }
    campaign(db, ws, document)
    person(db, ws, "c1")
    for i in range(5):
        track(db, ws, "c1", "signed_up", START + i)
    advance(db, START + 10)
    with db.reader.connect() as conn:
        found = people.store.find(conn, ws, Identifier("id", "c1"))
        assert people.store.load_attributes(conn, found.pk)["path"].value == "a"


def test_webhook_steps_send_their_request_with_liquid_and_an_idempotency_key(db, ws, clock):
    from tests.webhook_receiver import receive
    from tidings.fetch import Allowlist

    with receive() as hook:
        document = {
            **WELCOME,
            "workflow": [
                {
                    "webhook": {
                        "url": hook.url + "?who={{ customer.id }}",
                        "method": "put",
                        "headers": {"X-Plan": "{{ event.plan }}"},
                        "body": '{"email": "{{ customer.email }}"}',
                    }
                },
                {"email": {"from": "a@example.com", "subject": "after", "body": "x"}},
            ],
        }
        campaign(db, ws, document)
        person(db, ws, "h1")
        track(db, ws, "h1", "signed_up", START, plan="pro")
        advance(db, START)
        composers = {"campaign": Composer("https://t.test")}
        worker = DeliveryWorker(db, clock, composers=composers, allow=Allowlist.parse("127.0.0.1"))
        worker.run_once()
        [post] = hook.posts
    assert post.json() == {"email": "h1@example.com"}
    assert post.headers["x-plan"] == "pro"
    assert post.headers["idempotency-key"] == post.headers["x-tidings-delivery-id"]
    assert [m["subject"] for m in sent(db, ws)] == ["after"]  # the journey went on
    with db.reader.connect() as conn:
        states = dict(
            conn.execute(
                select(deliveries.c.channel, deliveries.c.state).where(
                    deliveries.c.workspace_id == ws
                )
            ).all()
        )
    assert states == {"webhook": "sent", "email": "sent"}


def test_webhooks_to_private_addresses_are_refused(db, ws, clock):
    document = {**WELCOME, "workflow": [{"webhook": {"url": "http://127.0.0.1:9/x"}}]}
    campaign(db, ws, document)
    person(db, ws, "h2")
    track(db, ws, "h2", "signed_up", START)
    advance(db, START)
    deliver(db, clock)  # no allowlist
    with db.reader.connect() as conn:
        state, reason = conn.execute(
            select(deliveries.c.state, deliveries.c.failure_message).where(
                deliveries.c.workspace_id == ws
            )
        ).one()
    assert state == "failed" and "127.0.0.1" in reason


def test_entering_and_leaving_a_segment_start_journeys(db, ws):
    from tidings.segments import membership

    with db.writer.begin() as conn:
        condition = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
        body = {"segment": {"name": "Pros", "conditions": condition}}
        segment_id = membership.create_segment(conn, ws, body, START)["id"]
    base = {"state": "running", "workflow": [{"delay": 60}]}
    entered = campaign(db, ws, {**base, "name": "In", "trigger": {"segment": {"id": segment_id}}})
    left = campaign(
        db, ws, {**base, "name": "Out", "trigger": {"segment": {"id": segment_id, "on": "exit"}}}
    )
    person(db, ws, "s1", plan="pro")
    with db.writer.begin() as conn:
        membership.build_segment(conn, ws, segment_id, START)
    assert len(journey_rows(db, entered)) == 1 and journey_rows(db, left) == []
    person(db, ws, "s1", START + 5, plan="free")
    with db.writer.begin() as conn:
        pk = people.store.find(conn, ws, Identifier("id", "s1")).pk
        membership.refresh_people(conn, ws, [pk], START + 5)
    assert len(journey_rows(db, left)) == 1


def test_an_attribute_change_starts_a_journey_only_for_the_value_named(db, ws):
    document = {
        "name": "Upgraded",
        "state": "running",
        "trigger": {"attribute": {"field": "plan", "to": "pro"}},
        "workflow": [{"delay": 60}],
    }
    campaign_id = campaign(db, ws, document)
    person(db, ws, "a1", plan="free")
    assert journey_rows(db, campaign_id) == []
    person(db, ws, "a1", START + 1, plan="pro")
    assert len(journey_rows(db, campaign_id)) == 1


def test_every_channel_is_composed_for_the_person(db, ws, clock):
    from tidings.people import devices as people_devices

    document = {
        **WELCOME,
        "workflow": [
            {"sms": {"from": "+15550000000", "body": "Hi {{ customer.first_name }}"}},
            {"push": {"title": "Hello {{ event.plan }}", "message": "m"}},
            {"in_app": {"title": "t", "body": "in app {{ campaign.name }}"}},
            {"inbox": {"title": "t", "body": "inbox"}},
        ],
    }
    campaign(db, ws, document)
    person(db, ws, "m1", first_name="Mo", phone="+15551234567")
    with db.writer.begin() as conn:
        found = people.store.find(conn, ws, Identifier("id", "m1"))
        device = people_devices.parse_device({"id": "tok-9", "platform": "ios"}, token_key="id")
        people_devices.upsert(conn, found, device, START)
    track(db, ws, "m1", "signed_up", START, plan="pro")
    advance(db, START)
    deliver(db, clock)
    by_channel = {m["channel"]: m for m in sent(db, ws)}
    assert set(by_channel) == {"sms", "push", "in_app", "inbox"}
    assert by_channel["sms"]["recipient"] == "+15551234567"
    assert by_channel["sms"]["message"]["body"] == "Hi Mo"
    assert by_channel["push"]["recipient"] == "tok-9"
    assert by_channel["push"]["message"]["title"] == "Hello pro"
    assert "in app Welcome" in msgspec.json.encode(by_channel["in_app"]["message"]).decode()


def test_wait_until_a_condition_passes_when_it_holds(db, ws):
    document = {
        **WELCOME,
        "workflow": [
            {
                "wait_until": {
                    "condition": {
                        "attribute": {"field": "verified", "operator": "eq", "value": True}
                    }
                }
            },
            {"update": {"attributes": {"onboarded": True}}},
        ],
    }
    campaign_id = campaign(db, ws, document)
    person(db, ws, "k1")
    person(db, ws, "k2", verified=True)
    track(db, ws, "k1", "signed_up", START)
    track(db, ws, "k2", "signed_up", START)
    advance(db, START)
    states = {row.person_id: (row.state, row.due_at) for row in journey_rows(db, campaign_id)}
    assert sorted(states.values()) == [("active", None), ("finished", None)]
    person(db, ws, "k1", START + 50, verified=True)  # wakes the waiting journey
    advance(db, START + 50)
    assert {row.state for row in journey_rows(db, campaign_id)} == {"finished"}


def test_a_split_takes_the_first_path_that_holds_else_the_last(db, ws):
    def tagged(value: str) -> list[dict[str, Any]]:
        return [{"update": {"attributes": {"path": value}}}]

    document = {
        **WELCOME,
        "workflow": [
            {
                "split": {
                    "paths": [
                        {
                            "if": {"attribute": {"field": "n", "operator": "gt", "value": 10}},
                            "steps": tagged("big"),
                        },
                        {
                            "if": {"attribute": {"field": "n", "operator": "gt", "value": 5}},
                            "steps": tagged("medium"),
                        },
                    ],
                    "else": tagged("small"),
                }
            }
        ],
    }
    campaign(db, ws, document)
    for name, n in (("x20", 20), ("x7", 7), ("x1", 1)):
        person(db, ws, name, n=n)
        track(db, ws, name, "signed_up", START)
    advance(db, START)
    with db.reader.connect() as conn:
        paths = {
            name: people.store.load_attributes(
                conn, people.store.find(conn, ws, Identifier("id", name)).pk
            )["path"].value
            for name in ("x20", "x7", "x1")
        }
    assert paths == {"x20": "big", "x7": "medium", "x1": "small"}


def test_exit_steps_end_the_journey_and_draft_or_off_messages_are_not_sent(db, ws, clock):
    message = {"from": "a@example.com", "subject": "s", "body": "x"}
    document = {
        **WELCOME,
        "workflow": [
            {"sending_state": "draft", "email": {**message, "subject": "draft"}},
            {"sending_state": "off", "email": {**message, "subject": "off"}},
            "exit",
            {"email": {**message, "subject": "never"}},
        ],
    }
    campaign_id = campaign(db, ws, document)
    person(db, ws, "d1")
    track(db, ws, "d1", "signed_up", START)
    advance(db, START)
    deliver(db, clock)
    assert sent(db, ws) == []
    with db.reader.connect() as conn:
        rows = (
            conn.execute(select(deliveries.c.state).where(deliveries.c.workspace_id == ws))
            .scalars()
            .all()
        )
    assert rows == ["draft"]
    [journey] = journey_rows(db, campaign_id)
    assert journey.state == "finished"
