"""A newsletter's A/B test with a sample and a winner, on both stores.

The sample is sent when the newsletter is; the rest are held back until the
test period is over on the module's clock (tests move it, never sleep), when
the winner job picks a winner by the chosen metric and, if asked, sends it to
them, each once, however often the due work runs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import new_workspace
from tests.integration.test_newsletters import (
    MAIL,
    START,
    create,
    person,
    refused,
    run,
    send,
    sent_rows,
    subjects,
)
from tidings.campaigns import audiences, fanout, newsletters
from tidings.campaigns import newsletter_ab as ab
from tidings.campaigns import newsletter_contents as contents
from tidings.campaigns import newsletter_requests as asks
from tidings.campaigns.audiences import Chunk
from tidings.clock import FixedClock
from tidings.db.schema import broadcast_triggers, newsletter_holdbacks
from tidings.reporting.metrics import record_metric

HOUR = 3600


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db) -> int:
    return new_workspace(db).workspace_id


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def people(db, ws: int, count: int) -> None:
    for n in range(count):
        person(db, ws, f"p{n}", plan="pro")


def with_ab_test(db, ws: int, **test: Any) -> tuple[dict[str, Any], int]:
    """A newsletter with a second test group (subject "B") and the A/B test `test`; the
    newsletter and the group's id."""
    made = create(db, ws, {"ab_test": {"sample_percent": 40, "test_period_hours": 4, **test}})
    group = db.write(contents.add_test_group, ws, made["id"], START)
    [b_content] = next(
        g["content_ids"] for g in db.read(ab.test_groups, ws, made["id"])["test_groups"] if g["id"]
    )
    db.write(contents.update_content, ws, made["id"], b_content, {"subject": "B"}, START)
    return made, group


def held_back(db, newsletter_id: int) -> list[int]:
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(newsletter_holdbacks.c.person_id).where(
                newsletter_holdbacks.c.newsletter_id == newsletter_id
            )
        )
        return sorted(rows.scalars())


def open_all(db, ws: int, rows: list[Any], content_ids: set[int] | None = None) -> None:
    for row in rows:
        if content_ids is None or row.content_id in content_ids:
            db.write(record_metric, ws, row.id, "opened", START + 5, {})


def shown_test(db, ws: int, newsletter_id: int) -> dict[str, Any]:
    test = db.read(newsletters.get, ws, newsletter_id)["ab_test"]
    assert test is not None
    return dict(test)


def test_the_sample_is_a_seeded_share_split_among_the_groups(db, ws, clock):
    people(db, ws, 200)
    made, group = with_ab_test(db, ws)
    send(db, ws, made["id"])
    run(db, clock)
    rows = sent_rows(db, ws)
    expected = {row.person_id for row in rows}
    held = held_back(db, made["id"])
    assert len(rows) + len(held) == 200 and not expected & set(held)
    assert all(ab.in_sample(made["id"], pk, 40) for pk in expected)
    assert not any(ab.in_sample(made["id"], pk, 40) for pk in held)
    assert 60 <= len(rows) <= 100  # 40% of 200, give or take the hash's spread
    by_group = Counter(row.content_id for row in rows)
    assert len(by_group) == 2 and min(by_group.values()) >= len(rows) // 3
    test = shown_test(db, ws, made["id"])
    assert (test["state"], test["held_back"], test["winner_test_group_id"]) == (
        "testing",
        len(held),
        None,
    )
    assert test["test_ends_at"] == START + 4 * HOUR
    groups = db.read(ab.test_groups, ws, made["id"])["test_groups"]
    assert sum(g["metrics"]["sent"] for g in groups) == len(rows)
    assert [g["winner"] for g in groups] == [None, None]


def test_the_winner_goes_to_the_held_back_once_after_the_period(db, ws, clock):
    people(db, ws, 60)
    made, group = with_ab_test(db, ws, send_winner=True)
    send(db, ws, made["id"])
    run(db, clock)
    sample = sent_rows(db, ws)
    b_ids = set(db.read(ab.test_groups, ws, made["id"])["test_groups"][1]["content_ids"])
    open_all(db, ws, sample, b_ids)  # B: every message opened; A: none
    clock.advance(4 * HOUR - 1)
    run(db, clock)
    assert len(sent_rows(db, ws)) == len(sample)  # still testing
    clock.advance(1)
    run(db, clock)
    got = subjects(db, ws)  # fails if anyone has two messages
    assert len(got) == 60
    held = set(held_back(db, made["id"]))
    winners = [row for row in sent_rows(db, ws) if row.person_id in held]
    assert len(winners) == len(held) and {row.content_id for row in winners} <= b_ids
    test = shown_test(db, ws, made["id"])
    assert (test["state"], test["winner_test_group_id"]) == ("decided", group)
    assert test["winner_content_id"] == min(b_ids)
    assert test["winner_send"]["state"] == "done"
    assert test["winner_send"]["recipients_count"] == len(held)
    groups = db.read(ab.test_groups, ws, made["id"])["test_groups"]
    assert [g["winner"] for g in groups] == [False, True]
    b_metrics = groups[1]["metrics"]
    assert (
        b_metrics["opened"] == b_metrics["sent"] - len(held) and groups[0]["metrics"]["opened"] == 0
    )


def test_a_tie_goes_to_the_lowest_content_id(db, ws, clock):
    people(db, ws, 40)
    made, _ = with_ab_test(db, ws, sample_percent=100, send_winner=True)
    send(db, ws, made["id"])
    run(db, clock)
    open_all(db, ws, sent_rows(db, ws))  # both groups: every message opened
    clock.advance(4 * HOUR)
    run(db, clock)
    test = shown_test(db, ws, made["id"])
    assert test["winner_test_group_id"] == 0
    assert test["winner_content_id"] == made["content_ids"][0]
    assert test["held_back"] == 0 and test["winner_send"]["recipients_count"] == 0


