"""Design Studio emails as campaign and newsletter content, on both stores.

A campaign's email action or a newsletter's content names a Design Studio
email (`design_studio_email_id`); the delivery worker reads it when it
composes each message, in the person's language when the email has that
translation, under the action's own fields. The module has a database of its
own, so no other worker runs; time only moves when a test moves it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tidings.campaigns import (
    broadcasts,
    definitions,
    fanout,
    journeys,
    newsletters,
    service,
    store,
)
from tidings.campaigns import newsletter_contents as contents
from tidings.campaigns import newsletter_requests as asks
from tidings.campaigns.messages import Composer
from tidings.clock import FixedClock
from tidings.db.schema import captured_messages, deliveries
from tidings.errors import ApiError
from tidings.events import service as events
from tidings.fetch import Allowlist
from tidings.jobs.runner import JobWorker
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.sending.deliverer import DeliveryWorker
from tidings.templates import design_studio

START = 1_840_000_000  # not another module's: store.workflow caches by campaign id and time
FIELD = "design_studio_email_id"
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db) -> int:
    return new_workspace(db).workspace_id


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def email(db, ws) -> str:
    """A Design Studio email with a French translation."""
    body = {
        "name": "Welcome",
        "content": {
            "subject": "Hi {{ customer.first_name }}",
            "preheader_text": "Designed preheader",
            "html": "<p>Designed for {{ customer.first_name }}</p>",
            "text": "Designed text",
        },
    }
    made = db.write(design_studio.create, ws, "email", body, START)
    french = {"language": "fr", "content": {"subject": "Salut {{ customer.first_name }}"}}
    db.write(design_studio.add_language, ws, made["id"], french, START)
    return str(made["id"])


def person(db, ws: int, customer_id: str, **attributes: Any) -> None:
    body = {
        "email": f"{customer_id}@example.com",
        "first_name": customer_id.upper(),
        "plan": "pro",
        **attributes,
    }
    with db.writer.begin() as conn:
        request = people.parse_identify(body, START)
        people.identify(conn, ws, Identifier("id", customer_id), request, START)


def campaign(db, ws: int, action: dict[str, Any]) -> int:
    document = {
        "name": "Welcome",
        "state": "running",
        "trigger": {"event": {"name": "signed_up"}},
        "workflow": [{"email": {"from": "team@example.com", **action}}],
    }
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document), START)


def signed_up(db, ws: int, clock: FixedClock, *customer_ids: str) -> None:
    """Each person signs up; their journeys queue the message and it is sent."""
    for customer_id in customer_ids:
        event = events.parse_event({"name": "signed_up", "data": {}}, type_=None)
        with db.writer.begin() as conn:
            events.track(conn, ws, Identifier("id", customer_id), event, START)
    deliver(db, clock)


def deliver(db, clock: FixedClock) -> None:
    """Due jobs (a newsletter's fan-out), then due journeys, then due deliveries."""
    handlers = {
        broadcasts.JOB_KIND: fanout.FanoutJob(Allowlist.parse("127.0.0.1/32"), 5),
        newsletters.JOB_KIND: newsletters.ScheduledSendJob(),
    }
    worker = JobWorker(db, clock, handlers)
    while worker.run_once():
        pass
    while db.write(journeys.advance_due, int(clock.now()), journeys.BATCH):
        pass
    sender = DeliveryWorker(db, clock, composers={"campaign": Composer("https://t.test")})
    while sender.run_once():
        pass


def captured(db, ws: int) -> dict[str, dict[str, Any]]:
    """Each recipient's message: subject, HTML, text and preheader."""
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(captured_messages.c.recipient, captured_messages.c.message).where(
                captured_messages.c.workspace_id == ws
            )
        ).all()
    return {row.recipient: json.loads(row.message) for row in rows}


def failures(db, ws: int) -> dict[str, str | None]:
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.recipient, deliveries.c.state, deliveries.c.failure_message).where(
                deliveries.c.workspace_id == ws
            )
        ).all()
    return {row.recipient: row.failure_message for row in rows if row.state == "failed"}


