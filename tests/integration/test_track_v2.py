"""Track v2 operations applied on a real database (SQLite and PostgreSQL)."""

import msgspec
import pytest
from sqlalchemy import func, select

from tidings.db.schema import delivery_metrics, events, objects, relationships
from tidings.errors import ApiError
from tidings.objects import relationships as rel
from tidings.objects import store as objects_store
from tidings.objects.store import ObjectRef
from tidings.people import devices, read, store
from tidings.people.identifiers import Identifier
from tidings.track_v2.apply import (
    apply_batch,
    apply_queued,
    only_events,
    plain_events,
    run_operation,
)
from tidings.track_v2.parse import parse_batch, parse_operation

NOW = 1_700_000_000
ACME = {"object_type_id": "1", "object_id": "acme"}


@pytest.fixture
def v2(tx, workspace):
    """Apply operations as one `/api/v2/batch` request; returns [(index, reason)]."""

    def run(*ops, now=NOW):
        items = parse_batch({"batch": list(ops)}, now)
        errors = tx(apply_batch, workspace.workspace_id, items, now)
        return [(index, exc.code) for index, exc in errors]

    return run


@pytest.fixture
def shown(query, workspace):
    """The App API's attributes of a person, or None when they do not exist."""

    def get(value, kind="id"):
        try:
            return query(read.attributes_of, workspace.workspace_id, value, kind)["customer"]
        except ApiError:
            return None

    return get


@pytest.fixture
def person_of(query, workspace):
    return lambda value, kind="id": query(
        store.find, workspace.workspace_id, Identifier(kind, value)
    )


def person(action, ident="42", **rest):
    ids = ident if isinstance(ident, dict) else {"id": ident}
    return {"type": "person", "action": action, "identifiers": ids, **rest}


def obj(action, ids=ACME, **rest):
    return {"type": "object", "action": action, "identifiers": ids, **rest}


def event_rows(query, person_pk, type_=None):
    def fetch(conn):
        q = select(events.c.type, events.c.name, events.c.timestamp, events.c.data).where(
            events.c.person_id == person_pk
        )
        if type_ is not None:
            q = q.where(events.c.type == type_)
        return conn.execute(q.order_by(events.c.id)).all()

    return query(fetch)


def count(query, table, *conditions):
    statement = select(func.count()).select_from(table).where(*conditions)
    return query(lambda conn: conn.execute(statement).scalar())


def related_objects(query, person_pk):
    return [(r["object_id"], r["relationship_attributes"]) for r in query(rel.of_person, person_pk)]


# -- person ---------------------------------------------------------------


def test_identify_creates_updates_and_honours_update_only(v2, shown):
    assert v2(person("identify", attributes={"plan": "pro", "n": 1})) == []
    assert v2(person("identify", attributes={"n": 2, "plan": None}), now=NOW + 1) == []
    customer = shown("42")
    assert customer["attributes"]["n"] == "2" and "plan" not in customer["attributes"]
    assert v2(person("identify", "43", attributes={"_update": True, "a": 1})) == []
    assert shown("43") is None


def test_identify_timestamp_orders_racing_updates(v2, shown):
    v2(person("identify", attributes={"plan": "new"}, timestamp=NOW))
    v2(person("identify", attributes={"plan": "old"}, timestamp=NOW - 100))
    assert shown("42")["attributes"]["plan"] == "new"


def test_identify_by_cio_id_sets_email_and_relates_objects(v2, shown, person_of, query):
    v2(person("identify"))
    cio_id = person_of("42").cio_id
    rels = [{"identifiers": ACME, "relationship_attributes": {"role": "admin"}}]
    v2(
        person(
            "identify", {"cio_id": cio_id}, attributes={"email": "J@x.io"}, cio_relationships=rels
        )
    )
    assert shown("j@x.io", "email")["id"] == "42"
    assert related_objects(query, person_of("42").pk) == [("acme", {"role": "admin"})]


def test_delete_person(v2, shown):
    v2(person("identify", attributes={"a": 1}))
    assert v2(person("delete"), person("delete", "nobody")) == []
    assert shown("42") is None


