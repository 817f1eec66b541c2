"""Campaign and broadcast reports on both stores, from journeys the engine really ran.

Events start journeys, `journeys.advance_due` moves them on and the delivery
worker sends their messages, each at the time a FixedClock says; opens and
bounces are recorded with `record_metric` and clicks through the tracked
links of the mail as sent. The module has a database of its own, so no
other worker runs.

The times are chosen so that New York's days and UTC's differ:
a signs up on 15 January at 08:00 UTC (03:00 in New York), b at 01:00 UTC on
the 16th (20:00 on the 15th in New York); each gets the second mail a day
after the first.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select

from tests.conftest import new_workspace
from tests.factories import webhook_bodies
from tidings.campaigns import definitions, journey_view, journeys, store
from tidings.campaigns import metrics as reports
from tidings.campaigns import report_query as ask
from tidings.campaigns.messages import Composer
from tidings.clock import FixedClock
from tidings.db import migrate
from tidings.db.schema import campaign_actions, deliveries
from tidings.errors import ApiError
from tidings.events import service as events
from tidings.paging import PageRequest
from tidings.people import service as people
from tidings.people import store as people_store
from tidings.people.identifiers import Identifier
from tidings.providers import outbox
from tidings.providers.base import Sent, Transient
from tidings.reporting import links, messages, webhooks
from tidings.reporting.metrics import record_metric
from tidings.sending.deliverer import DeliveryWorker

START = 1_800_000_000  # 2027-01-15 08:00 UTC
HOUR, DAY = 3600, 86_400
T_A, T_B = START, START + 17 * HOUR
NEW_YORK_MIDNIGHT = START - 3 * HOUR  # 15 January 00:00 in New York
BASE = "https://t.test"
BODY = (
    '<p><a href="https://example.com/docs">docs</a> <a href="https://example.com/pricing">$</a></p>'
)
WELCOME = {
    "name": "Welcome",
    "state": "running",
    "trigger": {"event": {"name": "signed_up"}},
    "workflow": [
        {"email": {"from": "team@example.com", "subject": "Hi", "body": BODY}},
        {"delay": {"days": 1}},
        {"email": {"from": "team@example.com", "subject": "Day two", "body": "<p>2</p>"}},
    ],
}


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


def write(db, fn, *args: Any) -> Any:
    with db.writer.begin() as conn:
        return fn(conn, *args)


def read(db, fn, *args: Any) -> Any:
    with db.reader.connect() as conn:
        return fn(conn, *args)


def campaign(db, ws, document: dict[str, Any]) -> int:
    return write(db, store.create, ws, definitions.parse(document), START)


def person(db, ws, customer_id: str, now: int = START, **attributes: Any) -> int:
    body = {"email": f"{customer_id}@example.com", **attributes}
    write(
        db,
        people.identify,
        ws,
        Identifier("id", customer_id),
        people.parse_identify(body, now),
        now,
    )
    return read(db, people_store.find, ws, Identifier("id", customer_id)).pk


def track(db, ws, customer_id: str, name: str, now: int) -> None:
    event = events.parse_event({"name": name, "timestamp": now}, type_=None)
    write(db, events.track, ws, Identifier("id", customer_id), event, now)


def run_at(db, clock, moment: int) -> None:
    """Move the journeys due at `moment` on and send what they queued."""
    clock.value = moment
    db.write(journeys.advance_due, moment, journeys.BATCH)
    DeliveryWorker(db, clock, composers={"campaign": Composer(BASE)}).run_once()


def actions_of(db, campaign_id: int) -> list[int]:
    """The message actions' ids, in workflow order."""
    query = (
        select(campaign_actions.c.id)
        .where(campaign_actions.c.campaign_id == campaign_id, campaign_actions.c.type == "email")
        .order_by(campaign_actions.c.ordinal)
    )
    return list(read(db, lambda conn: conn.execute(query).scalars().all()))


def delivery_of(db, ws, customer_id: str, action_id: int) -> str:
    pk = read(db, people_store.find, ws, Identifier("id", customer_id)).pk
    query = select(deliveries.c.id).where(
        deliveries.c.person_id == pk, deliveries.c.action_id == action_id
    )
    return str(read(db, lambda conn: conn.execute(query).scalar_one()))