def refused(fn: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        fn(*args)
    return caught.value


# --- campaigns ---------------------------------------------------------------------------------


def test_a_campaign_sends_the_design_email_in_the_persons_language(db, ws, clock, email):
    campaign(db, ws, {FIELD: email})
    person(db, ws, "ann")
    person(db, ws, "cy", language="fr")
    signed_up(db, ws, clock, "ann", "cy")
    sent = captured(db, ws)
    assert sent["ann@example.com"]["subject"] == "Hi ANN"
    assert sent["ann@example.com"]["html"].startswith("<p>Designed for ANN</p>")
    assert sent["ann@example.com"]["text"] == "Designed text"
    assert sent["ann@example.com"]["from"] == "team@example.com"
    # The translation overrides the subject; the rest is the default language's.
    assert sent["cy@example.com"]["subject"] == "Salut CY"
    assert sent["cy@example.com"]["html"].startswith("<p>Designed for CY</p>")


def test_the_design_email_is_read_when_each_message_is_sent(db, ws, clock, email):
    campaign(db, ws, {FIELD: email})
    person(db, ws, "ann")
    signed_up(db, ws, clock, "ann")
    db.write(design_studio.change, ws, "email", email, {"content": {"subject": "New"}}, START)
    person(db, ws, "bo")
    signed_up(db, ws, clock, "bo")
    sent = captured(db, ws)
    assert (sent["ann@example.com"]["subject"], sent["bo@example.com"]["subject"]) == (
        "Hi ANN",
        "New",
    )


def test_the_actions_own_fields_win(db, ws, clock, email):
    campaign(db, ws, {FIELD: email, "subject": "Own {{ customer.first_name }}"})
    person(db, ws, "cy", language="fr")
    signed_up(db, ws, clock, "cy")
    sent = captured(db, ws)["cy@example.com"]
    assert sent["subject"] == "Own CY"
    assert sent["html"].startswith("<p>Designed for CY</p>")


def test_a_deleted_design_email_fails_the_message_with_the_reason(db, ws, clock, email):
    campaign(db, ws, {FIELD: email})
    db.write(design_studio.remove, ws, "email", email)
    person(db, ws, "ann")
    signed_up(db, ws, clock, "ann")
    assert captured(db, ws) == {}
    reason = failures(db, ws)["ann@example.com"]
    assert reason is not None and email in reason and "Design Studio email" in reason


def test_only_an_email_of_the_workspace_can_be_named(db, ws, email):
    folder = db.write(design_studio.create, ws, "folder", {"name": "F"}, START)["id"]
    component = {"name": "C", "tag": "c-part", "content": "<b/>"}
    part = db.write(design_studio.create, ws, "component", component, START)["id"]
    theirs = new_workspace(db).workspace_id
    other = db.write(design_studio.create, theirs, "email", {"name": "X"}, START)["id"]
    for wrong in (folder, part, other, "no-such-email"):
        error = refused(campaign, db, ws, {FIELD: wrong})
        assert (error.status, error.field) == (400, FIELD)
    campaign_id = campaign(db, ws, {FIELD: email})
    action_id = db.read(store.action_rows, campaign_id)[0].id
    for wrong in (folder, "no-such-email"):
        error = refused(
            db.write,
            service.update_action,
            ws,
            campaign_id,
            "campaign",
            action_id,
            "",
            {FIELD: wrong},
            START,
        )
        assert (error.status, error.field) == (400, FIELD)
    not_email = refused(definitions.parse, {"name": "S", "workflow": [{"sms": {FIELD: email}}]})
    assert not_email.status == 400


def test_a_campaigns_design_email_counts_as_linked(db, ws, email):
    spare = db.write(design_studio.create, ws, "email", {"name": "Spare"}, START)["id"]
    linked = design_studio.parse_listing({"is_linked": "true"})
    unlinked = design_studio.parse_listing({"is_linked": "false"})

    def ids(listing: Any) -> set[str]:
        return {e["id"] for e in db.read(design_studio.list_nodes, ws, "email", listing)["emails"]}

    assert ids(linked) == set()
    campaign_id = campaign(db, ws, {FIELD: email})
    assert (ids(linked), ids(unlinked)) == ({email}, {spare})
    document = {"name": "Welcome", "trigger": {"event": {"name": "e"}}, "workflow": [{"exit": {}}]}
    db.write(service.replace, ws, campaign_id, definitions.parse(document), START + 1)
    assert ids(linked) == set()  # the action left the workflow
    campaign(db, ws, {FIELD: email})
    news = asks.parse_new(
        {"name": "N", "type": "email", "from": "n@example.com", "recipients": PRO, FIELD: spare},
        START,
    )
    db.write(newsletters.create, ws, news, START)
    assert (ids(linked), ids(unlinked)) == ({email, spare}, set())


# --- newsletters -------------------------------------------------------------------------------


def newsletter(db, ws: int, **fields: Any) -> dict[str, Any]:
    body = {"name": "News", "type": "email", "from": "news@example.com", "recipients": PRO}
    body.update(fields)
    return db.write(newsletters.create, ws, asks.parse_new(body, START), START)


def test_a_newsletter_sends_the_design_email_with_its_translation(db, ws, clock, email):
    made = newsletter(db, ws, **{FIELD: email})
    content = db.read(contents.get_content, ws, made["id"], made["content_ids"][0])["content"]
    assert content[FIELD] == email
    person(db, ws, "ann")
    person(db, ws, "cy", language="fr")
    db.write(newsletters.send, ws, made["id"], asks.parse_send(None), START)
    deliver(db, clock)
    sent = captured(db, ws)
    assert (sent["ann@example.com"]["subject"], sent["cy@example.com"]["subject"]) == (
        "Hi ANN",
        "Salut CY",
    )
    assert sent["cy@example.com"]["html"].startswith("<p>Designed for CY</p>")


def test_a_newsletter_contents_own_fields_win_and_edits_are_checked(db, ws, clock, email):
    made = newsletter(db, ws, **{FIELD: email})
    cid = made["content_ids"][0]
    folder = db.write(design_studio.create, ws, "folder", {"name": "F"}, START)["id"]
    for wrong in ("no-such-email", folder):
        error = refused(
            db.write, contents.update_content, ws, made["id"], cid, {FIELD: wrong}, START
        )
        assert (error.status, error.field) == (400, FIELD)
    french = {"language": "fr", "subject": "Notre {{ customer.first_name }}"}
    db.write(contents.add_language, ws, made["id"], 0, french, START)
    person(db, ws, "ann")
    person(db, ws, "cy", language="fr")
    db.write(newsletters.send, ws, made["id"], asks.parse_send(None), START)
    deliver(db, clock)
    sent = captured(db, ws)
    assert sent["ann@example.com"]["subject"] == "Hi ANN"
    assert sent["cy@example.com"]["subject"] == "Notre CY"  # the content's own field
    assert sent["cy@example.com"]["html"].startswith("<p>Designed for CY</p>")


def test_a_newsletters_deleted_design_email_fails_its_messages(db, ws, clock, email):
    made = newsletter(db, ws, **{FIELD: email})
    db.write(design_studio.remove, ws, "email", email)
    person(db, ws, "ann")
    db.write(newsletters.send, ws, made["id"], asks.parse_send(None), START)
    deliver(db, clock)
    assert captured(db, ws) == {}
    reason = failures(db, ws)["ann@example.com"]
    assert reason is not None and "Design Studio email" in reason
