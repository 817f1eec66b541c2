"""Transactional sends and the delivery worker, on both stores, with a controlled clock.

The module runs on a database of its own (`isolated_db`): the API test
server's delivery worker, on the real clock, would otherwise send these
deliveries behind the tests' backs.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from tests.conftest import new_workspace
from tests.factories import push_to_a_new_device
from tests.leases import age_leases, lease_left, start_of_a_second
from tests.support import eventually
from tidings.clock import FixedClock
from tidings.db.schema import (
    blocked_addresses,
    deliveries,
    delivery_days,
    delivery_metrics,
    suppressions,
    webhook_posts,
)
from tidings.errors import ApiError
from tidings.jobs.lease import RetryPolicy
from tidings.paging import PageRequest
from tidings.people import devices as people_devices
from tidings.people import service as people
from tidings.people import store
from tidings.people.identifiers import Identifier
from tidings.providers import base as outbound
from tidings.providers import outbox
from tidings.providers.base import Permanent, Sent, Transient
from tidings.reporting import links as tracking
from tidings.reporting import webhooks
from tidings.reporting.messages import list_messages, parse_query
from tidings.reporting.transactional_metrics import transactional_metrics
from tidings.sending import delivery_queue as queue
from tidings.sending import request as send_request
from tidings.sending.deliverer import DeliveryWorker
from tidings.sending.transactional import (
    Accepted,
    NoSecretYet,
    StaleSend,
    new_delivery_id,
    prepare_send,
    send_many,
    send_prepared,
    send_transactional,
    takes_bulk,
)
from tidings.templates import layouts, senders
from tidings.templates import transactional_messages as messages
from tidings.templates.definitions import Definition

BASE = "https://tidings.test"


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


@pytest.fixture
def clock():
    return FixedClock(1_800_000_000)


class Provider:
    """A fake adapter: answers the scripted outcomes in turn (then Sent), records each call."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, outbound.Outbound]] = []
        self.closed = False

    async def send(self, delivery_id: str, message: outbound.Outbound) -> outbound.Outcome:
        self.calls.append((delivery_id, message))
        outcome = self.script.pop(0) if self.script else Sent(f"p-{len(self.calls)}")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def close(self) -> None:
        self.closed = True


def worker_for(db, clock, provider: Provider | None = None, **kwargs: Any) -> DeliveryWorker:
    factories = None
    if provider is not None:
        factories = {"capture": lambda config, ws, channel, services: provider}
    return DeliveryWorker(db, clock, factories=factories, **kwargs)


def email_body(**extra: Any) -> dict[str, Any]:
    return {
        "identifiers": {"id": "u1"},
        "to": "Ann Example <ann@example.com>",
        "from": "Shop <shop@example.net>",
        "subject": "Hello {{ customer.first_name | default: 'there' }}",
        "body": "<p>Order {{ trigger.order }}</p>",
        **extra,
    }


def accept(tx, clock, ws: int, body: dict[str, Any], route: str = "email") -> dict[str, Any]:
    now = int(clock.now())
    request = send_request.parse(route, body, now)
    return tx(send_transactional, ws, request, new_delivery_id(), BASE, now)


def delivery(query, delivery_id: str) -> Any:
    return query(
        lambda conn: conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
    )


def metrics_of(query, delivery_id: str) -> list[str]:
    rows = query(
        lambda conn: conn.execute(
            select(delivery_metrics.c.metric)
            .where(delivery_metrics.c.delivery_id == delivery_id)
            .order_by(delivery_metrics.c.id)
        ).all()
    )
    return [r.metric for r in rows]


def captured(query, ws: int) -> list[dict[str, Any]]:
    return query(outbox.list_captured, ws, PageRequest(100))["messages"]


# --- accepting ----------------------------------------------------------------------


def test_an_inline_email_is_rendered_queued_then_captured(db, tx, query, ws, clock):
    tx(
        people.identify,
        ws,
        Identifier("id", "u1"),
        people.parse_identify({"first_name": "Ann"}, 0),
        0,
    )
    answer = accept(tx, clock, ws, email_body(message_data={"order": 42}))
    assert answer == {"delivery_id": answer["delivery_id"], "queued_at": 1_800_000_000}
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.channel, row.recipient, row.source) == (
        "queued",
        "email",
        "Ann Example <ann@example.com>",
        "transactional",
    )
    assert row.subject == "Hello Ann"

    assert worker_for(db, clock).run_once() >= 1
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.sent_at, row.attempts) == ("sent", 1_800_000_000, 1)
    assert row.provider_message_id.startswith("capture-")
    [message] = captured(query, ws)
    assert message["delivery_id"] == answer["delivery_id"]
    assert message["subject"] == "Hello Ann"
    assert "Order 42" in message["message"]["html"]
    mime = message["message"]["mime"]
    assert f"Message-ID: <{answer['delivery_id']}@example.net>" in mime
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in mime
    assert metrics_of(query, answer["delivery_id"]) == ["sent"]


def test_delivery_ids_are_opaque_url_safe_and_distinct():
    ids = {new_delivery_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 22 and base64.urlsafe_b64decode(i + "==") for i in ids)
    assert all(
        set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for i in ids
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"to": ", ".join(f"p{i}@example.com" for i in range(16))}, "at most 15 recipients"),
        (
            {
                "cc": ", ".join(f"c{i}@example.com" for i in range(10)),
                "bcc": "a@x.io, b@x.io, c@x.io, d@x.io, e@x.io",
            },
            "at most 15 recipients",
        ),
        ({"to": "not an address"}, "invalid email address"),
        ({"to": "{{ customer.missing }}"}, "to is required"),
        ({"body": "{% if %}"}, "inline message"),
    ],
)
def test_a_refused_send_writes_nothing(tx, query, ws, clock, extra, message):
    with pytest.raises(ApiError) as refused:
        accept(tx, clock, ws, email_body(**extra))
    assert refused.value.status == 400
    assert message in refused.value.message
    count = query(
        lambda conn: conn.execute(
            select(deliveries.c.id).where(deliveries.c.workspace_id == ws)
        ).all()
    )
    assert count == []


