"""The ingest log on the local nats-server (JetStream on 127.0.0.1:4222), PostgreSQL only.

Each test publishes to a stream of its own (a random name, deleted after), and
compares what the applier wrote with what the direct path writes for the same
requests in another workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import nats.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import func, select

from tests.conftest import new_workspace
from tests.support import eventually
from tidings.config import IngestLog
from tidings.db.engine import Database
from tidings.db.schema import (
    attributes,
    cdp_rejections,
    devices,
    events,
    ingest_partitions,
    ingest_refusals,
    objects,
    people,
    relationships,
)
from tidings.errors import ApiError
from tidings.events import bulk as bulk_events
from tidings.events import service as event_service
from tidings.ingest_log import kinds, partitions, records, refusals
from tidings.ingest_log import metrics as ingest_metrics
from tidings.ingest_log.applier import Applier
from tidings.ingest_log.apply import Message, apply_batch
from tidings.ingest_log.publisher import Publisher
from tidings.paging import PageRequest
from tidings.people import service as people_service
from tidings.people.identifiers import classify
from tidings.pipelines import ingest as pipelines_ingest
from tidings.pipelines.parse import parse_message
from tidings.pipelines.rejections import rejected
from tidings.track_v2 import apply as v2_apply
from tidings.track_v2.parse import parse_batch

NATS = "nats://127.0.0.1:4222"
NOW = 1_700_000_000


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("the ingest log runs on PostgreSQL only (tidings refuses it with SQLite)")
    return db


@pytest.fixture
def log() -> Iterator[IngestLog]:
    settings = IngestLog((NATS,), stream=f"T_{uuid.uuid4().hex[:12]}", partitions=4, lease=3)
    yield settings
    asyncio.run(_delete_stream(settings.stream))


async def _delete_stream(name: str) -> None:
    nc = await nats.connect(NATS)
    with contextlib.suppress(NotFoundError):  # never created: the test failed before publishing
        await nc.jetstream().delete_stream(name)
    await nc.close()


def publish(settings: IngestLog, batch: list[records.Record]) -> None:
    async def run() -> None:
        publisher = Publisher(settings)
        await publisher.start()
        assert await publisher.wait_connected(10)
        await publisher.publish(batch)
        await publisher._stop()

    asyncio.run(run())


def requests(workspace: int) -> tuple[list[records.Record], list[tuple[Any, ...]]]:
    """The same requests as records for the log and as direct use case calls."""
    records_, direct = [], []
    for n in range(12):
        ident = classify(f"user-{n % 5}")
        if n % 3 == 0:
            body = {"email": f"U{n % 5}@example.com", "plan": f"p{n}", "n": n}
            records_.append(kinds.identify_v1(workspace, ident, body, NOW + n))
            direct.append(("identify", ident, body, NOW + n))
        else:
            # Repeated ids within a person (n and n + 10): dropped as repeats. (One id sent
            # for two people keeps whichever partition applies first: see the docs.)
            raw = {"name": "clicked", "data": {"n": n}, "id": f"ev-{n % 5}-{n % 2}"}
            event = bulk_events.plain(ident, event_service.parse_event(raw).received(NOW + n))
            records_.append(kinds.track_v1(workspace, ident, event, NOW + n))
            direct.append(("track", ident, event, NOW + n))
    return records_, direct


def apply_directly(db: Database, workspace: int, calls: list[tuple[Any, ...]]) -> None:
    for what, ident, payload, now in calls:
        with db.writer.begin() as conn:
            if what == "identify":
                parsed = people_service.parse_identify(payload, now)
                people_service.identify(conn, workspace, ident, parsed, now)
            else:
                bulk_events.track_queued(conn, [(workspace, payload, now)])


def snapshot(db: Database, workspace: int) -> dict[str, Any]:
    """Each person's identifiers, attributes and events, without generated ids."""
    shown: dict[str, Any] = {}
    with db.reader.connect() as conn:
        for person in conn.execute(select(people).where(people.c.workspace_id == workspace)):
            attrs = conn.execute(
                select(attributes.c.name, attributes.c.value).where(
                    attributes.c.person_id == person.id
                )
            ).all()
            evs = conn.execute(
                select(events.c.name, events.c.data, events.c.timestamp)
                .where(events.c.person_id == person.id, events.c.type == "event")
                .order_by(events.c.id)
            ).all()
            shown[person.customer_id] = (person.email, sorted(attrs), evs)
    return shown