def test_events_page_and_screen_create_the_person_and_dedup(v2, person_of, query):
    ops = [
        person("event", name="bought", attributes={"price": 9.5}, timestamp=NOW - 60),
        person("page", name="https://x.io/a", id="p1"),
        person("screen", name="home", id="p1"),
        person("event", "43", name="bought"),
    ]
    assert v2(*ops) == []
    assert v2(person("event", name="again", id="p1")) == []
    rows = event_rows(query, person_of("42").pk)
    picked = [(r.type, r.name, r.timestamp) for r in rows if r.type != "attribute_change"]
    assert picked == [("event", "bought", NOW - 60), ("page", "https://x.io/a", NOW)]
    assert msgspec.json.decode(rows[1].data) == {"price": 9.5}
    assert len(event_rows(query, person_of("43").pk, "event")) == 1


def test_events_for_suppressed_or_unknown_cio_id_are_dropped(v2, person_of, query, workspace):
    v2(person("suppress", "bad"))
    assert v2(person("event", "bad", name="x"), person("event", {"cio_id": "nope"}, name="x")) == []
    assert person_of("bad") is None
    ws = workspace.workspace_id
    assert count(query, events, events.c.workspace_id == ws, events.c.name == "x") == 0


def test_events_for_one_person_by_email_and_id_land_together(v2, person_of, query):
    v2(person("identify", attributes={"email": "a@x.io"}))
    v2(person("event", name="e1"), person("event", {"email": "A@X.io"}, name="e2"))
    names = [r.name for r in event_rows(query, person_of("42").pk, "event")]
    assert names == ["e1", "e2"]


def test_person_relationships_add_update_and_delete(v2, person_of, query):
    rels = [
        {"identifiers": ACME, "relationship_attributes": {"role": "admin", "since": 2020}},
        {"identifiers": {"object_type_id": "2", "object_id": "course"}},
    ]
    assert v2(person("add_relationships", cio_relationships=rels)) == []
    update = [{"identifiers": ACME, "relationship_attributes": {"role": None, "seat": "7"}}]
    v2(person("add_relationships", cio_relationships=update))
    pk = person_of("42").pk
    assert related_objects(query, pk) == [("acme", {"since": "2020", "seat": "7"}), ("course", {})]
    v2(person("delete_relationships", cio_relationships=[{"identifiers": ACME}]))
    assert related_objects(query, pk) == [("course", {})]


def test_devices_add_and_delete(v2, person_of, query):
    device = {"token": "tok", "platform": "android", "attributes": {"app_version": "1.2"}}
    assert v2(person("add_device", device=device)) == []
    pk = person_of("42").pk
    assert query(devices.of_person, pk) == [
        {"id": "tok", "platform": "android", "last_used": NOW, "attributes": {"app_version": "1.2"}}
    ]
    v2(person("delete_device", device={"token": "tok"}))
    assert query(devices.of_person, pk) == []


def test_merge_keeps_primary_and_fills_from_secondary(v2, shown):
    v2(
        person("identify", "p", attributes={"plan": "pro"}),
        person("identify", "s", attributes={"plan": "free", "email": "s@x.io", "city": "Oslo"}),
    )
    assert (
        v2({"type": "person", "action": "merge", "primary": {"id": "p"}, "secondary": {"id": "s"}})
        == []
    )
    assert shown("s") is None
    merged = shown("p")["attributes"]
    assert (merged["plan"], merged["city"], merged["email"]) == ("pro", "Oslo", "s@x.io")


def test_suppress_then_unsuppress(v2, shown):
    v2(person("identify", attributes={"email": "a@x.io"}))
    v2(person("suppress"))
    v2(person("identify", attributes={"a": 1}))
    assert shown("42") is None
    v2(person("unsuppress"))
    v2(person("identify", attributes={"a": 1}))
    assert shown("42")["attributes"]["a"] == "1"


# -- objects and deliveries -----------------------------------------------


def find_object(query, workspace, ids=ACME):
    return query(
        objects_store.find,
        workspace.workspace_id,
        ObjectRef(ids["object_type_id"], ids["object_id"]),
    )