def test_to_may_be_liquid_and_counts_after_rendering(tx, query, ws, clock):
    tx(
        people.identify,
        ws,
        Identifier("id", "u1"),
        people.parse_identify({"email": "u1@example.com"}, 0),
        0,
    )
    answer = accept(tx, clock, ws, email_body(to="{{ customer.email }}"))
    assert delivery(query, answer["delivery_id"]).recipient == "u1@example.com"


def prepared_send(
    query, clock, ws: int, body: dict[str, Any], route: str = "email"
) -> tuple[Any, ...]:
    """What the HTTP path does first: compose the send in a read transaction."""
    now = int(clock.now())
    request = send_request.parse(route, body, now)
    args = (ws, request, new_delivery_id(), BASE, now)
    return args, query(prepare_send, *args)


def test_a_prepared_send_renders_as_of_its_read_and_the_writer_only_inserts(tx, query, ws, clock):
    ann = people.parse_identify({"first_name": "Ann"}, 0)
    tx(people.identify, ws, Identifier("id", "u1"), ann, 0)
    accept(tx, clock, ws, email_body())  # makes the workspace's tracking secret
    args, prepared = prepared_send(query, clock, ws, email_body())
    assert prepared is not None
    bob = people.parse_identify({"first_name": "Bob"}, 1)
    tx(people.identify, ws, Identifier("id", "u1"), bob, 1)  # commits between the two
    answer = tx(send_prepared, *args, prepared)
    assert answer["delivery_id"] == args[2]
    row = delivery(query, args[2])
    assert (row.state, row.subject) == ("queued", "Hello Ann")


def test_a_prepared_send_is_stale_when_its_person_changed(tx, query, ws, clock):
    tx(people.identify, ws, Identifier("id", "u1"), people.parse_identify({}, 0), 0)
    accept(tx, clock, ws, email_body())  # makes the workspace's tracking secret
    args, prepared = prepared_send(query, clock, ws, email_body())
    tx(people.suppress, ws, Identifier("id", "u1"), 0)
    with pytest.raises(StaleSend):  # composed again by the HTTP path (api/send.py)
        tx(send_prepared, *args, prepared)
    args, prepared = prepared_send(query, clock, ws, email_body())
    assert prepared is None  # suppressed: the writer answers it, without a template
    answer = tx(send_prepared, *args, prepared)
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.failure_message) == ("suppressed", "the person is suppressed")

    tx(people.unsuppress, ws, Identifier("id", "u1"))
    tx(people.identify, ws, Identifier("id", "u1"), people.parse_identify({}, 0), 0)
    args, prepared = prepared_send(query, clock, ws, email_body())
    tx(people.delete_person, ws, Identifier("id", "u1"))
    with pytest.raises(StaleSend):
        tx(send_prepared, *args, prepared)
    assert query(store.find, ws, Identifier("id", "u1")) is None  # nothing written


def test_a_person_to_create_is_composed_by_the_read_and_made_by_the_write(tx, query, ws, clock):
    accept(tx, clock, ws, email_body())
    body = email_body(identifiers={"id": "new"}, subject="{{ customer.id }} {{ customer.cio_id }}")
    args, prepared = prepared_send(query, clock, ws, body)
    assert prepared is not None and prepared.creates_person
    answer = tx(send_prepared, *args, prepared)
    made = query(store.find, ws, Identifier("id", "new"))
    assert made.cio_id == prepared.person.cio_id
    row = delivery(query, answer["delivery_id"])
    assert (row.person_id, row.subject) == (made.pk, f"new {made.cio_id}")

    args, prepared = prepared_send(query, clock, ws, email_body(identifiers={"id": "raced"}))
    tx(people.identify, ws, Identifier("id", "raced"), people.parse_identify({}, 0), 0)
    with pytest.raises(StaleSend):  # someone else made them meanwhile
        tx(send_prepared, *args, prepared)


def accepted(query, clock, ws: int, body: dict[str, Any]) -> Accepted:
    """A send composed by its read, as the HTTP path hands it to `send_many`."""
    (workspace_id, request, delivery_id, _, now), prepared = prepared_send(query, clock, ws, body)
    assert takes_bulk(request, prepared)
    return Accepted(workspace_id, request, delivery_id, now, prepared)


# The columns a send's write sets, whichever way it is written.
WRITTEN = (
    "person_id", "channel", "recipient", "state", "subject", "payload", "options",
    "due_at", "expires_at", "attempts", "transactional_message_id", "content_id",
)  # fmt: skip


def test_sends_written_together_store_what_each_written_alone_stores(tx, query, ws, clock):
    for n in range(3):
        identify = people.parse_identify({"email": f"u{n}@example.com", "first_name": f"N{n}"}, 0)
        tx(people.identify, ws, Identifier("id", f"u{n}"), identify, 0)
    accept(tx, clock, ws, email_body())  # makes the workspace's tracking secret
    bodies = [
        email_body(identifiers={"id": "u0"}),
        email_body(identifiers={"email": "u1@example.com"}, send_at=int(clock.now()) + 60),
        email_body(identifiers={"cio_id": query(store.find, ws, Identifier("id", "u2")).cio_id}),
    ]
    sends = [accepted(query, clock, ws, body) for body in bodies]
    ids = [send.delivery_id for send in sends]
    for send in sends:
        tx(send_prepared, *_args_of(send), send.prepared)
    alone = [delivery(query, delivery_id) for delivery_id in ids]
    tx(lambda conn: conn.execute(delete(deliveries).where(deliveries.c.id.in_(ids))))
    tx(send_many, sends)
    together = [delivery(query, delivery_id) for delivery_id in ids]
    for one, bulk in zip(alone, together, strict=True):
        assert [getattr(bulk, c) for c in WRITTEN] == [getattr(one, c) for c in WRITTEN]
    assert together[1].due_at == int(clock.now()) + 60