def click_tokens(db, ws, delivery_id: str) -> list[str]:
    page = PageRequest(limit=10, after=None)
    [sent] = read(db, outbox.list_captured, ws, page, outbox.Filters(delivery_id))["messages"]
    found = re.findall(BASE + r"/t/c/([^\"']+)", sent["message"]["html"])
    return [html.unescape(token) for token in found]


def metric(db, ws, delivery_id: str, name: str, moment: int, **extra: Any) -> None:
    write(db, record_metric, ws, delivery_id, name, moment, extra)


@pytest.fixture
def welcome(db, ws):
    """The Welcome campaign run for a and b, with opens, clicks, a bounce and a drop."""
    clock = FixedClock(START)
    hook = {"endpoint": "http://127.0.0.1:9/hook", "events": ["email_sent"]}
    write(db, webhooks.create, ws, webhooks.parse(hook, partial=False), START)
    campaign_id = campaign(db, ws, WELCOME)
    person(db, ws, "a")
    person(db, ws, "b")
    track(db, ws, "a", "signed_up", T_A)
    run_at(db, clock, T_A)
    track(db, ws, "b", "signed_up", T_B)
    run_at(db, clock, T_B)
    run_at(db, clock, T_A + DAY)
    run_at(db, clock, T_B + DAY)
    first, second = actions_of(db, campaign_id)
    a1, b1 = delivery_of(db, ws, "a", first), delivery_of(db, ws, "b", first)
    metric(db, ws, a1, "opened", T_A + HOUR)
    docs, _ = click_tokens(db, ws, a1)
    write(db, links.record_click, docs, T_A + 2 * HOUR)
    write(db, links.record_click, docs, T_A + 3 * HOUR)
    _, pricing = click_tokens(db, ws, b1)
    write(db, links.record_click, pricing, T_B + HOUR)  # and a synthetic open
    metric(db, ws, delivery_of(db, ws, "a", second), "dropped", T_A + DAY + 2 * HOUR)
    metric(db, ws, delivery_of(db, ws, "b", second), "bounced", T_B + DAY + HOUR)
    return campaign_id, first, second


def at(length: int, **counts: int) -> list[int]:
    """A series of `length` zeros but for `counts` (index `i<n>`: count)."""
    series = [0] * length
    for key, count in counts.items():
        series[int(key[1:])] = count
    return series


def window(query: dict[str, str], now: int = T_B + DAY + 2 * HOUR):
    return ask.parse_window(query, now)


# --- delivery metrics ----------------------------------------------------------------------


def test_version_2_days_are_cut_in_the_zone_asked_for(db, ws, welcome):
    campaign_id = welcome[0]
    query = {"version": "2", "res": "daily", "start": str(START), "end": str(T_B + DAY + HOUR)}
    new_york = window({**query, "tz": "America/New_York"})
    assert new_york.starts == (NEW_YORK_MIDNIGHT, NEW_YORK_MIDNIGHT + DAY)
    shown = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), None, new_york)
    series = shown["metric"]["series"]
    assert list(series) == list(reports.SERIES)
    assert (series["created"], series["sent"]) == ([2, 2], [2, 2])
    assert (series["opened"], series["clicked"]) == ([2, 0], [2, 0])
    assert (series["bounced"], series["suppressed"]) == ([0, 1], [0, 1])
    assert series["human_opened"] == series["attempted"] == [0, 0]

    utc = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), None, window(query))
    series = utc["metric"]["series"]
    assert (series["created"], series["sent"]) == ([1, 2, 1], [1, 2, 1])
    assert (series["opened"], series["clicked"]) == ([1, 1, 0], [1, 1, 0])
    assert (series["bounced"], series["suppressed"]) == ([0, 0, 1], [0, 1, 0])


def test_version_1_hours_and_days_end_with_the_current_period(db, ws, welcome):
    campaign_id, now = welcome[0], T_B + DAY + 2 * HOUR  # 17 January 03:00 UTC
    hours = window({"period": "hours", "steps": "24"}, now)
    assert hours.starts[0] == now - 23 * HOUR
    series = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), None, hours)[
        "metric"
    ]["series"]
    # a's second mail at 08:00 on the 16th, b's at 01:00 on the 17th
    assert series["sent"] == at(24, i4=1, i21=1)
    assert series["suppressed"] == at(24, i6=1)
    assert series["bounced"] == at(24, i22=1)
    assert series["opened"] == at(24)

    days = window({"period": "days", "steps": "3"}, now)
    series = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), None, days)[
        "metric"
    ]["series"]
    assert series["created"] == [1, 2, 1]
    assert series["clicked"] == [1, 1, 0]