def test_object_identify_creates_updates_and_relates(v2, query, workspace, person_of):
    rels = [{"identifiers": {"id": "42"}, "relationship_attributes": {"role": "owner"}}]
    assert (
        v2(obj("identify", attributes={"name": "Acme", "seats": 5}, cio_relationships=rels)) == []
    )
    v2(obj("identify", attributes={"seats": None, "plan": "ent"}))
    found = find_object(query, workspace)
    assert found.attributes == {"name": "Acme", "plan": "ent"}
    assert related_objects(query, person_of("42").pk) == [("acme", {"role": "owner"})]
    by_cio = {"cio_object_id": found.cio_object_id}
    v2(
        obj("identify", by_cio, attributes={"name": "Acme Inc"}),
        obj("identify", {"cio_object_id": "obnope"}),
    )
    assert find_object(query, workspace).attributes["name"] == "Acme Inc"
    assert count(query, objects, objects.c.workspace_id == workspace.workspace_id) == 1


def test_object_relationship_actions(v2, query, person_of):
    rels = [
        {"identifiers": {"id": "a"}},
        {"identifiers": {"email": "b@x.io"}, "relationship_attributes": {"r": 1}},
    ]
    assert v2(obj("add_relationships", cio_relationships=rels)) == []
    assert related_objects(query, person_of("b@x.io", "email").pk) == [("acme", {"r": "1"})]
    v2(
        obj(
            "delete_relationships",
            cio_relationships=[{"identifiers": {"id": "a"}}, {"identifiers": {"id": "ghost"}}],
        )
    )
    assert related_objects(query, person_of("a").pk) == []
    assert person_of("ghost") is None


def test_object_delete_removes_relationships(v2, query, workspace, person_of):
    v2(obj("add_relationships", cio_relationships=[{"identifiers": {"id": "a"}}]))
    assert v2(obj("delete"), obj("delete", {"object_type_id": "9", "object_id": "none"})) == []
    assert find_object(query, workspace) is None
    assert related_objects(query, person_of("a").pk) == []


def test_identify_anonymous_relationship_passes_to_the_identified_person(
    v2, query, person_of, workspace
):
    ws = workspace.workspace_id
    rels = [{"identifiers": {"anonymous_id": "anon-1"}, "relationship_attributes": {"seen": "yes"}}]
    assert v2(obj("identify_anonymous", attributes={"name": "Acme"}, cio_relationships=rels)) == []
    v2(
        obj(
            "identify_anonymous",
            {"object_type_id": "1", "object_id": "beta"},
            anonymous_id="anon-1",
        )
    )
    waiting = relationships.c.anonymous_id == "anon-1"
    assert count(query, relationships, relationships.c.workspace_id == ws, waiting) == 2
    v2(person("identify", attributes={"anonymous_id": "anon-1"}))
    pk = person_of("42").pk
    assert related_objects(query, pk) == [("acme", {"seen": "yes"}), ("beta", {})]
    v2(
        obj(
            "identify_anonymous",
            {"object_type_id": "1", "object_id": "gamma"},
            anonymous_id="anon-1",
        )
    )
    assert [o for o, _ in related_objects(query, pk)] == ["acme", "beta", "gamma"]


def test_delivery_event_records_a_metric(v2, query, workspace):
    op = {
        "type": "delivery",
        "action": "event",
        "identifiers": {"id": "dlv-1"},
        "name": "delivered",
        "attributes": {"device_token": "tok"},
        "timestamp": NOW - 3,
    }
    assert v2(op) == []
    rows = query(
        lambda c: c.execute(
            select(
                delivery_metrics.c.metric, delivery_metrics.c.timestamp, delivery_metrics.c.data
            ).where(delivery_metrics.c.workspace_id == workspace.workspace_id)
        ).all()
    )
    assert [(r.metric, r.timestamp, msgspec.json.decode(r.data)) for r in rows] == [
        ("delivered", NOW - 3, {"device_id": "tok"})
    ]


# -- batches --------------------------------------------------------------


def chunk(part):
    """About 30 KB of attributes: four of them exceed an object's 100 KB total."""
    return {f"k{part}_{i}": "v" * 990 for i in range(30)}


def test_a_refused_item_writes_nothing_and_the_rest_apply_in_order(v2, query, workspace, shown):
    huge = {"object_type_id": "1", "object_id": "huge"}
    late = [{"identifiers": {"id": "c"}}]
    ops = [
        person("identify", "a", attributes={"n": 1}),
        {"type": "nope"},
        obj("identify", attributes={"x": "1"}, cio_relationships=[{"identifiers": {"id": "b"}}]),
        *[obj("identify", huge, attributes=chunk(part)) for part in range(3)],
        obj("identify", huge, attributes=chunk(3), cio_relationships=late),
        person("event", "a", name="after"),
        person("delete", "a"),
    ]
    assert v2(*ops) == [(1, "invalid_request"), (6, "invalid_request")]
    assert shown("a") is None
    assert shown("b") is not None
    assert shown("c") is None
    kept = find_object(query, workspace, huge).attributes
    assert "k2_0" in kept and "k3_0" not in kept