def test_sends_written_together_are_stale_when_any_person_changed(db, tx, query, ws, clock):
    for name in ("u1", "u2", "u3"):
        tx(people.identify, ws, Identifier("id", name), people.parse_identify({}, 0), 0)
    accept(tx, clock, ws, email_body())
    for change in (
        lambda: tx(people.suppress, ws, Identifier("id", "u2"), 0),
        lambda: tx(people.delete_person, ws, Identifier("id", "u2")),
    ):
        sends = [
            accepted(query, clock, ws, email_body(identifiers={"id": n})) for n in ["u1", "u2"]
        ]
        change()
        with pytest.raises(StaleSend):  # the writer then writes them one by one
            tx(send_many, sends)
        assert query(stored, [send.delivery_id for send in sends]) == []
        tx(send_prepared, *_args_of(sends[0]), sends[0].prepared)  # u1 alone is fine
        tx(people.unsuppress, ws, Identifier("id", "u2"))
        tx(people.identify, ws, Identifier("id", "u2"), people.parse_identify({}, 0), 0)
    # The same identifier in another workspace: not this person.
    u3 = accepted(query, clock, ws, email_body(identifiers={"id": "u3"}))
    elsewhere = new_workspace(db).workspace_id
    tx(people.identify, elsewhere, Identifier("id", "u3"), people.parse_identify({}, 0), 0)
    moved = Accepted(elsewhere, u3.request, u3.delivery_id, u3.now, u3.prepared)
    with pytest.raises(StaleSend):
        tx(send_many, [u3, moved])


def test_a_send_takes_the_bulk_write_only_when_it_is_a_delivery_to_insert(tx, query, ws, clock):
    tx(people.identify, ws, Identifier("id", "u1"), people.parse_identify({}, 0), 0)
    accept(tx, clock, ws, email_body())
    written_alone = [
        email_body(identifiers={"id": "somebody-new"}),  # the write makes them
        email_body(queue_draft=True),  # a draft is counted as drafted
        email_body(transactional_message_id="new-one", auto_create=True),  # the write makes it
    ]
    for body in written_alone:
        (_, request, *_), prepared = prepared_send(query, clock, ws, body)
        assert not takes_bulk(request, prepared)
    tx(people.suppress, ws, Identifier("id", "u1"), 0)
    (_, request, *_), prepared = prepared_send(query, clock, ws, email_body())
    assert prepared is None and not takes_bulk(request, prepared)


def stored(conn: Any, delivery_ids: list[str]) -> list[Any]:
    return conn.execute(select(deliveries.c.id).where(deliveries.c.id.in_(delivery_ids))).all()


def _args_of(send: Accepted) -> tuple[Any, ...]:
    return (send.workspace_id, send.request, send.delivery_id, BASE, send.now)


def test_a_template_to_create_is_composed_by_the_read_and_made_by_the_write(tx, query, ws, clock):
    accept(tx, clock, ws, email_body())
    body = email_body(transactional_message_id="made-by-send", auto_create=True)
    args, prepared = prepared_send(query, clock, ws, body)
    assert prepared.template.to_create
    answer = tx(send_prepared, *args, prepared)
    made = query(messages.by_trigger, ws, "made-by-send")
    assert delivery(query, answer["delivery_id"]).transactional_message_id == made.id
    args, prepared = prepared_send(query, clock, ws, body)  # made: not to create again
    assert not prepared.template.to_create and prepared.template.id == made.id

    args, prepared = prepared_send(query, clock, ws, {**body, "transactional_message_id": "x"})
    tx(
        messages.create,
        ws,
        Definition(
            name="x", trigger_name="x", channel="email", contents=(("", {"subject": "theirs"}),)
        ),
        0,
    )
    with pytest.raises(StaleSend):  # made meanwhile, with content of its own
        tx(send_prepared, *args, prepared)


def test_a_push_to_a_custom_device_is_rendered_by_the_read_and_built_by_the_write(
    db, tx, query, ws, clock
):
    body = push_to_a_new_device("u1", "push-made-by-send")
    args, prepared = prepared_send(query, clock, ws, body, route="push")
    assert prepared.built is None and prepared.rendered["title"] == "Hi u1"
    answer = tx(send_prepared, *args, prepared)
    message = sent_message(db, clock, answer["delivery_id"])
    assert (message.token, message.platform, message.title) == ("tok-1", "android", "Hi u1")


def test_a_workspaces_first_email_waits_for_its_tracking_secret(tx, query, ws, clock):
    with pytest.raises(ApiError, match="subject"):  # its errors are answered by the read
        prepared_send(query, clock, ws, email_body(subject="{% if %}"))
    with pytest.raises(NoSecretYet):  # the HTTP path makes the secret, then composes again
        prepared_send(query, clock, ws, email_body(identifiers={"id": "new"}))
    tx(tracking.secret, ws, 0)
    args, prepared = prepared_send(query, clock, ws, email_body(identifiers={"id": "new"}))
    assert tx(send_prepared, *args, prepared)["delivery_id"] == args[2]


def test_a_suppressed_identifier_is_answered_by_the_writer_without_a_template(tx, query, ws, clock):
    tx(people.suppress, ws, Identifier("id", "gone"), 0)
    body = email_body(identifiers={"id": "gone"}, body="{{ 1 | divided_by: 0 }}")
    args, prepared = prepared_send(query, clock, ws, body)
    assert prepared is None
    answer = tx(send_prepared, *args, prepared)
    assert delivery(query, answer["delivery_id"]).state == "suppressed"


def test_an_unknown_cio_id_is_a_400_and_a_suppressed_identifier_is_suppressed_at_once(
    tx, query, ws, clock
):
    with pytest.raises(ApiError, match="no person has this cio_id"):
        accept(tx, clock, ws, email_body(identifiers={"cio_id": "nope"}))
    tx(people.suppress, ws, Identifier("id", "gone"), 0)
    answer = accept(tx, clock, ws, email_body(identifiers={"id": "gone"}))
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.payload, row.failure_message) == (
        "suppressed",
        None,
        "the person is suppressed",
    )
    assert metrics_of(query, answer["delivery_id"]) == ["suppressed"]