def test_without_data_the_lowest_content_id_wins(db, ws, clock):
    made, _ = with_ab_test(db, ws, send_winner=True)  # nobody in the audience
    send(db, ws, made["id"])
    run(db, clock)
    clock.advance(4 * HOUR)
    run(db, clock)
    test = shown_test(db, ws, made["id"])
    assert (test["state"], test["winner_test_group_id"]) == ("decided", 0)


def test_the_winner_by_clicks_is_reported_and_not_sent_without_send_winner(db, ws, clock):
    people(db, ws, 40)
    made, group = with_ab_test(db, ws, winner_metric="clicked")
    send(db, ws, made["id"])
    run(db, clock)
    sample = sent_rows(db, ws)
    b_ids = set(db.read(ab.test_groups, ws, made["id"])["test_groups"][1]["content_ids"])
    open_all(db, ws, sample)  # opens count for nothing here
    clicked = next(row for row in sample if row.content_id in b_ids)
    db.write(record_metric, ws, clicked.id, "clicked", START + 5, {"href": "https://x.test"})
    clock.advance(4 * HOUR)
    run(db, clock)
    assert len(sent_rows(db, ws)) == len(sample)
    test = shown_test(db, ws, made["id"])
    assert (test["winner_test_group_id"], test["winner_send"]) == (group, None)
    assert test["held_back"] == 40 - len(sample)


def test_the_due_work_run_again_after_a_crash_sends_nobody_twice(db, ws, clock, monkeypatch):
    monkeypatch.setattr(audiences, "CHUNK", 7)
    people(db, ws, 60)
    made, group = with_ab_test(db, ws, send_winner=True)
    send(db, ws, made["id"])
    run(db, clock)
    b_ids = set(db.read(ab.test_groups, ws, made["id"])["test_groups"][1]["content_ids"])
    open_all(db, ws, sent_rows(db, ws), b_ids)
    clock.advance(4 * HOUR)
    now = int(clock.now())
    assert db.write(ab.decide, made["id"], now)
    assert not db.write(ab.decide, made["id"], now)  # decided: a second run does nothing
    # The winner's fan-out commits one chunk, then the process dies.
    with db.reader.connect() as conn:
        trigger_id = conn.execute(
            select(func.max(broadcast_triggers.c.id)).where(
                broadcast_triggers.c.campaign_id == made["id"]
            )
        ).scalar()
    held = held_back(db, made["id"])
    db.write(fanout.begin, trigger_id)
    first = Chunk(held[6], [(pk, None) for pk in held[:7]])
    assert db.write(fanout.apply_chunk, trigger_id, 0, first, now)
    run(db, clock)  # a new worker: the job resumes after the chunk
    run(db, clock)
    got = subjects(db, ws)  # fails if anyone has two messages
    assert len(got) == 60
    rows = [row for row in sent_rows(db, ws) if row.person_id in set(held)]
    assert len(rows) == len(held) and {row.content_id for row in rows} <= b_ids
    assert shown_test(db, ws, made["id"])["winner_send"]["recipients_count"] == len(held)


def test_the_test_is_set_and_removed_before_the_send_only(db, ws, clock):
    made = create(db, ws)
    assert db.read(newsletters.get, ws, made["id"])["ab_test"] is None
    test = asks.parse_ab_test({"sample_percent": 10})
    shown = db.write(newsletters.set_ab_test, ws, made["id"], test, START)["ab_test"]
    assert shown == {
        "sample_percent": 10,
        "winner_metric": "opened",
        "test_period_hours": 24,
        "send_winner": False,
        "state": "draft",
        "test_ends_at": None,
        "winner_test_group_id": None,
        "winner_content_id": None,
        "held_back": 0,
        "winner_send": None,
    }
    assert db.write(newsletters.set_ab_test, ws, made["id"], None, START)["ab_test"] is None
    send(db, ws, made["id"])
    error = refused(db.write, newsletters.set_ab_test, ws, made["id"], test, START)
    assert error.status == 400


@pytest.mark.parametrize(
    ("test", "field"),
    [
        ({"sample_percent": 0}, "ab_test.sample_percent"),
        ({"sample_percent": 101}, "ab_test.sample_percent"),
        ({}, "ab_test.sample_percent"),
        ({"sample_percent": 10, "winner_metric": "sent"}, "ab_test.winner_metric"),
        ({"sample_percent": 10, "test_period_hours": 0}, "ab_test.test_period_hours"),
        ({"sample_percent": 10, "send_winner": "yes"}, "ab_test.send_winner"),
        ({"sample_percent": 10, "sample": 3}, "ab_test.sample"),
        ([], "ab_test"),
    ],
)
def test_bad_tests_name_the_field(test, field):
    error = refused(asks.parse_new, {**MAIL, "ab_test": test}, START)
    assert (error.status, error.field) == (400, field)


def test_a_deleted_newsletter_takes_its_held_back_people_and_job_with_it(db, ws, clock):
    people(db, ws, 20)
    made, _ = with_ab_test(db, ws, sample_percent=10, send_winner=True)
    send(db, ws, made["id"])
    run(db, clock)
    assert held_back(db, made["id"])
    db.write(newsletters.remove, ws, made["id"])
    assert held_back(db, made["id"]) == []
    clock.advance(4 * HOUR)
    run(db, clock)  # the winner's job finds nothing to decide
    assert not db.write(ab.decide, made["id"], int(clock.now()))