def applied_total(db: Database, stream: str) -> int:
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(ingest_partitions.c.applied_total).where(ingest_partitions.c.stream == stream)
        )
        return sum(rows.scalars())


def apply_published(db: Database, settings: IngestLog, count: int, timeout: float = 30) -> None:
    """Run an applier until `count` records of the stream are applied, then stop it."""
    applier = Applier(db, settings)
    applier.start()
    try:
        eventually(lambda: applied_total(db, settings.stream) == count, timeout=timeout)
    finally:
        applier.stop()


def test_published_then_applied_writes_what_the_direct_path_writes(pg: Database, log: IngestLog):
    via_log, direct = new_workspace(pg).workspace_id, new_workspace(pg).workspace_id
    batch, _ = requests(via_log)
    _, calls = requests(direct)
    apply_directly(pg, direct, calls)
    publish(log, batch)
    apply_published(pg, log, len(batch))
    expected = snapshot(pg, direct)
    assert len(expected) == 5
    assert snapshot(pg, via_log) == expected


def _fetch_all(settings: IngestLog, partition: int) -> list[Message]:
    """A partition's messages through a consumer that never acknowledges them."""

    async def run() -> list[Message]:
        nc = await nats.connect(NATS)
        js = nc.jetstream()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, ack_wait=60
        )
        sub = await js.pull_subscribe(
            records.subject(settings.stream, partition), stream=settings.stream, config=config
        )
        try:
            got = await sub.fetch(100, timeout=2)
        except (TimeoutError, nats.errors.TimeoutError):
            got = []  # an empty partition
        finally:
            await nc.close()
        return [Message(m.metadata.sequence.stream, m.data) for m in got]

    return asyncio.run(run())


def test_a_batch_committed_but_not_acknowledged_is_not_applied_twice(pg: Database, log: IngestLog):
    workspace = new_workspace(pg).workspace_id
    batch, _ = requests(workspace)
    publish(log, batch)
    with pg.writer.begin() as conn:
        partitions.ensure(conn, log.stream, log.partitions)
        claims = partitions.claim(conn, log.stream, "crashing", log.partitions, lease=60)
    first = {c.partition: _fetch_all(log, c.partition) for c in claims}
    for claim in claims:  # committed, then "killed" before any acknowledgement
        with pg.writer.begin() as conn:
            apply_batch(conn, log.stream, claim, first[claim.partition])
    before = snapshot(pg, workspace)
    for claim in claims:  # the same batch delivered again: everything is at or below the offset
        with pg.writer.begin() as conn:
            outcome = apply_batch(conn, log.stream, claim, first[claim.partition])
        assert outcome.held and outcome.applied == 0
    for claim in claims:
        with pg.writer.begin() as conn:
            partitions.release(conn, claim)
    applier = Applier(pg, log)  # a new applier starts after the stored offsets
    applier.start()
    try:
        eventually(lambda: len(applier.held) == log.partitions, timeout=30)
        late, _ = requests(workspace)
        publish(log, late[:1])
        eventually(lambda: applied_total(pg, log.stream) == len(batch) + 1, timeout=30)
    finally:
        applier.stop()
    after = snapshot(pg, workspace)
    assert before == after or _only_late_identify_differs(before, after)
    assert sum(len(evs) for _, _, evs in after.values()) == sum(
        len(evs) for _, _, evs in before.values()
    )