# --- drafts, schedules, retention -------------------------------------------------


def test_a_draft_is_stored_rendered_and_never_sent(db, tx, query, ws, clock):
    answer = accept(tx, clock, ws, email_body(queue_draft=True))
    provider = Provider()
    clock.advance(86400)
    worker_for(db, clock, provider).run_once()
    row = delivery(query, answer["delivery_id"])
    assert row.state == "draft" and row.payload is not None
    assert answer["delivery_id"] not in [d for d, _ in provider.calls]
    assert metrics_of(query, answer["delivery_id"]) == ["drafted"]


def test_a_scheduled_send_waits_for_send_at(db, tx, query, ws, clock):
    send_at = int(clock.now()) + 3600
    answer = accept(tx, clock, ws, email_body(send_at=send_at))
    assert answer["send_at"] == send_at
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    assert delivery(query, answer["delivery_id"]).state == "queued"
    clock.advance(3600)
    worker_for(db, clock, provider).run_once()
    assert delivery(query, answer["delivery_id"]).state == "sent"
    assert [d for d, _ in provider.calls].count(answer["delivery_id"]) == 1


def test_send_at_in_the_past_means_now_and_beyond_90_days_is_refused(tx, query, ws, clock):
    answer = accept(tx, clock, ws, email_body(send_at=1))
    assert "send_at" not in answer
    assert delivery(query, answer["delivery_id"]).due_at == int(clock.now())
    with pytest.raises(ApiError, match="90 days"):
        accept(tx, clock, ws, email_body(send_at=int(clock.now()) + 91 * 86400))


def test_disable_message_retention_drops_the_payload_once_sent(db, tx, query, ws, clock):
    answer = accept(tx, clock, ws, email_body(disable_message_retention=True))
    assert delivery(query, answer["delivery_id"]).payload is not None
    worker_for(db, clock, Provider()).run_once()
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.payload) == ("sent", None)


# --- outcomes ------------------------------------------------------------------------


def test_a_permanent_failure_is_failed_with_its_reason(db, tx, query, ws, clock):
    answer = accept(tx, clock, ws, email_body())
    worker_for(db, clock, Provider(Permanent("550 no such user"))).run_once()
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.failure_message, row.sent_at) == ("failed", "550 no such user", None)
    assert metrics_of(query, answer["delivery_id"]) == ["failed"]


def test_transient_failures_back_off_exponentially_with_a_cap_then_succeed(
    db, tx, query, ws, clock
):
    answer = accept(tx, clock, ws, email_body())
    provider = Provider(Transient("421 busy"), RuntimeError("connection reset"), Transient("x"))
    worker = worker_for(db, clock, provider, retry=RetryPolicy(base=10, cap=25))
    delays = []
    for _ in range(3):
        worker.run_once()
        row = delivery(query, answer["delivery_id"])
        assert row.state == "queued" and row.lease_until is None
        delays.append(row.due_at - int(clock.now()))
        worker.run_once()  # not due yet: nothing happens
        clock.advance(row.due_at - int(clock.now()))
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 12 <= delays[2] <= 25
    assert delivery(query, answer["delivery_id"]).failure_message == "x"
    worker.run_once()
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.attempts, row.failure_message) == ("sent", 4, None)
    # Each retry is Customer.io's `attempted`, with its reason.
    assert metrics_of(query, answer["delivery_id"]) == ["attempted"] * 3 + ["sent"]


