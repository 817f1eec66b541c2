"""API-triggered broadcasts on both stores: trigger, fan-out job, journeys, sent messages.

Each test triggers a broadcast through the use case, runs the fan-out job
(the job worker with the module's clock), moves the journeys on and lets
the delivery worker send through the capture adapter. The module has a
database of its own, so no other worker takes its jobs; time only moves
when a test moves it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import new_workspace
from tests.httpserver import Reply, serve
from tidings.campaigns import broadcasts, definitions, fanout, journeys, store, trigger_reports
from tidings.campaigns.audiences import Chunk
from tidings.campaigns.messages import Composer
from tidings.clock import FixedClock
from tidings.db.schema import broadcast_triggers, captured_messages, deliveries, people
from tidings.db.schema import journeys as journey_table
from tidings.errors import ApiError
from tidings.fetch import Allowlist
from tidings.jobs.runner import JobWorker
from tidings.paging import PageRequest
from tidings.people import service as people_service
from tidings.people.identifiers import Identifier
from tidings.sending.deliverer import DeliveryWorker

START = 1_810_000_000  # not test_journeys.py's: store.workflow caches by campaign id and time
LOCAL = Allowlist.parse("127.0.0.1/32")
EMAIL = {
    "email": {
        "from": "news@example.com",
        "subject": "{{ trigger.headline }} for {{ customer.first_name }}{{ trigger.extra }}",
        "body": "<p>{{ trigger.headline }}</p>",
    }
}
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


def broadcast(db, ws: int, audience: Any = PRO, state: str = "running", **extra: Any) -> int:
    document = {"name": "News", "state": state, "workflow": [EMAIL], **extra}
    if audience is not None:
        document["audience"] = audience
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document, kind="broadcast"), START)


def person(db, ws: int, customer_id: str, **attributes: Any) -> None:
    body = {"email": f"{customer_id}@example.com", "first_name": customer_id.upper(), **attributes}
    with db.writer.begin() as conn:
        request = people_service.parse_identify(body, START)
        people_service.identify(conn, ws, Identifier("id", customer_id), request, START)


def trigger(db, ws: int, broadcast_id: int, body: dict[str, Any], now: int = START) -> int:
    return db.write(broadcasts.trigger, ws, broadcast_id, broadcasts.parse_trigger(body), now)


def fan_out(db, clock: FixedClock, write: Any = None) -> None:
    worker = JobWorker(db, clock, {broadcasts.JOB_KIND: fanout.FanoutJob(LOCAL, 5)}, write=write)
    while worker.run_once():
        pass


def send_all(db, clock: FixedClock) -> None:
    while db.write(journeys.advance_due, int(clock.now()), journeys.BATCH):
        pass
    worker = DeliveryWorker(db, clock, composers={"campaign": Composer("https://t.test")})
    while worker.run_once():
        pass


def run(db, clock: FixedClock) -> None:
    fan_out(db, clock)
    send_all(db, clock)


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


def status(db, ws: int, broadcast_id: int, trigger_id: int) -> dict[str, Any]:
    return db.read(trigger_reports.status, ws, broadcast_id, trigger_id)


def errors(db, ws: int, broadcast_id: int, trigger_id: int) -> list[str]:
    page = PageRequest(limit=1000, after=None)
    return db.read(trigger_reports.errors, ws, broadcast_id, trigger_id, page)["errors"]


def count_people(db, ws: int) -> int:
    with db.reader.connect() as conn:
        query = select(func.count()).where(people.c.workspace_id == ws)
        return int(conn.execute(query).scalar_one())


@pytest.fixture
def three(db, ws) -> None:
    person(db, ws, "ann", plan="pro")
    person(db, ws, "bob", plan="free")
    person(db, ws, "cy", plan="pro")


# --- audiences -------------------------------------------------------------------------------


def test_the_default_audience_gets_the_message_with_the_trigger_data(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    trigger_id = trigger(db, ws, broadcast_id, {"data": {"headline": "Sale"}})
    shown = status(db, ws, broadcast_id, trigger_id)
    assert shown["processed_at"] is None and shown["state"] == "queued"
    run(db, clock)
    assert subjects(db, ws) == {"ann@example.com": "Sale for ANN", "cy@example.com": "Sale for CY"}
    shown = status(db, ws, broadcast_id, trigger_id)
    assert shown["state"] == "done" and shown["processed_at"] == START
    assert shown["recipients_count"] == 2
    assert shown["recipients_filter"] == PRO
    assert shown["workflow_action_ids"] == [a.id for a in db.read(store.action_rows, broadcast_id)]
    with db.reader.connect() as conn:
        parents = conn.execute(
            select(deliveries.c.broadcast_id, deliveries.c.trigger_id, deliveries.c.campaign_id)
        ).all()
    assert {tuple(p) for p in parents if p.trigger_id == trigger_id} == {
        (broadcast_id, trigger_id, None)
    }


def test_recipients_replace_the_default_audience(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    recipients = {"attribute": {"field": "plan", "operator": "eq", "value": "free"}}
    trigger_id = trigger(
        db, ws, broadcast_id, {"data": {"headline": "Hi"}, "recipients": recipients}
    )
    run(db, clock)
    assert subjects(db, ws) == {"bob@example.com": "Hi for BOB"}
    assert status(db, ws, broadcast_id, trigger_id)["recipients_filter"] == recipients


def test_ids_naming_someone_missing_fail_the_trigger_before_anyone_is_sent(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    trigger_id = trigger(db, ws, broadcast_id, {"ids": ["ann", "nobody", "bob", "ghost"]})
    run(db, clock)
    assert subjects(db, ws) == {}
    shown = status(db, ws, broadcast_id, trigger_id)
    assert shown["state"] == "failed" and shown["processed_at"] == START
    assert shown["recipients_count"] == 0 and shown["errors_count"] == 2
    assert errors(db, ws, broadcast_id, trigger_id) == [
        'ids[1]: no person has the id "nobody"',
        'ids[3]: no person has the id "ghost"',
    ]


def test_id_ignore_missing_sends_to_the_others_and_creates_nobody(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    body = {
        "data": {"headline": "X"},
        "ids": ["ann", "nobody", "bob", 7],
        "id_ignore_missing": True,
    }
    trigger_id = trigger(db, ws, broadcast_id, body)
    run(db, clock)
    assert set(subjects(db, ws)) == {"ann@example.com", "bob@example.com"}
    shown = status(db, ws, broadcast_id, trigger_id)
    assert (shown["state"], shown["recipients_count"], shown["errors_count"]) == ("done", 2, 0)
    assert count_people(db, ws) == 3


def test_emails_are_matched_without_case_and_missing_ones_fail_or_are_skipped(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    failed = trigger(db, ws, broadcast_id, {"emails": ["ANN@example.com", "zed@example.com"]})
    fan_out(db, clock)
    assert errors(db, ws, broadcast_id, failed) == [
        'emails[1]: no person has the email "zed@example.com"'
    ]
    body = {
        "emails": ["ANN@example.com", "zed@example.com", "cy@example.com"],
        "email_ignore_missing": True,
        "email_add_duplicates": True,
        "data": {"headline": "E"},
    }
    done = trigger(db, ws, broadcast_id, body, START + 10)
    clock.value = START + 10
    run(db, clock)
    assert subjects(db, ws) == {"ann@example.com": "E for ANN", "cy@example.com": "E for CY"}
    assert status(db, ws, broadcast_id, done)["recipients_count"] == 2
    assert count_people(db, ws) == 3


def test_per_user_data_is_merged_over_the_trigger_data(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    body = {
        "data": {"headline": "Sale", "extra": "!"},
        "per_user_data": [
            {"id": "ann", "data": {"extra": " (gold)"}},
            {"email": "Bob@Example.com", "data": {"headline": "Your sale"}},
            {"id": "cy"},
            {"id": "ann", "data": {"extra": " (twice)"}},  # named twice: started once
        ],
    }
    trigger_id = trigger(db, ws, broadcast_id, body)
    run(db, clock)
    assert subjects(db, ws) == {
        "ann@example.com": "Sale for ANN (gold)",
        "bob@example.com": "Your sale for BOB!",
        "cy@example.com": "Sale for CY!",
    }
    assert status(db, ws, broadcast_id, trigger_id)["recipients_count"] == 3


def test_per_user_data_checks_each_kind_against_its_own_flag(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    body = {
        "per_user_data": [{"id": "gone"}, {"email": "gone@example.com"}, {"id": "cy"}],
        "id_ignore_missing": True,
    }
    trigger_id = trigger(db, ws, broadcast_id, body)
    run(db, clock)
    assert subjects(db, ws) == {}
    assert errors(db, ws, broadcast_id, trigger_id) == [
        'per_user_data[1]: no person has the email "gone@example.com"'
    ]


DATA_FILE = b"\n".join(
    [
        b'{"id": "ann", "data": {"extra": " #1"}}',
        b"not json",
        b"",
        b'{"email": "BOB@example.com", "data": {"extra": " #4"}}',
        b'{"id": "nobody"}',
        b'{"id": "cy", "email": "cy@example.com"}',
        b'{"id": "cy"}\r',
    ]
)


@pytest.fixture
def files() -> Iterator[Any]:
    routes = {
        "/people.jsonl": Reply(body=DATA_FILE, chunked=True),
        "/forbidden.jsonl": Reply(status=403),
    }
    with serve(routes) as site:
        yield site


def test_a_data_file_is_streamed_and_its_bad_lines_reported(db, ws, clock, three, files):
    broadcast_id = broadcast(db, ws)
    body = {"data": {"headline": "F"}, "data_file_url": files.url("/people.jsonl")}
    trigger_id = trigger(db, ws, broadcast_id, body)
    run(db, clock)
    assert subjects(db, ws) == {
        "ann@example.com": "F for ANN #1",
        "bob@example.com": "F for BOB #4",
        "cy@example.com": "F for CY",
    }
    shown = status(db, ws, broadcast_id, trigger_id)
    assert shown["data_file_position"] == 7 and shown["data_file_processed"] is True
    assert shown["data_file_error_count"] == 3
    assert errors(db, ws, broadcast_id, trigger_id) == [
        "line 2: not a JSON object",
        'line 5: no person has the id "nobody"',
        "line 6: the line must hold exactly one of id or email",
    ]


def test_a_data_file_with_the_ignore_flags_skips_whom_it_cannot_find(db, ws, clock, three, files):
    broadcast_id = broadcast(db, ws)
    body = {
        "data": {"headline": "G"},
        "data_file_url": files.url("/people.jsonl"),
        "id_ignore_missing": True,
        "email_ignore_missing": True,
    }
    trigger_id = trigger(db, ws, broadcast_id, body)
    run(db, clock)
    assert len(subjects(db, ws)) == 3
    assert errors(db, ws, broadcast_id, trigger_id) == [
        "line 2: not a JSON object",
        "line 6: the line must hold exactly one of id or email",
    ]


def test_people_of_another_workspace_are_not_found(db, ws, clock, three):
    other = new_workspace(db, "other").workspace_id
    person(db, other, "zed", plan="pro")
    broadcast_id = broadcast(db, ws)
    body = {"ids": ["zed"], "emails": None, "data": {"headline": "Z"}}
    trigger_id = trigger(db, ws, broadcast_id, body)
    other_broadcast = broadcast(db, other)
    trigger(db, other, other_broadcast, {"data": {"headline": "Theirs"}})
    run(db, clock)
    assert errors(db, ws, broadcast_id, trigger_id) == ['ids[0]: no person has the id "zed"']
    assert subjects(db, ws) == {}
    assert subjects(db, other) == {"zed@example.com": "Theirs for ZED"}


def test_an_unreadable_data_file_fails_the_trigger_with_the_reason(db, ws, clock, three, files):
    broadcast_id = broadcast(db, ws)
    trigger_id = trigger(db, ws, broadcast_id, {"data_file_url": files.url("/forbidden.jsonl")})
    fan_out(db, clock)
    shown = status(db, ws, broadcast_id, trigger_id)
    assert shown["state"] == "failed" and shown["processed_at"] == START
    [error] = errors(db, ws, broadcast_id, trigger_id)
    assert error.startswith("failed to download data file: ") and "403 Forbidden" in error


# --- refusals and limits ---------------------------------------------------------------------


def refused(db, ws: int, broadcast_id: int, body: dict[str, Any], now: int = START) -> ApiError:
    with pytest.raises(ApiError) as caught:
        trigger(db, ws, broadcast_id, body, now)
    return caught.value


def test_unknown_broadcasts_campaigns_and_other_workspaces_are_404(db, ws, clock):
    broadcast_id = broadcast(db, ws)
    other = new_workspace(db, "other").workspace_id
    with db.writer.begin() as conn:
        document = {"name": "C", "trigger": {"event": {"name": "x"}}, "state": "running"}
        campaign_id = store.create(conn, ws, definitions.parse(document), START)
    for workspace, target in ((ws, 999_999), (ws, campaign_id), (other, broadcast_id)):
        error = refused(db, workspace, target, {})
        assert (error.status, error.message) == (404, "broadcast not found")
    with pytest.raises(ApiError) as caught:
        db.read(trigger_reports.listing, other, broadcast_id)
    assert caught.value.status == 404


def test_a_draft_broadcast_refuses_triggers(db, ws):
    broadcast_id = broadcast(db, ws, state="draft")
    error = refused(db, ws, broadcast_id, {})
    assert error.status == 422 and "is draft" in error.message


def test_a_broadcast_without_an_audience_needs_one_in_the_trigger(db, ws, clock, three):
    broadcast_id = broadcast(db, ws, audience=None)
    assert refused(db, ws, broadcast_id, {}).status == 422
    trigger(db, ws, broadcast_id, {"ids": ["bob"], "data": {"headline": "B"}})
    run(db, clock)
    assert subjects(db, ws) == {"bob@example.com": "B for BOB"}


def test_one_trigger_per_ten_seconds_with_retry_after(db, ws):
    broadcast_id = broadcast(db, ws)
    trigger(db, ws, broadcast_id, {})
    error = refused(db, ws, broadcast_id, {}, START + 3)
    assert (error.status, error.headers) == (429, {"Retry-After": "7"})
    assert trigger(db, ws, broadcast_id, {}, START + 10)


def test_at_most_five_triggers_queued(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    for n in range(5):
        trigger(db, ws, broadcast_id, {}, START + 10 * n)
    error = refused(db, ws, broadcast_id, {}, START + 60)
    assert (error.status, error.headers) == (429, {"Retry-After": "10"})
    assert "5 triggers queued" in error.message
    fan_out(db, clock)
    assert trigger(db, ws, broadcast_id, {}, START + 60)
    listed = db.read(trigger_reports.listing, ws, broadcast_id)["triggers"]
    assert len(listed) == 6 and listed[0]["processed_at"] is None
    assert [t["created_at"] for t in listed] == [START + 10 * n for n in (6, 4, 3, 2, 1, 0)]
    assert set(listed[1]) == {"id", "broadcast_id", "created_at", "processed_at"}


# --- crashes ---------------------------------------------------------------------------------


class Crash(Exception):
    pass


CRASH_PEOPLE = [f"p{n:02}" for n in range(18)]
CRASH_FILE = b"\n".join(
    b'{"id": "%s", "data": {"extra": "!"}}' % name.encode() for name in CRASH_PEOPLE
)


@pytest.mark.parametrize("form", ["recipients", "ids", "data_file_url"])
def test_a_fan_out_that_crashes_resumes_from_its_last_chunk(db, ws, clock, monkeypatch, form):
    """The third chunk's transaction dies after inserting its journeys (rolled back);
    the job's next attempt starts there: everyone has one journey and one message."""
    from tidings.campaigns import audiences

    monkeypatch.setattr(audiences, "CHUNK", 4)
    for name in CRASH_PEOPLE:
        person(db, ws, name, plan="pro")
    broadcast_id = broadcast(db, ws)
    with serve({"/crash.jsonl": Reply(body=CRASH_FILE, chunked=True)}) as site:
        audience = {
            "recipients": PRO,
            "ids": CRASH_PEOPLE,
            "data_file_url": site.url("/crash.jsonl"),
        }
        trigger_id = trigger(
            db, ws, broadcast_id, {"data": {"headline": "C"}, form: audience[form]}
        )
        calls = Counter[str]()

        def crashing(fn, *args):
            if fn is fanout.apply_chunk:
                calls["chunks"] += 1
                if calls["chunks"] == 3:
                    with db.writer.begin() as conn:
                        fn(conn, *args)
                        raise Crash("killed mid-chunk")
            return db.write(fn, *args)

        fan_out(db, clock, write=crashing)
        shown = status(db, ws, broadcast_id, trigger_id)
        assert shown["state"] == "running" and shown["recipients_count"] == 8
        send_all(db, clock)  # the first two chunks' people are sent meanwhile
        clock.value = START + 600  # past the job's retry delay
        run(db, clock)
    extra = "!" if form == "data_file_url" else ""
    assert subjects(db, ws) == {
        f"{n}@example.com": f"C for {n.upper()}{extra}" for n in CRASH_PEOPLE
    }
    with db.reader.connect() as conn:
        per_person = conn.execute(
            select(journey_table.c.person_id, func.count())
            .where(journey_table.c.campaign_id == broadcast_id)
            .group_by(journey_table.c.person_id)
        ).all()
        sends = conn.execute(
            select(func.count()).where(deliveries.c.trigger_id == trigger_id)
        ).scalar_one()
    assert len(per_person) == 18 and {n for _, n in per_person} == {1} and sends == 18
    shown = status(db, ws, broadcast_id, trigger_id)
    assert (shown["state"], shown["recipients_count"]) == ("done", 18)