def _only_late_identify_differs(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """The late record is user-0's first identify again, sent later: same people."""
    return before.keys() == after.keys()


def test_a_lost_claim_applies_nothing(pg: Database, log: IngestLog):
    workspace = new_workspace(pg).workspace_id
    batch, _ = requests(workspace)
    publish(log, batch)
    with pg.writer.begin() as conn:
        partitions.ensure(conn, log.stream, log.partitions)
        stale = partitions.claim(conn, log.stream, "slow", log.partitions, lease=0)
    with pg.writer.begin() as conn:  # its lease ran out (0 s): another applier claims
        fresh = partitions.claim(conn, log.stream, "quick", log.partitions, lease=60)
    assert {c.partition for c in fresh} == {c.partition for c in stale}
    for claim in stale:
        with pg.writer.begin() as conn:
            outcome = apply_batch(conn, log.stream, claim, _fetch_all(log, claim.partition))
        assert not outcome.held
    assert snapshot(pg, workspace) == {}
    assert applied_total(pg, log.stream) == 0


def test_two_appliers_share_the_partitions_and_a_dead_ones_move(pg: Database, log: IngestLog):
    with pg.writer.begin() as conn:
        partitions.ensure(conn, log.stream, log.partitions)
        # A worker that died holding two partitions: its leases run out in 3 s.
        dead = partitions.claim(conn, log.stream, "dead", 2, lease=log.lease)
        partitions.heartbeat(conn, log.stream, "dead", log.lease)
    first, second = Applier(pg, log, owner="first"), Applier(pg, log, owner="second")
    first.start()
    second.start()
    try:
        eventually(lambda: len(first.held) + len(second.held) == log.partitions, timeout=30)
        assert first.held and second.held
        assert set(first.held).isdisjoint(second.held)
        assert {c.partition for c in dead} <= set(first.held) | set(second.held)
        workspace = new_workspace(pg).workspace_id
        batch, _ = requests(workspace)
        publish(log, batch)
        eventually(lambda: applied_total(pg, log.stream) == len(batch), timeout=30)
        second.stop()  # gives its partitions back: the first takes them all
        eventually(lambda: len(first.held) == log.partitions, timeout=30)
        late, _ = requests(new_workspace(pg).workspace_id)
        publish(log, late)
        eventually(lambda: applied_total(pg, log.stream) == 2 * len(batch), timeout=30)
    finally:
        first.stop()
        second.stop()


def test_a_refusal_found_when_applying_is_recorded(pg: Database, log: IngestLog):
    workspace = new_workspace(pg).workspace_id
    ident = classify("refused-later")
    bad = kinds.identify_v1(workspace, ident, {"plan": "x"}, NOW)
    bad = records.Record(bad.kind, bad.workspace, bad.now, bad.identity, [*bad.payload[:2], 42])
    good = kinds.identify_v1(workspace, ident, {"plan": "y"}, NOW + 1)
    publish(log, [bad, good])
    apply_published(pg, log, 2)
    with pg.reader.connect() as conn:
        refused = conn.execute(
            select(ingest_refusals.c.kind, ingest_refusals.c.code).where(
                ingest_refusals.c.workspace_id == workspace
            )
        ).all()
    assert refused == [("v1.identify", "apply_failed")]
    assert snapshot(pg, workspace)["refused-later"][1] == [("id", "refused-later"), ("plan", "y")]
    with pg.reader.connect() as conn:  # what the UI and `tidings refusals` show
        [shown] = refusals.recent(conn, workspace, PageRequest(10))["refusals"]
    assert (shown["received_at"], shown["status"], shown["stream"]) == (NOW, 500, log.stream)
    assert shown["route"] == "PUT /api/v1/customers/{identifier}"
    assert records.decode(shown["record"].encode())[0] == bad  # the message as published


def test_an_unreadable_message_is_refused_and_dated_by_the_stream(pg: Database, log: IngestLog):
    workspace = new_workspace(pg).workspace_id
    good = kinds.identify_v1(workspace, classify("readable"), {"plan": "y"}, NOW)
    publish(log, [good])  # makes the stream
    before = int(time.time())

    async def publish_garbage() -> None:
        nc = await nats.connect(NATS)
        await nc.jetstream().publish(records.subject(log.stream, 0), b"not a record")
        await nc.close()

    asyncio.run(publish_garbage())
    after = int(time.time()) + 1

    def unreadable() -> list[dict[str, Any]]:
        with pg.reader.connect() as conn:
            found = refusals.recent(conn, None, PageRequest(1000))["refusals"]
        return [r for r in found if r["stream"] == log.stream]

    applier = Applier(pg, log)
    applier.start()
    try:
        [shown] = eventually(unreadable, timeout=30)
    finally:
        applier.stop()
    assert (shown["workspace_id"], shown["kind"], shown["code"]) == (0, "", "unreadable")
    assert shown["record"] == "not a record" and shown["route"] == refusals.UNKNOWN_ROUTE
    assert before <= shown["received_at"] <= after  # kept for the retention, not pruned at once


def test_a_failed_publish_is_a_503_with_retry_after():
    closed = IngestLog(("nats://127.0.0.1:1",), stream="T_NEVER")

    async def run() -> ApiError:
        publisher = Publisher(closed)
        await publisher.start()
        assert not await publisher.wait_connected(0.5)
        try:
            record = kinds.identify_v1(1, classify("x"), {}, NOW)
            await publisher.publish([record])
        except ApiError as exc:
            return exc
        finally:
            await publisher._stop()
        raise AssertionError("published without a stream")

    error = asyncio.run(run())
    assert error.status == 503 and error.headers["Retry-After"] == "1"


def everything(db: Database, workspace: int) -> dict[str, Any]:
    """`snapshot` plus devices, objects, relationships and rejections, without generated ids."""
    shown = {"people": snapshot(db, workspace)}
    with db.reader.connect() as conn:
        for name, table, columns in (
            ("devices", devices, ("token", "platform", "attributes")),
            ("objects", objects, ("type_id", "object_id", "attributes")),
            ("relationships", relationships, ("anonymous_id", "attributes")),
            ("rejections", cdp_rejections, ("reason", "type", "message_id")),
            ("anonymous", events, ("anonymous_id", "type", "name", "data", "timestamp")),
        ):
            query = select(*(table.c[c] for c in columns)).where(table.c.workspace_id == workspace)
            if table is events:
                query = query.where(events.c.person_id.is_(None))
            shown[name] = sorted(tuple(row) for row in conn.execute(query))
    return shown


V2_BATCH = [
    {"type": "person", "action": "identify", "identifiers": {"id": "v2-1"}, "attributes": {"a": 1}},
    {
        "type": "person",
        "action": "event",
        "identifiers": {"id": "v2-1"},
        "name": "bought",
        "id": "e1",
    },
    {"type": "person", "action": "event", "identifiers": {"email": "V2@x.io"}, "name": "viewed"},
    {
        "type": "person",
        "action": "event",
        "identifiers": {"id": "v2-2"},
        "name": "bought",
        "id": "e2",
    },
    {  # a repeat: dropped
        "type": "person",
        "action": "event",
        "identifiers": {"id": "v2-1"},
        "name": "bought",
        "id": "e1",
    },
    {"type": "person", "action": "nope", "identifiers": {"id": "v2-1"}},
    {
        "type": "object",
        "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "attributes": {"name": "Acme"},
        "cio_relationships": [{"identifiers": {"id": "v2-1"}}],
    },
    {
        "type": "person",
        "action": "add_device",
        "identifiers": {"id": "v2-2"},
        "device": {"token": "tok-1", "platform": "ios"},
    },
    {"type": "person", "action": "identify", "identifiers": {"id": "v2-1"}, "attributes": {"b": 2}},
]


def test_track_v2_through_the_log_writes_what_the_direct_path_writes(pg: Database, log: IngestLog):
    via_log, direct = new_workspace(pg).workspace_id, new_workspace(pg).workspace_id
    items = parse_batch({"batch": V2_BATCH}, NOW)
    with pg.writer.begin() as conn:
        refused = v2_apply.apply_batch(conn, direct, items, NOW)
    assert [index for index, _ in refused] == [5]  # refused while parsing: answered 207
    batch = kinds.track_v2(via_log, V2_BATCH, items, NOW)
    assert len(batch) == len(V2_BATCH) - 1
    publish(log, batch)
    apply_published(pg, log, len(batch))
    expected = everything(pg, direct)
    assert expected["devices"] and expected["objects"] and expected["relationships"]
    assert everything(pg, via_log) == expected


CDP_BATCH = [
    {"type": "identify", "userId": "c-1", "anonymousId": "a-1", "traits": {"email": "C1@x.io"}},
    {"type": "track", "anonymousId": "a-2", "event": "Viewed", "messageId": "m-1"},
    {
        "type": "track",
        "userId": "c-1",
        "event": "Bought",
        "properties": {"p": 2},
        "messageId": "m2",
    },
    {"type": "page", "userId": "c-1", "name": "/pricing"},
    {"type": "track", "userId": "c-1", "event": "Bought", "messageId": "m2"},
    {"type": "group", "userId": "c-1", "groupId": "g-1", "traits": {"object_type_id": "1"}},
    {"type": "alias", "userId": "c-2", "previousId": "a-2"},
    {"type": "track", "userId": "c-1", "event": ""},
    {
        "type": "track",
        "userId": "c-1",
        "event": "Device Created or Updated",
        "context": {"device": {"token": "tok-c1", "type": "ios"}},
    },
    {  # a semantic event whose parsed form holds a tuple: it must survive the JSON
        "type": "track",
        "userId": "c-1",
        "event": "Report Delivery Event",
        "properties": {"deliveryId": "nope", "metric": "opened"},
    },
]


def test_pipelines_through_the_log_writes_what_the_direct_path_writes(pg: Database, log: IngestLog):
    via_log, direct = new_workspace(pg).workspace_id, new_workspace(pg).workspace_id
    items = [_cdp_item(raw) for raw in CDP_BATCH]
    assert any(isinstance(item, type(rejected(ApiError(400, "x"), {}))) for item in items)
    with pg.writer.begin() as conn:
        pipelines_ingest.ingest(conn, direct, items, NOW, False)
    batch = kinds.pipelines_items(via_log, items, NOW)
    publish(log, batch)
    apply_published(pg, log, len(batch))
    expected = everything(pg, direct)
    assert expected["rejections"] and expected["objects"] and expected["devices"]
    assert everything(pg, via_log) == expected


def _cdp_item(raw: dict[str, Any]) -> pipelines_ingest.Item:
    try:
        return parse_message(raw, NOW)
    except ApiError as exc:
        return rejected(exc, raw)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (  # an anonymous event, and the alias that names its visitor
            {"type": "track", "anonymousId": "a-9", "event": "Viewed", "messageId": "m-9"},
            {"type": "alias", "userId": "c-9", "previousId": "a-9"},
        ),
        (  # an anonymous event, and the identify that names its visitor
            {"type": "page", "anonymousId": "a-9", "name": "/home"},
            {"type": "identify", "userId": "c-9", "anonymousId": "a-9", "traits": {"n": 1}},
        ),
    ],
)
def test_messages_in_two_partitions_apply_alike_in_either_order(
    db: Database, first: dict[str, Any], then: dict[str, Any]
):
    """Partitions apply independently: what two identities' messages do together must not
    depend on which partition comes first (docs/architecture.md, "The ingest log")."""
    forward, backward = new_workspace(db).workspace_id, new_workspace(db).workspace_id
    one, two = parse_message(first, NOW), parse_message(then, NOW + 1)
    for workspace, order in ((forward, (one, two)), (backward, (two, one))):
        for message in order:
            with db.writer.begin() as conn:
                pipelines_ingest.ingest(conn, workspace, [message], message.timestamp, False)
    assert everything(db, forward) == everything(db, backward)