class StuckAfterTheFirst(Provider):
    """A provider with one connection: the first send goes through at once, the
    second holds the connection with no answer for 20 s, the rest queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.connection = asyncio.Lock()

    async def send(self, delivery_id: str, message: outbound.Outbound) -> outbound.Outcome:
        async with self.connection:
            self.calls.append((delivery_id, message))
            if len(self.calls) > 1:
                await asyncio.sleep(20)  # cancelled by the send timeout long before
            return Sent(f"p-{len(self.calls)}")


def test_sends_queued_behind_a_slow_provider_past_the_send_timeout_are_retried_later(
    db, tx, query, ws, clock
):
    # Which sends get through depends on the provider alone, not on how fast the
    # machine is: the first at once, and none after the one that is stuck.
    ids = [accept(tx, clock, ws, email_body())["delivery_id"] for _ in range(5)]
    provider = StuckAfterTheFirst()
    worker_for(db, clock, provider, send_timeout=1).run_once()
    rows = {i: delivery(query, i) for i in ids}
    first = provider.calls[0][0]
    assert rows[first].state == "sent"
    again = [row for i, row in rows.items() if i != first]
    assert {r.state for r in again} == {"queued"}  # each waiting for its retry
    assert {r.failure_message for r in again} == {"the provider did not answer in time"}
    assert all(r.due_at > int(clock.now()) and r.lease_until is None for r in again)


def test_transient_failures_stop_at_the_expiry(db, tx, query, ws, clock):
    answer = accept(tx, clock, ws, email_body())
    provider = Provider(*[Transient("busy")] * 100)
    worker = worker_for(db, clock, provider, retry=RetryPolicy(base=3600, cap=6 * 3600))
    for _ in range(100):
        worker.run_once()
        row = delivery(query, answer["delivery_id"])
        if row.state != "queued":
            break
        assert row.due_at <= row.expires_at
        clock.advance(row.due_at - int(clock.now()))
    assert row.state == "failed"
    assert row.failure_message.startswith(f"gave up after {row.attempts} attempts: busy")
    assert int(clock.now()) == row.expires_at == row.created_at + 24 * 3600
    assert metrics_of(query, answer["delivery_id"]) == ["attempted"] * (row.attempts - 1) + [
        "failed"
    ]


def test_a_retried_template_send_counts_as_attempted_in_its_metrics(db, tx, query, ws, clock):
    message_id = template(
        tx, ws, "email", {"": {"from": "a@shop.test", "subject": "S", "body": "b"}}
    )
    identify(tx, ws, "u1", email="u1@example.com")
    body = {"transactional_message_id": str(message_id), "identifiers": {"id": "u1"}}
    answer = accept(tx, clock, ws, {**body, "to": "u1@example.com"})
    worker = worker_for(db, clock, Provider(Transient("421 busy"), Transient("421 again")))
    for _ in range(2):
        worker.run_once()
        clock.advance(delivery(query, answer["delivery_id"]).due_at - int(clock.now()))
    worker.run_once()
    assert delivery(query, answer["delivery_id"]).state == "sent"
    now = int(clock.now())
    series = query(transactional_metrics, ws, str(message_id), "hours", 2, now)["metric"]["series"]
    assert (series["attempted"], series["sent"], series["created"]) == ([0, 1], [0, 1], [0, 1])
    with db.reader.connect() as conn:
        [shown] = list_messages(conn, ws, parse_query({}), now)["messages"]
    assert shown["metrics"]["attempted"] == 1_800_000_000
    assert shown["failure_message"] is None


def test_a_lost_lease_resends_with_the_same_message_id_and_fences_the_old_claim(
    db, tx, query, ws, clock
):
    answer = accept(tx, clock, ws, email_body())
    [first] = [
        c for c in tx(queue.claim, int(clock.now()), 60, 1000) if c.id == answer["delivery_id"]
    ]
    early = Provider()
    worker_for(db, clock, early).run_once()  # leased: not claimable yet
    assert answer["delivery_id"] not in [d for d, _ in early.calls]
    assert delivery(query, answer["delivery_id"]).state == "sending"
    clock.advance(61)
    age_leases(db, queue.LEASES, 61, answer["delivery_id"])
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    [(delivery_id, message)] = [c for c in provider.calls if c[0] == answer["delivery_id"]]
    assert message.message_id == outbound.decode(first.payload).message_id
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.attempts) == ("sent", 2)
    # The first worker wakes up late: its outcome is not recorded.
    assert tx(queue.failed, first, int(clock.now()), "late") is False
    assert delivery(query, answer["delivery_id"]).state == "sent"
    assert metrics_of(query, answer["delivery_id"]) == ["sent"]


def test_outcomes_recorded_together_are_fenced_and_counted_each(db, tx, query, ws, clock):
    """Sends are recorded together (`record_many`: one UPDATE per shape of row, their
    metrics in one INSERT); each claim still fences its own outcome."""
    tx(people.identify, ws, Identifier("id", "u1"), people.parse_identify({}, 0), 0)
    bodies = [email_body(), email_body(disable_message_retention=True), email_body(), email_body()]
    ids = [accept(tx, clock, ws, body)["delivery_id"] for body in bodies]
    now = int(clock.now())
    claims = {c.id: c for c in tx(queue.claim, now, 60, 1000) if c.id in ids}
    stale, composed = claims[ids[2]], replace(claims[ids[3]], composed=True, payload='{"a":1}')
    tx(lambda conn: conn.execute(  # another worker took it over since
        update(deliveries).where(deliveries.c.id == stale.id).values(attempts=stale.attempt + 1)
    ))  # fmt: skip
    recordings = [
        (queue.sent, claims[ids[0]], (now, "pm-0")),
        (queue.failed, claims[ids[1]], (now, "refused")),
        (queue.sent, stale, (now, "pm-2")),
        (queue.sent, composed, (now, "pm-3")),
    ]
    assert tx(queue.record_many, recordings) == [True, True, False, True]
    rows = [delivery(query, delivery_id) for delivery_id in ids]
    assert [row.state for row in rows] == ["sent", "failed", "sending", "sent"]
    assert [row.provider_message_id for row in rows] == ["pm-0", None, None, "pm-3"]
    assert rows[0].payload == claims[ids[0]].payload and rows[3].payload == '{"a":1}'
    assert rows[1].payload is None  # not retained
    assert (rows[0].lease_until, rows[0].due_at, rows[0].sent_at) == (None, None, now)
    assert [metrics_of(query, delivery_id) for delivery_id in ids] == [
        ["sent"],
        ["failed"],
        [],
        ["sent"],
    ]
    day = now - now % 86400
    counted = query(lambda conn: conn.execute(select(delivery_days.c.count).where(
        delivery_days.c.workspace_id == ws, delivery_days.c.day == day,
        delivery_days.c.metric == "sent"))).scalar_one()  # fmt: skip
    assert counted == 2


def test_a_send_recorded_for_a_workspace_with_a_webhook_queues_its_post(tx, query, ws, clock):
    tx(people.identify, ws, Identifier("id", "u1"), people.parse_identify({}, 0), 0)
    hook = {"name": "h", "endpoint": "https://h.test/x", "events": ["email_sent"]}
    tx(webhooks.create, ws, webhooks.parse(hook, partial=False), 0)
    ids = [accept(tx, clock, ws, email_body())["delivery_id"] for _ in range(2)]
    now = int(clock.now())
    claims = [c for c in tx(queue.claim, now, 60, 1000) if c.id in ids]
    assert tx(queue.record_many, [(queue.sent, c, (now, None)) for c in claims]) == [True] * 2
    posts = query(lambda conn: conn.execute(select(webhook_posts.c.body)).scalars().all())
    assert sorted(i for i in ids if any(i in body for body in posts)) == sorted(ids)


class Holding(Provider):
    """A provider that holds every send until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def send(self, delivery_id: str, message: outbound.Outbound) -> outbound.Outcome:
        self.calls.append((delivery_id, message))
        await asyncio.to_thread(self.release.wait, 60)
        return Sent("held")