def test_a_stale_chunk_is_not_applied_twice(db, ws, clock, three):
    broadcast_id = broadcast(db, ws)
    trigger_id = trigger(db, ws, broadcast_id, {"ids": ["ann", "bob"]})
    db.write(fanout.begin, trigger_id)
    with db.reader.connect() as conn:
        pk = conn.execute(
            select(people.c.id).where(people.c.workspace_id == ws, people.c.customer_id == "ann")
        ).scalar_one()
    chunk = Chunk(1, [(pk, None)])
    assert db.write(fanout.apply_chunk, trigger_id, 0, chunk, START)
    assert not db.write(fanout.apply_chunk, trigger_id, 0, chunk, START)  # position moved on
    assert status(db, ws, broadcast_id, trigger_id)["recipients_count"] == 1


def test_trigger_bodies_are_stored_as_given(db, ws):
    broadcast_id = broadcast(db, ws)
    trigger_id = trigger(db, ws, broadcast_id, {"recipients": {"ids": ["a"]}, "data": {"k": 1}})
    with db.reader.connect() as conn:
        row = conn.execute(
            select(broadcast_triggers).where(broadcast_triggers.c.id == trigger_id)
        ).one()
    assert json.loads(row.data) == {"k": 1}
    assert json.loads(row.audience)["ids"] == ["a"]