def test_action_metrics_carry_lifetime_totals(db, ws, welcome):
    campaign_id, first, second = welcome
    days = window({"period": "days", "steps": "3"})
    shown = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), str(first), days)
    assert shown["metric"]["series"]["sent"] == [1, 1, 0]
    totals = shown["metric"]["totals"]
    assert list(totals) == list(reports.SERIES)
    assert {name: n for name, n in totals.items() if n} == {
        "created": 2,
        "sent": 2,
        "opened": 2,
        "clicked": 2,
    }
    shown = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), str(second), days)
    assert {name: n for name, n in shown["metric"]["totals"].items() if n} == {
        "created": 2,
        "sent": 2,
        "bounced": 1,
        "suppressed": 1,
    }


def test_campaign_metrics_carry_lifetime_totals_too(db, ws, welcome):
    campaign_id = welcome[0]
    days = window({"period": "days", "steps": "2"})  # the 16th and 17th: a's first mail is before
    shown = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), None, days)
    assert sum(shown["metric"]["series"]["sent"]) == 3
    totals = shown["metric"]["totals"]
    assert list(totals) == list(reports.SERIES)
    assert {name: n for name, n in totals.items() if n} == {
        "created": 4,
        "sent": 4,
        "opened": 2,
        "clicked": 2,
        "bounced": 1,
        "suppressed": 1,
    }
    emails = ask.parse_type({"type": "email"})
    by_channel = read(
        db, reports.delivery_report, ws, "campaign", str(campaign_id), None, days, emails
    )
    assert by_channel["metric"]["totals"] == totals
    pushes = ask.parse_type({"type": "push"})
    none = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), None, days, pushes)
    assert set(none["metric"]["totals"].values()) == {0}