def test_a_worker_renews_the_leases_of_the_sends_it_holds(db, tx, query, ws, clock):
    delivery_id = accept(tx, clock, ws, email_body())["delivery_id"]
    holding = Holding()
    worker = worker_for(db, clock, holding, lease=15, renew_every=0.05)
    worker.start()
    try:
        eventually(lambda: delivery_id in [d for d, _ in holding.calls])
        eventually(lambda: lease_left(db, queue.LEASES, delivery_id) == 15)
        for _ in range(3):  # 30 s in all: twice the lease
            clock.advance(10)
            age_leases(db, queue.LEASES, 10, delivery_id)
            eventually(lambda: lease_left(db, queue.LEASES, delivery_id) == 15)
            other = Provider()
            worker_for(db, clock, other).run_once()  # finds it still held
            assert delivery_id not in [d for d, _ in other.calls]
    finally:
        holding.release.set()
        worker.stop()
    row = delivery(query, delivery_id)
    assert (row.state, row.attempts) == ("sent", 1)


def test_a_renewal_leaves_a_lost_claim_alone(db, tx, query, ws, clock):
    delivery_id = accept(tx, clock, ws, email_body())["delivery_id"]
    now = int(clock.now())
    [first] = [c for c in tx(queue.claim, now, 15, 1000) if c.id == delivery_id]
    age_leases(db, queue.LEASES, 16, delivery_id)
    [second] = [c for c in tx(queue.claim, now + 16, 15, 1000) if c.id == delivery_id]
    age_leases(db, queue.LEASES, 4, delivery_id)  # 20 s after the first claim
    second_lease = delivery(query, delivery_id).lease_until
    assert tx(queue.renew, [first], now + 20, 15) == 0  # its lease expired and was taken
    assert delivery(query, delivery_id).lease_until == second_lease
    start_of_a_second(db)
    assert tx(queue.renew, [second], now + 20, 15) == 1
    assert lease_left(db, queue.LEASES, delivery_id) == 15


def test_adapters_are_closed_when_the_worker_pass_ends(db, tx, ws, clock):
    accept(tx, clock, ws, email_body())
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    assert provider.closed


# --- suppression right before the send ------------------------------------------------


def unsubscribe(tx, ws: int, customer: str) -> None:
    request = people.parse_identify({"unsubscribed": True}, 0)
    tx(people.identify, ws, Identifier("id", customer), request, 0)


@pytest.mark.parametrize(("flag", "state"), [(None, "sent"), (True, "sent"), (False, "suppressed")])
def test_unsubscribed_people_get_transactional_mail_unless_told_otherwise(
    db, tx, query, ws, clock, flag, state
):
    extra = {} if flag is None else {"send_to_unsubscribed": flag}
    answer = accept(tx, clock, ws, email_body(**extra))
    unsubscribe(tx, ws, "u1")  # after the accept: checked right before the send
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    row = delivery(query, answer["delivery_id"])
    assert row.state == state
    if state == "suppressed":
        assert row.failure_message == "the person is unsubscribed"
        assert provider.calls == []


def test_a_blocked_address_is_suppressed(db, tx, query, ws, clock):
    answer = accept(tx, clock, ws, email_body(to="Bounce Test <Bounced@Example.com>"))
    tx(
        lambda conn: conn.execute(
            insert(blocked_addresses).values(
                workspace_id=ws, address="bounced@example.com", reason="bounced", created_at=0
            )
        )
    )
    worker_for(db, clock, Provider()).run_once()
    row = delivery(query, answer["delivery_id"])
    assert row.state == "suppressed"
    assert row.failure_message == "the address bounced@example.com is blocked (bounced)"
    assert metrics_of(query, answer["delivery_id"]) == ["suppressed"]


@pytest.mark.parametrize("how", ["delete", "suppress"])
def test_a_person_deleted_or_suppressed_after_the_accept_is_suppressed(
    db, tx, query, ws, clock, how
):
    answer = accept(tx, clock, ws, email_body())
    if how == "delete":
        tx(people.delete_person, ws, Identifier("id", "u1"))
    else:
        tx(people.suppress, ws, Identifier("id", "u1"), 0)
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.failure_message) == ("suppressed", "the person no longer exists")
    assert provider.calls == []


def test_a_suppressed_email_address_is_suppressed(db, tx, query, ws, clock):
    answer = accept(tx, clock, ws, email_body(to="blocked@example.com"))
    tx(people.suppress, ws, Identifier("email", "blocked@example.com"), 0)
    worker_for(db, clock, Provider()).run_once()
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.failure_message) == ("suppressed", "the person is suppressed")


@pytest.mark.parametrize(
    ("kind", "value", "state"),
    [
        ("id", "u1", "suppressed"),  # the person's id
        ("email", "ann@example.com", "suppressed"),  # the person's email, not the recipient
        ("email", "other@example.com", "suppressed"),  # the recipient
        ("id", "ann@example.com", "sent"),  # an identifier of another kind
        ("email", "u1", "sent"),
    ],
)
def test_the_pre_send_check_matches_each_identifier_by_kind(
    db, tx, query, ws, clock, kind, value, state
):
    now = int(clock.now())
    identify = people.parse_identify({"email": "Ann@Example.com"}, now)
    tx(people.identify, ws, Identifier("id", "u1"), identify, now)
    answer = accept(tx, clock, ws, email_body(to="Other <Other@Example.com>"))
    suppression = {"workspace_id": ws, "kind": kind, "value": value, "created_at": 0}
    tx(lambda conn: conn.execute(insert(suppressions).values(**suppression)))  # person kept
    worker_for(db, clock, Provider()).run_once()
    row = delivery(query, answer["delivery_id"])
    assert row.state == state
    if state == "suppressed":
        assert row.failure_message == "the person is suppressed"