def metric_values(db: Database, settings: IngestLog, now: float) -> dict[str, dict[int, float]]:
    """`/metrics` lines about the stream, by metric name and partition."""

    async def run() -> list[str]:
        nc = await nats.connect(NATS)
        try:
            with db.reader.connect() as conn:
                offsets = partitions.offsets(conn, settings.stream)
            return await ingest_metrics.lines(nc.jetstream(), settings.stream, offsets, now)
        finally:
            await nc.close()

    values: dict[str, dict[int, float]] = {}
    for line in asyncio.run(run()):
        if not line.startswith("#"):
            name, rest = line.split('{partition="', 1)
            partition, value = rest.split('"} ')
            values.setdefault(name, {})[int(partition)] = float(value)
    return values


def test_metrics_show_each_partitions_lag_and_oldest_unapplied_message(
    pg: Database, log: IngestLog
):
    batch, _ = requests(new_workspace(pg).workspace_id)
    publish(log, batch)
    with pg.writer.begin() as conn:
        partitions.ensure(conn, log.stream, log.partitions)
    later = time.time() + 100
    behind = metric_values(pg, log, later)
    busy = {records.partition_of(r.workspace, r.identity, log.partitions) for r in batch}
    lag = behind["tidings_ingest_log_lag_sequences"]
    assert {p for p, n in lag.items() if n > 0} == busy
    oldest = behind["tidings_ingest_log_oldest_unapplied_seconds"]
    assert all(99 < oldest[p] < 200 for p in busy)
    assert all(oldest[p] == 0 for p in set(range(log.partitions)) - busy)
    applier = Applier(pg, log)
    applier.start()
    try:
        eventually(lambda: applied_total(pg, log.stream) == len(batch), timeout=30)

        def acknowledged() -> dict[str, dict[int, float]]:  # acks follow the commits
            values = metric_values(pg, log, later)
            unapplied = values.get("tidings_ingest_log_unapplied_messages", {})
            return values if set(unapplied.values()) == {0} else {}

        caught_up = eventually(acknowledged, timeout=30)
    finally:
        applier.stop()
    assert set(caught_up["tidings_ingest_log_lag_sequences"].values()) == {0}
    assert set(caught_up["tidings_ingest_log_oldest_unapplied_seconds"].values()) == {0}
    assert set(caught_up["tidings_ingest_log_unapplied_messages"].values()) == {0}
    assert sum(caught_up["tidings_ingest_log_applied_total"].values()) == len(batch)