class BusyOnce:
    """A provider that turns each message away once ("try again later"), then takes it."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def send(self, delivery_id: str, message: Any) -> Any:
        if delivery_id in self.seen:
            return Sent(f"p-{delivery_id}")
        self.seen.add(delivery_id)
        return Transient("421 busy")

    async def close(self) -> None:
        return None


def test_a_send_to_retry_is_attempted_in_series_and_totals(db, ws):
    clock, provider = FixedClock(START), BusyOnce()
    worker = DeliveryWorker(
        db,
        clock,
        composers={"campaign": Composer(BASE)},
        factories={"capture": lambda config, ws, channel, services: provider},
    )
    document = {**WELCOME, "name": "Retried", "workflow": WELCOME["workflow"][:1]}
    campaign_id = campaign(db, ws, document)
    [action_id] = actions_of(db, campaign_id)
    person(db, ws, "r")
    track(db, ws, "r", "signed_up", START)
    db.write(journeys.advance_due, START, journeys.BATCH)
    worker.run_once()  # turned away: queued again, attempted
    delivery_id = delivery_of(db, ws, "r", action_id)
    clock.value = START + 2 * HOUR
    worker.run_once()
    hours = window({"period": "hours", "steps": "3"}, START + 2 * HOUR)
    for action in (None, str(action_id)):
        shown = read(db, reports.delivery_report, ws, "campaign", str(campaign_id), action, hours)
        metric_ = shown["metric"]
        assert (metric_["series"]["attempted"], metric_["series"]["sent"]) == ([1, 0, 0], [0, 0, 1])
        assert (metric_["totals"]["attempted"], metric_["totals"]["sent"]) == (1, 1)
    for counted, kept in counted_and_kept(db, ws, campaign_id, [action_id]):
        assert counted == kept
    [message] = read(
        db,
        reports.message_report,
        ws,
        "campaign",
        str(campaign_id),
        messages.parse_query({"metric": "attempted"}),
        START + 2 * HOUR,
    )["messages"]
    assert message["id"] == delivery_id
    assert (message["metrics"]["attempted"], message["metrics"]["sent"]) == (
        START,
        START + 2 * HOUR,
    )


def test_type_picks_a_channel(db, ws, welcome):
    days = window({"period": "days", "steps": "3"})
    for kind, sent in (("email", [1, 2, 1]), ("push", [0, 0, 0]), ("twilio", [0, 0, 0])):
        channels = ask.parse_type({"type": kind})
        shown = read(
            db, reports.delivery_report, ws, "campaign", str(welcome[0]), None, days, channels
        )
        assert shown["metric"]["series"]["sent"] == sent, kind


# --- links -----------------------------------------------------------------------------------


def test_link_metrics_count_clicks_per_tracked_link(db, ws, welcome):
    campaign_id, first, second = welcome
    days = ask.parse_link_window({"period": "days", "steps": "3"}, T_B + DAY + 2 * HOUR)
    shown = read(db, reports.link_report, ws, "campaign", str(campaign_id), None, days, False)
    assert shown == {
        "links": [
            {
                "link": {"id": 1, "href": "https://example.com/docs"},
                "metric": {"series": {"clicked": [2, 0, 0]}},
            },
            {
                "link": {"id": 2, "href": "https://example.com/pricing"},
                "metric": {"series": {"clicked": [0, 1, 0]}},
            },
        ]
    }
    unique = read(db, reports.link_report, ws, "campaign", str(campaign_id), str(first), days, True)
    assert [entry["metric"]["series"]["clicked"] for entry in unique["links"]] == [
        [1, 0, 0],
        [0, 1, 0],
    ]
    none = read(db, reports.link_report, ws, "campaign", str(campaign_id), str(second), days, True)
    assert none == {"links": []}


# --- journeys --------------------------------------------------------------------------------

FUNNEL = {
    "name": "Funnel",
    "state": "running",
    "trigger": {"event": {"name": "go"}},
    "filters": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
    "exit_when": {"attribute": {"field": "gone", "operator": "eq", "value": True}},
    "goal": {"event": {"name": "purchased"}, "within": {"days": 3}},
    "workflow": WELCOME["workflow"],
}


def test_journey_metrics_count_journeys_by_the_day_they_started(db, ws):
    clock = FixedClock(START)
    campaign_id = campaign(db, ws, FUNNEL)
    for customer_id in ("finishes", "leaves", "buys", "later", "waits"):
        person(db, ws, customer_id, plan="pro")
    person(db, ws, "free", plan="free")
    for customer_id in ("finishes", "leaves", "buys", "free"):
        track(db, ws, customer_id, "go", START)
    run_at(db, clock, START)
    person(db, ws, "leaves", START + 10, gone=True)
    run_at(db, clock, START + 10)
    track(db, ws, "buys", "purchased", START + HOUR)
    run_at(db, clock, START + journeys.FILTER_GRACE)
    track(db, ws, "later", "go", START + DAY)
    run_at(db, clock, START + DAY)
    track(db, ws, "waits", "go", START + DAY + 10)
    run_at(db, clock, START + DAY + 10)
    run_at(db, clock, START + 2 * DAY)

    query = {"start": str(START), "end": str(START + DAY + 20), "resolution": "days"}
    shown = read(db, reports.journey_report, ws, str(campaign_id), parse_journeys(query))
    assert shown == {
        "journey_metric": {
            "started": [4, 2],
            "activated": [3, 2],
            "exited_early": [1, 0],
            "finished": [1, 1],
            "converted": [1, 0],
            "never_activated": [1, 0],
            "messaged": [3, 2],
        }
    }
    hourly = parse_journeys({"start": str(START), "end": str(START + 1), "res": "hourly"})
    assert read(db, reports.journey_report, ws, str(campaign_id), hourly)["journey_metric"][
        "started"
    ] == [4]


def parse_journeys(query: dict[str, str]):
    return ask.parse_journey_window(query)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"version": "3"}, "version"),
        ({"version": "2", "res": "fortnightly"}, "res"),
        ({"version": "2", "tz": "Mars/Olympus_Mons"}, "tz"),
        ({"version": "2", "tz": "../../etc/passwd"}, "tz"),
        ({"version": "2", "start": "yesterday"}, "start"),
        ({"version": "2", "start": "200", "end": "100"}, "start"),
        ({"version": "2", "res": "hours", "start": "0", "end": str(START)}, "end"),
        ({"version": "2", "period": "days"}, "period"),
        ({"version": "2", "steps": "3"}, "steps"),
        ({"res": "days"}, "res"),
        ({"start": "100"}, "start"),
        ({"period": "years"}, "period"),
        ({"steps": "-1"}, "steps"),
    ],
)
def test_bad_windows_are_400s_naming_the_parameter(query, field):
    with pytest.raises(ApiError) as caught:
        window(query)
    assert (caught.value.status, caught.value.field) == (400, field)


@pytest.mark.parametrize(
    ("parse", "query", "field"),
    [
        (ask.parse_type, {"type": "fax"}, "type"),
        (ask.parse_unique, {"unique": "maybe"}, "unique"),
        (parse_journeys, {"end": "2", "res": "days"}, "start"),
        (parse_journeys, {"start": "1", "res": "days"}, "end"),
        (parse_journeys, {"start": "1", "end": "2"}, "resolution"),
        (parse_journeys, {"start": "1", "end": "2", "resolution": "ages"}, "resolution"),
        (parse_journeys, {"start": "1", "end": "2", "res": "ages"}, "res"),
        (messages.parse_query, {"trigger_id": "4"}, "trigger_id"),
    ],
)
def test_bad_report_parameters_are_400s_naming_them(parse, query, field):
    with pytest.raises(ApiError) as caught:
        parse(query)
    assert (caught.value.status, caught.value.field) == (400, field)


def test_unknown_campaigns_broadcasts_and_actions_are_404s(db, ws):
    campaign_id = campaign(db, ws, WELCOME)
    other = campaign(db, ws, {**WELCOME, "name": "Other"})
    other_action = actions_of(db, other)[0]
    elsewhere = new_workspace(db, "elsewhere").workspace_id
    days = window({})
    for workspace_id, kind, raw, action in (
        (ws, "campaign", "999999", None),
        (ws, "campaign", "abc", None),
        (ws, "broadcast", str(campaign_id), None),  # a campaign is not a broadcast
        (ws, "campaign", str(campaign_id), str(other_action)),
        (ws, "campaign", str(campaign_id), "x"),
        (elsewhere, "campaign", str(campaign_id), None),
    ):
        with pytest.raises(ApiError) as caught:
            read(db, reports.delivery_report, workspace_id, kind, raw, action, days)
        assert caught.value.status == 404, (workspace_id, kind, raw, action)
    with pytest.raises(ApiError) as caught:
        read(db, reports.journey_report, elsewhere, str(campaign_id), days)
    assert caught.value.status == 404


# --- broadcasts, messages, webhooks ----------------------------------------------------------

BROADCAST = {
    "name": "Launch",
    "kind": "broadcast",
    "state": "running",
    "workflow": [{"email": {"from": "team@example.com", "subject": "Launch", "body": BODY}}],
}


def broadcast_to(db, ws, customer_id: str, trigger_id: int) -> tuple[int, int]:
    clock = FixedClock(START)
    broadcast_id = campaign(db, ws, BROADCAST)
    pk = person(db, ws, customer_id)
    with db.writer.begin() as conn:
        journeys.start(conn, ws, broadcast_id, pk, str(trigger_id), START, trigger_id=trigger_id)
    run_at(db, clock, START)
    return broadcast_id, actions_of(db, broadcast_id)[0]


def test_broadcast_reports_and_messages(db, ws):
    broadcast_id, action_id = broadcast_to(db, ws, "c", 77)
    days = window({"period": "days", "steps": "2"}, START)
    for kind in ("broadcast", "campaign"):  # one id space: either route serves it
        shown = read(db, reports.delivery_report, ws, kind, str(broadcast_id), None, days)
        assert shown["metric"]["series"]["sent"] == [0, 1]
        assert (shown["metric"]["totals"]["sent"], shown["metric"]["totals"]["created"]) == (1, 1)
    shown = read(
        db, reports.delivery_report, ws, "broadcast", str(broadcast_id), str(action_id), days
    )
    assert shown["metric"]["totals"]["sent"] == 1

    q = messages.parse_query({})
    [message] = read(db, reports.message_report, ws, "broadcast", str(broadcast_id), q, START)[
        "messages"
    ]
    assert message["broadcast_id"] == broadcast_id and message["campaign_id"] is None
    assert (message["action_id"], message["trigger_id"]) == (action_id, 77)
    assert isinstance(message["journey_id"], str)
    for query, count in (
        ({"broadcast_id": str(broadcast_id)}, 1),
        ({"campaign_id": str(broadcast_id)}, 1),
        ({"broadcast_id": str(broadcast_id), "trigger_id": "77"}, 1),
        ({"campaign_id": str(broadcast_id), "trigger_id": "78"}, 0),
    ):
        found = read(db, messages.list_messages, ws, messages.parse_query(query), START)
        assert len(found["messages"]) == count, query


def test_messages_show_and_filter_by_their_parents(db, ws, welcome):
    campaign_id, first, second = welcome
    now = T_B + DAY + 2 * HOUR
    q = messages.parse_query({"campaign_id": str(campaign_id)})
    listed = read(db, messages.list_messages, ws, q, now)["messages"]
    assert len(listed) == 4
    assert {m["campaign_id"] for m in listed} == {campaign_id}
    assert {m["action_id"] for m in listed} == {first, second}
    assert all(m["broadcast_id"] is None and isinstance(m["journey_id"], str) for m in listed)
    assert all(isinstance(m["trigger_event_id"], str) for m in listed)

    for query, count in (
        ({"campaign_id": str(campaign_id), "action_id": str(first)}, 2),
        ({"action_id": str(second)}, 2),
        ({"campaign_id": str(campaign_id + 1000)}, 0),
        ({"newsletter_id": "1"}, 0),
        ({"broadcast_id": str(campaign_id)}, 0),
    ):
        found = read(db, messages.list_messages, ws, messages.parse_query(query), now)
        assert len(found["messages"]) == count, query

    shown = read(db, reports.message_report, ws, "campaign", str(campaign_id), q, now)
    assert len(shown["messages"]) == 4
    of_a = read(db, messages.messages_of, ws, "a", "id", messages.parse_query({}), now)["messages"]
    assert sorted((m["campaign_id"], m["action_id"]) for m in of_a) == [
        (campaign_id, first),
        (campaign_id, second),
    ]


def test_webhook_events_name_the_campaign_and_action(db, ws, welcome):
    campaign_id, first, second = welcome
    posted = [body["data"] for _, _, body in read(db, webhook_bodies, ws)]
    assert len(posted) == 4  # four mails sent
    assert {(d["campaign_id"], d["action_id"]) for d in posted} == {
        (campaign_id, first),
        (campaign_id, second),
    }
    assert all(isinstance(d["journey_id"], str) and "broadcast_id" not in d for d in posted)
    assert all(isinstance(d["trigger_event_id"], str) for d in posted)


def test_webhook_events_of_a_broadcast_name_its_trigger(db, ws):
    hook = {"endpoint": "http://127.0.0.1:9/hook", "events": ["email_sent"]}
    write(db, webhooks.create, ws, webhooks.parse(hook, partial=False), START)
    broadcast_id, action_id = broadcast_to(db, ws, "d", 5)
    [(_, _, body)] = read(db, webhook_bodies, ws)
    data = body["data"]
    assert (data["broadcast_id"], data["action_id"], data["trigger_id"]) == (
        broadcast_id,
        action_id,
        5,
    )
    assert "campaign_id" not in data and isinstance(data["journey_id"], str)


# --- running totals ------------------------------------------------------------------------


def counted_and_kept(db, ws, campaign_id: int, action_ids: list[int]) -> list[tuple[Any, Any]]:
    """For the campaign and each action: the totals counted from the messages, and
    those kept as they happened (`reporting/totals.py`)."""
    pairs = []
    for action in (None, *map(str, action_ids)):
        where = read(db, reports._scope, ws, "campaign", str(campaign_id), action)
        kept = read(db, reports.totals, ws, "campaign", str(campaign_id), action)
        pairs.append((read(db, reports._counted, where), kept))
    return pairs


def test_running_totals_equal_the_counted_and_the_migration_sums_the_same(db, ws, welcome):
    campaign_id, first, second = welcome
    metric(db, ws, delivery_of(db, ws, "b", second), "bounced", T_B + DAY + 2 * HOUR)  # again
    pairs = counted_and_kept(db, ws, campaign_id, [first, second])
    for counted, kept in pairs:
        assert counted == kept
    assert pairs[0][1]["created"] == 4 and pairs[0][1]["bounced"] == 1
    steps = read(db, journey_view.step_counts, campaign_id, read_actions(db, campaign_id))
    assert [s.reached.count for s in steps.values()] == [2, 2, 2]

    # What was recorded before the running totals existed is summed by migration 0023.
    config = migrate.alembic_config()
    with db.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0022_people_identifiers_bytewise")
    migrate.upgrade(db)
    assert counted_and_kept(db, ws, campaign_id, [first, second]) == pairs
    again = read(db, journey_view.step_counts, campaign_id, read_actions(db, campaign_id))
    assert again == steps


def read_actions(db, campaign_id: int) -> list[int]:
    query = (
        select(campaign_actions.c.id)
        .where(campaign_actions.c.campaign_id == campaign_id)
        .order_by(campaign_actions.c.ordinal)
    )
    return list(read(db, lambda conn: conn.execute(query).scalars().all()))