def test_one_claim_checks_each_delivery_against_its_own_person_and_address(
    db, tx, query, ws, clock
):
    """The pre-send check reads a claim's people, suppressions and blocked addresses
    together; each delivery still gets the reason of its own person and recipient."""
    other_ws = new_workspace(db).workspace_id
    for workspace, customer in [(ws, "u2"), (ws, "u3"), (ws, "u4"), (ws, "u5"), (other_ws, "u2")]:
        tx(people.identify, workspace, Identifier("id", customer), people.parse_identify({}, 0), 0)
    sends = {
        "sent": email_body(identifiers={"id": "u2"}, to="u2@example.com"),
        "gone": email_body(identifiers={"id": "u3"}, to="u3@example.com"),
        "suppressed": email_body(identifiers={"id": "u5"}, to="u5@example.com"),
        "blocked": email_body(identifiers={"id": "u4"}, to="U4 <U4@example.com>"),
        "elsewhere": email_body(identifiers={"id": "u2"}, to="u4@example.com"),
    }
    answers = {name: accept(tx, clock, ws, body) for name, body in sends.items()}
    answers["other workspace"] = accept(
        tx, clock, other_ws, email_body(identifiers={"id": "u2"}, to="u4@example.com")
    )
    tx(people.suppress, ws, Identifier("id", "u3"), 0)
    suppressed = {"kind": "email", "value": "u5@example.com", "created_at": 0}  # person kept
    tx(lambda conn: conn.execute(insert(suppressions).values(workspace_id=ws, **suppressed)))
    blocked = {"address": "u4@example.com", "reason": "bounced", "created_at": 0}
    tx(lambda conn: conn.execute(insert(blocked_addresses).values(workspace_id=ws, **blocked)))
    assert worker_for(db, clock, Provider()).run_once() == len(answers)
    states = {name: delivery(query, a["delivery_id"]) for name, a in answers.items()}
    assert {name: (row.state, row.failure_message) for name, row in states.items()} == {
        "sent": ("sent", None),
        "gone": ("suppressed", "the person no longer exists"),
        "suppressed": ("suppressed", "the person is suppressed"),
        "blocked": ("suppressed", "the address u4@example.com is blocked (bounced)"),
        "elsewhere": ("suppressed", "the address u4@example.com is blocked (bounced)"),
        "other workspace": ("sent", None),  # u3 is gone and u4 blocked in `ws` only
    }


# --- other channels ------------------------------------------------------------------


def template(tx, ws: int, channel: str, contents: dict[str, dict[str, str]], **flags: Any) -> int:
    definition = Definition(
        name=f"{channel} message",
        trigger_name=f"{channel}-{len(contents)}-{sorted(flags)}",
        channel=channel,
        contents=tuple(contents.items()),
        **flags,
    )
    return tx(messages.create, ws, definition, 0)["id"]


def sent_message(db, clock, *delivery_ids: str) -> Any:
    """What the provider got for each delivery (one worker pass), or the one message."""
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    got = dict(provider.calls)
    found = [got[d] for d in delivery_ids]
    return found[0] if len(found) == 1 else found


def identify(tx, ws: int, customer: str, **attrs: Any) -> None:
    tx(people.identify, ws, Identifier("id", customer), people.parse_identify(attrs, 0), 0)


def test_sms_from_a_template_goes_to_the_persons_phone_by_default(db, tx, query, ws, clock):
    message_id = template(tx, ws, "sms", {"": {"body": "Code {{ trigger.code }}"}})
    identify(tx, ws, "u1", phone="+15551234")
    body = {"transactional_message_id": str(message_id), "identifiers": {"id": "u1"}}
    answer = accept(tx, clock, ws, {**body, "message_data": {"code": 7}}, route="sms")
    row = delivery(query, answer["delivery_id"])
    assert (row.transactional_message_id, row.recipient) == (message_id, "+15551234")
    status_url = f"{BASE}/webhooks/twilio/{answer['delivery_id']}"  # Twilio posts there
    assert sent_message(db, clock, answer["delivery_id"]) == outbound.Sms(
        to="+15551234", body="Code 7", status_url=status_url
    )


def test_an_email_template_by_trigger_name_in_the_persons_language_with_a_layout(
    db, tx, query, ws, clock
):
    tx(layouts.put, ws, "frame", "<html><body>{{ content }}<hr>{{ customer.id }}</body></html>", 0)
    message_id = template(
        tx,
        ws,
        "email",
        {
            "": {"from": "a@shop.test", "subject": "Hello", "body": "<p>hi</p>", "layout": "frame"},
            "fr": {"from": "a@shop.test", "subject": "Bonjour", "body": "<p>salut</p>"},
        },
        tracked=False,
    )
    trigger = tx(messages.find, ws, message_id).trigger_name
    body = email_body(transactional_message_id=trigger.upper())
    for key in ("from", "subject", "body"):
        body.pop(key)
    plain = accept(tx, clock, ws, body)
    french = accept(tx, clock, ws, {**body, "language": "fr"})
    assert delivery(query, plain["delivery_id"]).transactional_message_id == message_id
    message, in_french = sent_message(db, clock, plain["delivery_id"], french["delivery_id"])
    assert message.subject == "Hello"
    assert message.html == "<html><body><p>hi</p><hr>u1</body></html>"  # untracked: no pixel
    assert in_french.subject == "Bonjour"


def test_a_layout_that_would_make_the_body_too_long_is_refused_before_it_is_built(
    tx, query, ws, clock
):
    tx(layouts.put, ws, "echo", "{{ content }}" * 3, 0)  # 3,000 times in the issue's report
    fields = {"from": "a@shop.test", "subject": "s", "body": "x" * 200_000, "layout": "echo"}
    message_id = template(tx, ws, "email", {"": fields})
    body = email_body(transactional_message_id=message_id)
    for key in ("from", "subject", "body"):
        body.pop(key)
    with pytest.raises(ApiError) as refused:
        accept(tx, clock, ws, body)
    assert refused.value.message == (
        "the body in the layout 'echo' would be longer than 512000 characters"
    )
    assert refused.value.field == "layout"
    tx(layouts.put, ws, "echo", "{{ content }}" * 2, 0)  # 400,000 characters: fine
    assert delivery(query, accept(tx, clock, ws, body)["delivery_id"]).state == "queued"


def test_layouts_wrap_checks_the_size_it_would_make():
    assert layouts.wrap("<b>{{content}}</b>{{ content }}", "xy", 11) == "<b>xy</b>xy"
    assert layouts.wrap("<b>{{content}}</b>{{ content }}", "xy", 10) is None
    assert layouts.wrap("no place", "x" * 10**6, 8) == "no place"