def test_a_batch_of_only_invalid_items_reports_each(v2):
    assert v2({"type": "person"}, person("event")) == [
        (0, "invalid_request"),
        (1, "invalid_request"),
    ]


def test_entity_operation_refused_at_apply_time_raises(tx, workspace, query):
    for part in range(3):
        tx(
            run_operation,
            workspace.workspace_id,
            parse_operation(obj("identify", attributes=chunk(part)), NOW),
        )
    op = parse_operation(obj("identify", attributes=chunk(3)), NOW)
    with pytest.raises(ApiError):
        tx(run_operation, workspace.workspace_id, op)
    assert "k3_0" not in find_object(query, workspace).attributes


def test_workspaces_never_touch_each_other(v2, tx, other_workspace, person_of, query):
    v2(person("identify", attributes={"plan": "pro"}))
    items = parse_batch(
        {"batch": [person("delete"), person("event", name="x"), obj("delete")]}, NOW
    )
    tx(apply_batch, other_workspace.workspace_id, items, NOW)
    assert person_of("42") is not None
    other = query(store.find, other_workspace.workspace_id, Identifier("id", "42"))
    assert other is not None and other.pk != person_of("42").pk


def test_events_around_a_delete_apply_in_request_order(v2, person_of, query):
    v2(person("event", name="first"), person("delete"), person("event", name="second"))
    names = [r.name for r in event_rows(query, person_of("42").pk, "event")]
    assert names == ["second"]


def test_people_created_by_a_run_of_events_match_one_by_one_creation(tx, query, workspace):
    """bulk_people.create_many must leave what people.find_or_create leaves."""
    from tidings.people import bulk as bulk_people
    from tidings.people import service as people

    ws = workspace.workspace_id
    one = tx(people.find_or_create, ws, Identifier("email", "One@X.io"), NOW)
    made = tx(bulk_people.create_many, ws, [Identifier("email", "Two@X.io")], NOW)
    two = query(store.by_pk, made[("email", "two@x.io")])

    def trace(person):
        shown = query(read.customer, person)
        rows = event_rows(query, person.pk)
        attrs = {k: v for k, v in shown["attributes"].items() if k != "cio_id"}
        changes = [(r.type, r.name, r.timestamp, msgspec.json.decode(r.data)) for r in rows]
        return attrs, shown["timestamps"]["email"], changes, person.email, person.created_at

    def renamed(value):
        return msgspec.json.decode(msgspec.json.encode(value).replace(b"One@X.io", b"Two@X.io"))

    assert renamed(trace(one)[:3]) == renamed(trace(two)[:3])
    assert (two.email, two.created_at) == ("two@x.io", NOW)


def test_queued_event_batches_store_what_one_batch_after_another_does(
    tx, query, workspace, other_workspace
):
    """`apply_queued` (the batches sharing a commit) against `apply_batch` per batch."""

    def event(who, name, id_=None):
        op = {"type": "person", "identifiers": {"id": who}, "action": "event", "name": name}
        return {**op, "id": id_} if id_ else op

    batches = [
        [event("new-1", "a", "evt-1"), event("new-2", "b")],
        [event("new-1", "c", "evt-1"), event("new-2", "d"), {"type": "person"}],  # a repeat, a 400
    ]
    parsed = [parse_batch({"batch": ops}, NOW) for ops in batches]
    assert all(only_events(items) for items in parsed)
    queued_ws, single_ws = workspace.workspace_id, other_workspace.workspace_id
    tx(apply_queued, [(queued_ws, plain_events(items), NOW) for items in parsed])
    for items in parsed:
        tx(apply_batch, single_ws, items, NOW)

    def stored(conn, ws):
        rows = conn.execute(
            select(events.c.type, events.c.name, events.c.data).where(events.c.workspace_id == ws)
        )
        return sorted((tuple(row) for row in rows), key=repr)

    assert query(stored, queued_ws) == query(stored, single_ws)
    assert [row[1] for row in query(stored, queued_ws) if row[0] == "event"] == ["a", "b", "d"]
