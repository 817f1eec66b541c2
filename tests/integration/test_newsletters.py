"""Newsletters on both stores: definitions, contents, test groups, sends now and later.

Each test calls the use cases as the routes do, runs the jobs (the fan-out
and the scheduled send) with the module's clock, moves the journeys on and
lets the delivery worker send through the capture adapter. The module has a
database of its own, so no other worker takes its jobs; time only moves when
a test moves it.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tidings.campaigns import broadcasts, fanout, journeys, metrics, newsletters, store, views
from tidings.campaigns import newsletter_ab as ab
from tidings.campaigns import newsletter_contents as contents
from tidings.campaigns import newsletter_requests as asks
from tidings.campaigns.messages import Composer
from tidings.clock import FixedClock
from tidings.db.schema import captured_messages, deliveries
from tidings.db.schema import journeys as journey_table
from tidings.errors import ApiError
from tidings.fetch import Allowlist
from tidings.jobs.runner import JobWorker
from tidings.paging import PageRequest
from tidings.people import service as people_service
from tidings.people.identifiers import Identifier
from tidings.reporting import messages as message_list
from tidings.reporting.metrics import record_metric
from tidings.reporting.series import last
from tidings.segments import service as segments
from tidings.sending import delivery_queue
from tidings.sending.deliverer import DeliveryWorker
from tidings.templates import layouts, senders

NEW_YORK = ZoneInfo("America/New_York")
# 2027-10-04 12:00 UTC; the tz-matched send is at 09:00 on the 5th, New York time.
START = int(datetime(2027, 10, 4, 12, tzinfo=ZoneInfo("UTC")).timestamp())
NINE_NY = int(datetime(2027, 10, 5, 9, tzinfo=NEW_YORK).timestamp())
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
MAIL = {
    "name": "October news",
    "type": "email",
    "recipients": PRO,
    "from": "news@example.com",
    "subject": "News for {{ customer.first_name }}",
    "body": "<p>Hello</p>",
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


def person(db, ws: int, customer_id: str, **attributes: Any) -> None:
    body = {"email": f"{customer_id}@example.com", "first_name": customer_id.upper(), **attributes}
    with db.writer.begin() as conn:
        request = people_service.parse_identify(body, START)
        people_service.identify(conn, ws, Identifier("id", customer_id), request, START)


def create(db, ws: int, body: dict[str, Any] | None = None, now: int = START) -> dict[str, Any]:
    new = asks.parse_new({**MAIL, **(body or {})}, now)
    return db.write(newsletters.create, ws, new, now)


def send(db, ws: int, newsletter_id: int, rate: dict[str, Any] | None = None) -> dict[str, Any]:
    return db.write(newsletters.send, ws, newsletter_id, asks.parse_send(rate), START)


def run(db, clock: FixedClock) -> None:
    """Due jobs (scheduled sends, fan-outs, A/B winners), then due journeys, then due deliveries."""
    handlers = {
        broadcasts.JOB_KIND: fanout.FanoutJob(Allowlist.parse("127.0.0.1/32"), 5),
        newsletters.JOB_KIND: newsletters.ScheduledSendJob(),
        ab.JOB_KIND: ab.WinnerJob(),
    }
    worker = JobWorker(db, clock, handlers)
    while worker.run_once():
        pass
    while db.write(journeys.advance_due, int(clock.now()), journeys.BATCH):
        pass
    sender = DeliveryWorker(db, clock, composers={"campaign": Composer("https://t.test")})
    while sender.run_once():
        pass


def subjects(db, ws: int) -> dict[str, str]:
    """Each recipient's one message's subject (a second message fails the test)."""
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(captured_messages.c.recipient, captured_messages.c.subject).where(
                captured_messages.c.workspace_id == ws
            )
        ).all()
    assert max(Counter(r.recipient for r in rows).values(), default=1) == 1
    return {r.recipient: r.subject for r in rows}


def sent_rows(db, ws: int) -> list[Any]:
    with db.reader.connect() as conn:
        return list(conn.execute(select(deliveries).where(deliveries.c.workspace_id == ws)).all())


def refused(fn: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        fn(*args)
    return caught.value


@pytest.fixture
def three(db, ws) -> None:
    person(db, ws, "ann", plan="pro")
    person(db, ws, "bob", plan="free")
    person(db, ws, "cy", plan="pro", language="fr")


# --- definitions -----------------------------------------------------------------------------


def test_create_get_list_and_delete(db, ws):
    made = create(db, ws, {"recipients": {"or": [{"segment": {"id": 4}}, PRO]}})
    sms = {"name": "Second", "type": "twilio", "recipients": PRO, "body": "hi"}
    other = db.write(newsletters.create, ws, asks.parse_new(sms, START), START)
    assert made["type"] == "email" and made["state"] == "draft" and made["sent_at"] is None
    assert made["recipient_segment_ids"] == [4] and len(made["content_ids"]) == 1
    assert made["deduplicate_id"] == f"{made['id']}:{made['updated']}"
    assert db.read(newsletters.get, ws, other["id"])["type"] == "twilio"
    first = db.read(newsletters.list_page, ws, PageRequest(1), False)
    assert [n["id"] for n in first["newsletters"]] == [made["id"]] and first["next"]
    rest = db.read(newsletters.list_page, ws, PageRequest(1, (made["id"],)), False)
    assert [n["id"] for n in rest["newsletters"]] == [other["id"]] and rest["next"] == ""
    newest = db.read(newsletters.list_page, ws, PageRequest(10), True)
    assert [n["id"] for n in newest["newsletters"]] == [other["id"], made["id"]]
    db.write(newsletters.remove, ws, made["id"])
    assert refused(db.read, newsletters.get, ws, made["id"]).status == 404
    assert db.read(store.rows_of, ws, "campaign") == []  # newsletters are not campaigns


def test_inverse_recipients_become_not(db, ws):
    made = create(db, ws, {"recipients": {"attribute": {**PRO["attribute"], "inverse": True}}})
    assert made["recipients"] == {"not": PRO}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"type": "sms"}, "type"),
        ({"subject": None}, "subject"),
        ({"recipients": None}, "recipients"),
        ({"recipients": {"segment": {"id": "x"}}}, "recipients.segment.id"),
        ({"send_now": True, "scheduled_at": START + 60}, "scheduled_at"),
        ({"scheduled_at": START - 1}, "scheduled_at"),
        ({"rate_limit_email_rate": 10}, "rate_limit_time_period"),
        ({"rate_limit_email_rate": 10, "rate_limit_time_period": 120}, "rate_limit_time_period"),
        ({"from_id": 3}, "from_id"),  # beside `from`: one or the other
        ({"from_id": "3"}, "from_id"),
        ({"layout_id": True}, "layout_id"),
        ({"type": "twilio", "body": "hi", "reply_to_id": 1}, "reply_to_id"),
        ({"title": "x"}, "title"),
    ],
)
def test_bad_requests_name_the_field(change, field):
    error = refused(asks.parse_new, {**MAIL, **change}, START)
    assert (error.status, error.field) == (400, field)


def test_other_workspaces_see_nothing(db, ws):
    made = create(db, ws)
    other = new_workspace(db).workspace_id
    for fn, *args in [
        (newsletters.get, made["id"]),
        (contents.list_contents, made["id"]),
        (contents.get_content, made["id"], made["content_ids"][0]),
        (ab.test_groups, made["id"]),
    ]:
        assert refused(db.read, fn, other, *args).status == 404
    assert refused(db.write, newsletters.send, other, made["id"], None, START).status == 404
    assert db.read(newsletters.list_page, other, PageRequest(10), False)["newsletters"] == []


# --- contents, languages, test groups ---------------------------------------------------------


def test_languages_and_content_edits(db, ws, three, clock):
    made = create(db, ws)
    [default_id] = made["content_ids"]
    french = db.write(
        contents.add_language, ws, made["id"], 0, {"language": "FR", "subject": "Salut"}, START
    )["content"]
    assert (french["language"], french["subject"], french["body"]) == (
        "fr",
        "Salut",
        "<p>Hello</p>",
    )
    again = refused(db.write, contents.add_language, ws, made["id"], 0, {"language": "fr"}, START)
    assert again.status == 400
    edited = db.write(
        contents.update_content, ws, made["id"], default_id, {"preheader_text": "Read me"}, START
    )["content"]
    assert edited["preheader_text"] == "Read me" and edited["subject"].startswith("News")
    shown = db.read(contents.get_language, ws, made["id"], 0, "fr")["content"]
    assert shown["id"] == french["id"]
    listed = db.read(contents.list_contents, ws, made["id"])["contents"]
    assert [c["id"] for c in listed] == [default_id, french["id"]]
    send(db, ws, made["id"])
    run(db, clock)
    assert subjects(db, ws) == {"ann@example.com": "News for ANN", "cy@example.com": "Salut"}
    by_person = {row.recipient: row.content_id for row in sent_rows(db, ws)}
    assert by_person == {"ann@example.com": default_id, "cy@example.com": french["id"]}


def test_the_default_content_cannot_be_deleted_but_a_language_can(db, ws):
    made = create(db, ws)
    db.write(contents.add_language, ws, made["id"], 0, {"language": "de"}, START)
    assert refused(db.write, contents.delete_language, ws, made["id"], 0, "", START).status == 400
    db.write(contents.delete_language, ws, made["id"], 0, "de", START)
    assert refused(db.read, contents.get_language, ws, made["id"], 0, "de").status == 404
    assert len(db.read(newsletters.get, ws, made["id"])["content_ids"]) == 1


def test_test_groups_split_the_audience_evenly_and_stably(db, ws, clock):
    for n in range(40):
        person(db, ws, f"p{n}", plan="pro")
    made = create(db, ws)
    assert db.read(ab.test_groups, ws, made["id"]) == {"test_groups": []}
    group = db.write(contents.add_test_group, ws, made["id"], START)
    groups = db.read(ab.test_groups, ws, made["id"])["test_groups"]
    assert [(g["id"], g["name"]) for g in groups] == [(0, "Variant A"), (group, "Variant B")]
    variant_b = groups[1]["content_ids"][0]
    db.write(contents.update_content, ws, made["id"], variant_b, {"subject": "B"}, START)
    db.write(
        contents.add_language, ws, made["id"], group, {"language": "fr", "subject": "B fr"}, START
    )
    send(db, ws, made["id"])
    run(db, clock)
    got = Counter(subjects(db, ws).values())
    assert sum(got.values()) == 40 and got["B"] >= 10 and 40 - got["B"] >= 10
    for row in sent_rows(db, ws):
        expected = contents.split(made["id"], row.person_id, 2)
        assert (row.content_id == variant_b) == (expected == 1)
    assert refused(db.write, contents.add_test_group, ws, made["id"], START).status == 400


# --- sending ---------------------------------------------------------------------------------


def test_send_now_reaches_the_recipients_once_with_newsletter_parents(db, ws, three, clock):
    made = create(db, ws)
    shown = send(db, ws, made["id"])
    assert (shown["state"], shown["sent_at"]) == ("sent", START)
    run(db, clock)
    assert set(subjects(db, ws)) == {"ann@example.com", "cy@example.com"}
    for row in sent_rows(db, ws):
        assert (row.newsletter_id, row.content_id) == (made["id"], made["content_ids"][0])
        assert (row.campaign_id, row.broadcast_id, row.action_id, row.trigger_id) == (None,) * 4
        assert row.state == "sent"
    assert refused(db.write, newsletters.send, ws, made["id"], None, START).status == 400


def test_create_with_send_now(db, ws, three, clock):
    made = create(db, ws, {"send_now": True})
    assert made["state"] == "sent"
    run(db, clock)
    assert len(subjects(db, ws)) == 2


def test_a_scheduled_send_fires_when_its_time_comes(db, ws, three, clock):
    made = create(db, ws)
    schedule = asks.parse_schedule({"scheduled_at": START + 3600, "timezone": "UTC"}, START)
    shown = db.write(newsletters.set_schedule, ws, made["id"], schedule, START)
    assert (shown["state"], shown["scheduled_at"]) == ("scheduled", START + 3600)
    run(db, clock)
    assert subjects(db, ws) == {}
    clock.advance(3600)
    run(db, clock)
    assert len(subjects(db, ws)) == 2
    assert db.read(newsletters.get, ws, made["id"])["sent_at"] == START + 3600


def test_descheduled_and_rescheduled_sends_fire_once_at_the_new_time(db, ws, three, clock):
    first = create(db, ws, {"scheduled_at": START + 60})
    db.write(
        newsletters.set_schedule,
        ws,
        first["id"],
        asks.parse_schedule({"scheduled_at": 0}, START),
        START,
    )
    second = create(db, ws, {"name": "Later", "scheduled_at": START + 60})
    later = asks.parse_schedule({"scheduled_at": START + 600, "timezone": "UTC"}, START)
    db.write(newsletters.set_schedule, ws, second["id"], later, START)
    clock.advance(60)
    run(db, clock)
    assert subjects(db, ws) == {}
    clock.advance(540)
    run(db, clock)
    rows = sent_rows(db, ws)
    assert len(rows) == 2 and {row.newsletter_id for row in rows} == {second["id"]}
    assert db.read(newsletters.get, ws, first["id"])["state"] == "draft"


def test_tz_match_sends_at_each_persons_local_time(db, ws, clock):
    person(db, ws, "berlin", plan="pro", timezone="Europe/Berlin")
    person(db, ws, "ny", plan="pro", timezone="America/New_York")
    person(db, ws, "none", plan="pro")
    person(db, ws, "bad", plan="pro", timezone="(GMT-08:00) Pacific Time")
    made = create(db, ws)
    body = {"scheduled_at": NINE_NY, "timezone": "America/New_York", "tz_match_enabled": True}
    db.write(newsletters.set_schedule, ws, made["id"], asks.parse_schedule(body, START), START)
    berlin = int(datetime(2027, 10, 5, 9, tzinfo=ZoneInfo("Europe/Berlin")).timestamp())
    last_zone = int(datetime(2027, 10, 5, 21, tzinfo=ZoneInfo("UTC")).timestamp())  # UTC-12
    first_zone = int(datetime(2027, 10, 4, 19, tzinfo=ZoneInfo("UTC")).timestamp())  # UTC+14
    clock.value = first_zone - 1
    run(db, clock)
    assert sent_rows(db, ws) == []
    clock.value = first_zone
    run(db, clock)
    with db.reader.connect() as conn:
        due = dict(
            conn.execute(
                select(journey_table.c.person_id, journey_table.c.due_at).where(
                    journey_table.c.workspace_id == ws
                )
            ).all()
        )
    assert sorted(due.values()) == [berlin, NINE_NY, NINE_NY, last_zone]
    for moment, expected in [
        (berlin, {"berlin"}),
        (NINE_NY, {"berlin", "ny", "none"}),
        (last_zone, {"berlin", "ny", "none", "bad"}),
    ]:
        clock.value = moment
        run(db, clock)
        assert {r.split("@")[0] for r in subjects(db, ws)} == expected


def test_tz_match_refuses_periods_over_an_hour():
    body = {
        "scheduled_at": NINE_NY,
        "timezone": "America/New_York",
        "tz_match_enabled": True,
        "rate_limit_email_rate": 10,
        "rate_limit_time_period": 86400,
    }
    assert refused(asks.parse_schedule, body, START).field == "rate_limit_time_period"
    assert refused(asks.parse_schedule, {"scheduled_at": NINE_NY}, START).field == "timezone"


def test_a_rate_limit_spaces_the_messages(db, ws, clock):
    for n in range(10):
        person(db, ws, f"r{n}", plan="pro")
    made = create(db, ws)
    rate = {"rate_limit_email_rate": 60, "rate_limit_time_period": 60, "rate_limit_spread": False}
    shown = send(db, ws, made["id"], rate)
    assert (shown["rate_limit_email_rate"], shown["rate_limit_time_period"]) == (60, 60)
    handlers = {broadcasts.JOB_KIND: fanout.FanoutJob(Allowlist.parse("127.0.0.1/32"), 5)}
    worker = JobWorker(db, clock, handlers)
    while worker.run_once():
        pass
    db.write(journeys.advance_due, START, journeys.BATCH)
    with db.writer.begin() as conn:
        claimed = delivery_queue.claim(conn, START, 15, 100, float(START))
    # One a second: slots at 0 ... 5 s fit a third of the 15 s lease; the rest wait.
    assert sorted(c.slot.at for c in claimed if c.slot) == [START + n for n in range(6)]


# --- reports ---------------------------------------------------------------------------------


def test_metrics_links_and_messages_by_newsletter_and_content(db, ws, three, clock):
    made = create(db, ws)
    french = db.write(contents.add_language, ws, made["id"], 0, {"language": "fr"}, START)
    french_id = french["content"]["id"]
    send(db, ws, made["id"])
    run(db, clock)
    cy = next(row for row in sent_rows(db, ws) if row.content_id == french_id)
    click = {"href": "https://example.com/a", "link_id": 1}
    db.write(record_metric, ws, cy.id, "clicked", START + 5, click)
    window = last("days", 3, START + 10, open_end=True)
    owner = str(made["id"])
    report = db.read(metrics.delivery_report, ws, "newsletter", owner, None, window)
    assert report["metric"]["series"]["sent"][-1] == 2
    by_content = db.read(metrics.delivery_report, ws, "newsletter", owner, str(french_id), window)
    assert by_content["metric"]["totals"]["sent"] == 1
    assert by_content["metric"]["totals"]["clicked"] == 1
    links = db.read(metrics.link_report, ws, "newsletter", owner, None, window, False)
    assert links["links"][0]["link"] == {"id": 1, "href": "https://example.com/a"}
    query = message_list.parse_query({"metric": "clicked"})
    listed = db.read(metrics.message_report, ws, "newsletter", owner, query, START + 10)
    assert [m["id"] for m in listed["messages"]] == [cy.id]
    assert listed["messages"][0]["newsletter_id"] == made["id"]
    stranger = create(db, ws, {"name": "Other"})["content_ids"][0]
    missing = refused(
        db.read, metrics.delivery_report, ws, "newsletter", owner, str(stranger), window
    )
    assert missing.status == 404
    assert refused(db.read, metrics.delivery_report, ws, "broadcast", owner, None, window).status


def test_a_segment_is_used_by_the_newsletters_naming_it(db, ws, clock):
    segment = db.write(segments.create_manual, ws, {"segment": {"name": "VIPs"}}, START)
    naming = {"recipients": {"segment": {"id": segment["id"]}}}
    draft, sent = create(db, ws, naming), create(db, ws, {**naming, "send_now": True})
    create(db, ws)
    used = db.read(views.used_by, ws, segment["id"])["used_by"]
    assert (used["draft_newsletters"], used["sent_newsletters"]) == ([draft["id"]], [sent["id"]])
    assert used["campaigns"] == used["broadcasts"] == []


def test_an_email_without_from_goes_from_the_oldest_sender_identity(db, ws, three, clock):
    no_from = {k: v for k, v in MAIL.items() if k != "from"}
    new = asks.parse_new(no_from, START)
    assert refused(db.write, newsletters.create, ws, new, START).field == "from"
    db.write(senders.create, ws, "News", "news@example.com", START)
    db.write(senders.create, ws, "", "later@example.com", START)
    made = db.write(newsletters.create, ws, new, START)
    content = db.read(contents.get_content, ws, made["id"], made["content_ids"][0])["content"]
    assert content["from"] == "News <news@example.com>"
    send(db, ws, made["id"])
    run(db, clock)
    assert len(subjects(db, ws)) == 2


def test_spread_alone_keeps_the_rate_given_before(db, ws):
    rate = {"rate_limit_email_rate": 10, "rate_limit_time_period": 3600}
    made = create(db, ws, rate)
    shown = send(db, ws, made["id"], {"rate_limit_spread": True})
    assert (shown["rate_limit_email_rate"], shown["rate_limit_spread"]) == (10, True)
    with db.reader.connect() as conn:
        definition = store.definition_of(store.row_of(conn, ws, made["id"], "newsletter"))
    assert definition["send_rate"] == {"messages": 10, "per": 3600}


def test_push_and_webhook_contents_show_customerio_names(db, ws):
    push = {"name": "P", "type": "push", "recipients": PRO, "subject": "Sale", "body": "Now"}
    hook = {
        "name": "W",
        "type": "webhook",
        "recipients": PRO,
        "url": "https://example.com/hook",
        "request_method": "PUT",
        "body": "{}",
        "headers": [{"name": "X-Key", "value": "k"}],
    }
    shown = []
    for body in (push, hook):
        made = db.write(newsletters.create, ws, asks.parse_new(body, START), START)
        content = db.read(contents.get_content, ws, made["id"], made["content_ids"][0])
        shown.append(content["content"])
    assert (shown[0]["type"], shown[0]["subject"], shown[0]["body"]) == ("push", "Sale", "Now")
    assert (shown[1]["request_method"], shown[1]["headers"]) == ("PUT", {"X-Key": "k"})
    back = db.write(
        contents.update_content, ws, shown[1]["newsletter_id"], shown[1]["id"], shown[1], START
    )
    assert back["content"] == {**shown[1], "deduplicate_id": back["content"]["deduplicate_id"]}
    assert refused(asks.parse_new, {**push, "subject": None, "body": None}, START).status == 400


def test_a_scheduled_send_run_again_sends_nothing_more(db, ws, three, clock):
    made = create(db, ws, {"scheduled_at": START + 60})
    assert db.write(newsletters.send_scheduled, made["id"], START + 60, START + 60)
    assert not db.write(newsletters.send_scheduled, made["id"], START + 60, START + 61)
    clock.advance(60)
    run(db, clock)
    assert len(sent_rows(db, ws)) == 2


# --- sender identities and layouts by id ---------------------------------------------------


def mime_of(db, ws: int) -> dict[str, str]:
    """Each recipient's one message's MIME text."""
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(captured_messages.c.recipient, captured_messages.c.message).where(
                captured_messages.c.workspace_id == ws
            )
        ).all()
    return {r.recipient: json.loads(r.message)["mime"] for r in rows}


def test_from_reply_to_and_layout_by_id_are_shown_and_sent(db, ws, three, clock):
    news = db.write(senders.create, ws, "News", "news@example.com", START)
    desk = db.write(senders.create, ws, "", "desk@example.com", START)
    frame = db.write(layouts.save, ws, "frame", "<div id=frame>{{ content }}</div>", START)
    no_from = {k: v for k, v in MAIL.items() if k != "from"}
    ids = {"from_id": news["id"], "reply_to_id": desk["id"], "layout_id": frame["id"]}
    made = db.write(newsletters.create, ws, asks.parse_new({**no_from, **ids}, START), START)
    content = db.read(contents.get_content, ws, made["id"], made["content_ids"][0])["content"]
    assert {key: content[key] for key in ids} == ids
    assert (content["from"], content["reply_to"], content["layout"]) == (
        "News <news@example.com>",
        "desk@example.com",
        "frame",
    )
    french = db.write(contents.add_language, ws, made["id"], 0, {"language": "fr"}, START)
    assert french["content"]["from_id"] == news["id"]
    # A rename reaches the messages sent after it: the content keeps the reference.
    db.write(senders.upsert, ws, "Newsroom", "news@example.com", START)
    send(db, ws, made["id"])
    run(db, clock)
    mime = mime_of(db, ws)
    assert set(mime) == {"ann@example.com", "cy@example.com"}
    for text in mime.values():
        assert "From: Newsroom <news@example.com>" in text
        assert "Reply-To: desk@example.com" in text
        assert "id=3Dframe" in text or "id=frame" in text


def test_a_literal_field_replaces_its_id_and_back(db, ws):
    news = db.write(senders.create, ws, "News", "news@example.com", START)
    made = create(db, ws)
    cid = made["content_ids"][0]
    by_id = db.write(contents.update_content, ws, made["id"], cid, {"from_id": news["id"]}, START)
    assert (by_id["content"]["from_id"], by_id["content"]["from"]) == (
        news["id"],
        "News <news@example.com>",
    )
    # A content read back holds both; the same sender is no conflict.
    again = db.write(contents.update_content, ws, made["id"], cid, by_id["content"], START)
    assert again["content"]["from_id"] == news["id"]
    clash = {"from_id": news["id"], "from": "other@example.com"}
    assert refused(db.write, contents.update_content, ws, made["id"], cid, clash, START).field
    literal = {"from": "other@example.com"}
    back = db.write(contents.update_content, ws, made["id"], cid, literal, START)
    assert (back["content"]["from_id"], back["content"]["from"]) == (None, "other@example.com")
    dropped = db.write(
        contents.update_language, ws, made["id"], 0, "", {"from_id": news["id"]}, START
    )
    assert dropped["content"]["from_id"] == news["id"]
    cleared = db.write(contents.update_content, ws, made["id"], cid, {"from_id": None}, START)
    assert cleared["content"]["from_id"] is None


@pytest.mark.parametrize("key", ["from_id", "reply_to_id", "layout_id"])
def test_an_unknown_id_is_refused_naming_it(db, ws, key):
    other = new_workspace(db).workspace_id
    theirs = db.write(senders.create, other, "", "x@example.com", START)["id"]
    if key == "layout_id":
        theirs = db.write(layouts.save, other, "theirs", "{{ content }}", START)["id"]
    made = create(db, ws)
    cid = made["content_ids"][0]
    for value in (theirs, 10**9):
        error = refused(db.write, contents.update_content, ws, made["id"], cid, {key: value}, START)
        assert (error.status, error.field) == (400, key)
    new = asks.parse_new({**MAIL, "from": "", key: theirs}, START)
    assert refused(db.write, newsletters.create, ws, new, START).field == key


def test_a_sender_deleted_after_saving_fails_the_message(db, ws, three, clock):
    news = db.write(senders.create, ws, "News", "news@example.com", START)
    made = create(db, ws, {"from": "", "from_id": news["id"]})
    db.write(senders.remove, ws, news["id"])
    send(db, ws, made["id"])
    run(db, clock)
    rows = sent_rows(db, ws)
    assert len(rows) == 2 and {row.state for row in rows} == {"failed"}
    assert subjects(db, ws) == {}