def test_inline_fields_override_the_template_and_defaults_come_from_it(db, tx, query, ws, clock):
    message_id = template(
        tx,
        ws,
        "email",
        {"": {"from": "a@shop.test", "subject": "T", "body": "<p>t</p>"}},
        send_to_unsubscribed=False,
    )
    identify(tx, ws, "u1", unsubscribed=True)
    answer = accept(tx, clock, ws, email_body(transactional_message_id=message_id, subject="S"))
    assert delivery(query, answer["delivery_id"]).subject == "S"
    worker_for(db, clock, Provider()).run_once()
    assert delivery(query, answer["delivery_id"]).state == "suppressed"


@pytest.mark.parametrize(
    ("ref", "route", "error"),
    [
        (999_999, "email", "no transactional message"),
        ("missing-trigger", "email", "no transactional message"),
    ],
)
def test_unknown_templates_are_400s(tx, ws, clock, ref, route, error):
    with pytest.raises(ApiError, match=error):
        accept(tx, clock, ws, email_body(transactional_message_id=ref), route=route)


def test_auto_create_makes_an_empty_template_and_another_channel_is_refused(tx, query, ws, clock):
    body = email_body(transactional_message_id="brand-new", auto_create=True)
    answer = accept(tx, clock, ws, body)
    created = query(messages.by_trigger, ws, "brand-new")
    assert created.channel == "email"
    assert delivery(query, answer["delivery_id"]).transactional_message_id == created.id
    push = {"transactional_message_id": "brand-new", "identifiers": {"id": "u1"}}
    with pytest.raises(ApiError, match="is a email message, not push"):
        accept(tx, clock, ws, push, route="push")


def test_a_from_outside_the_sender_identities_is_refused(tx, ws, clock):
    tx(senders.create, ws, "Shop", "shop@example.net", 0)
    with pytest.raises(ApiError, match="not a sender identity"):
        accept(tx, clock, ws, email_body(**{"from": "other@example.net"}))
    answer = accept(tx, clock, ws, email_body(**{"from": "shop@example.net"}))
    assert answer["delivery_id"]


def test_push_to_all_devices_with_a_custom_device_and_per_platform_payloads(
    db, tx, query, ws, clock
):
    message_id = template(tx, ws, "push", {"": {"title": "Hi {{ customer.id }}", "message": "m"}})
    tx(
        people_devices.add_to,
        ws,
        Identifier("id", "u1"),
        people_devices.parse_device(
            {"id": "old-ios", "platform": "ios", "last_used": 5}, token_key="id"
        ),
        0,
    )
    body = {
        "transactional_message_id": message_id,
        "identifiers": {"id": "u1"},
        "custom_device": {"token": "new-android", "platform": "android", "last_used": 10},
        "custom_payload": {"ios": {"aps": {"alert": "x"}}, "android": {"message": {"data": {}}}},
        "custom_data": {"n": 1, "s": "t"},
    }
    answer = accept(tx, clock, ws, body, route="push")
    provider = Provider(Permanent("unregistered"))
    worker_for(db, clock, provider).run_once()
    calls = [m for d, m in provider.calls if d == answer["delivery_id"]]
    assert [(m.token, m.platform) for m in calls] == [
        ("new-android", "android"),
        ("old-ios", "ios"),
    ]
    assert calls[0].custom_payload == {"message": {"data": {}}}
    assert calls[1].custom_payload == {"aps": {"alert": "x"}}
    assert calls[0].title == "Hi u1" and calls[0].custom_data == {"n": "1", "s": "t"}
    assert delivery(query, answer["delivery_id"]).state == "sent"  # one device took it


def test_push_to_last_used_and_to_nobody(db, tx, query, ws, clock):
    message_id = template(tx, ws, "push", {"": {"title": "t"}})
    base = {"transactional_message_id": message_id, "identifiers": {"id": "nodevice"}}
    answer = accept(tx, clock, ws, base, route="push")
    worker_for(db, clock, Provider()).run_once()
    row = delivery(query, answer["delivery_id"])
    assert (row.state, row.failure_message) == ("failed", "the person has no device to send to")
    with pytest.raises(ApiError, match="device"):
        accept(tx, clock, ws, {**base, "to": "unknown-token"}, route="push")
    device = {"token": "tok", "platform": "ios"}
    answer = accept(
        tx, clock, ws, {**base, "to": "last_used", "custom_device": device}, route="push"
    )
    assert sent_message(db, clock, answer["delivery_id"]).token == "tok"


def test_in_app_and_inbox_messages_are_captured(db, tx, query, ws, clock):
    for channel, route in (("in_app", "in_app"), ("inbox", "inbox_message")):
        message_id = template(tx, ws, channel, {"": {"title": "T {{ trigger.x }}"}})
        body = {"transactional_message_id": message_id, "identifiers": {"id": "u1"}}
        answer = accept(tx, clock, ws, {**body, "message_data": {"x": 1}}, route=route)
        worker_for(db, clock).run_once()
        [item] = query(
            outbox.list_captured, ws, PageRequest(1), outbox.Filters(answer["delivery_id"])
        )["messages"]
        assert item["channel"] == channel
        assert item["message"]["payload"] == {"title": "T 1", "data": {"x": 1}}
        assert item["message"]["inbox"] == (channel == "inbox")


def test_fake_bcc_sends_a_copy_naming_the_recipients_instead_of_a_bcc(db, tx, ws, clock):
    body = email_body(bcc="audit@example.com", fake_bcc=True, subject="Receipt")
    answer = accept(tx, clock, ws, body)
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    main, copy = [m for d, m in provider.calls if d == answer["delivery_id"]]
    assert (main.to, main.bcc, main.subject) == (["Ann Example <ann@example.com>"], [], "Receipt")
    assert (copy.to, copy.bcc) == (["audit@example.com"], [])
    assert copy.subject == "Receipt (sent to Ann Example <ann@example.com>)"
    assert copy.message_id == f"<{answer['delivery_id']}.bcc@example.net>" != main.message_id