def test_a_part_past_the_servers_payload_limit_goes_as_several_messages_in_order(
    pg: Database, log: IngestLog
):
    workspace = new_workspace(pg).workspace_id
    ident = classify("big")
    batch = [
        kinds.identify_v1(workspace, ident, {"step": n, "pad": "x" * 500}, NOW) for n in range(3000)
    ]
    assert len(records.encode(batch)) > 1024 * 1024  # the server's default max_payload
    publish(log, batch)
    apply_published(pg, log, len(batch), timeout=60)
    with pg.reader.connect() as conn:
        seq = conn.execute(
            select(func.max(ingest_partitions.c.applied_seq)).where(
                ingest_partitions.c.stream == log.stream
            )
        ).scalar_one()
    assert seq > 1  # several messages
    attrs = dict(snapshot(pg, workspace)["big"][1])
    assert attrs["step"] == "2999"  # applied in order: the last one wins


def test_a_consumer_that_delivers_nothing_is_made_again(
    pg: Database, log: IngestLog, monkeypatch: pytest.MonkeyPatch
):
    """A partition whose consumer answers every pull with nothing (as one made while the
    cluster lost a node can) is read again through a new consumer, from the offset."""
    from tidings.ingest_log import applier as applier_module

    monkeypatch.setattr(applier_module, "IDLE_RESUBSCRIBE", 1.0)
    original = Applier._subscribe
    wedged: set[int] = set()

    async def first_one_wedged(self: Any, js: Any, partition: int, name: str, start: int) -> Any:
        if partition in wedged:
            return await original(self, js, partition, name, start)
        wedged.add(partition)  # its first consumer reads a subject no record is published on
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT)
        subject = f"{log.stream}.p.{10_000 + partition}"
        return await js.pull_subscribe(subject, durable=name, stream=log.stream, config=config)

    monkeypatch.setattr(Applier, "_subscribe", first_one_wedged)
    workspace = new_workspace(pg).workspace_id
    batch, _ = requests(workspace)
    publish(log, batch)
    apply_published(pg, log, len(batch))
    assert wedged == set(range(log.partitions))
    assert len(snapshot(pg, workspace)) == 5
