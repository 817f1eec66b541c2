"""Track v2 parsing: pure validation of operations, batches and size limits."""

import pytest

from tidings.errors import ApiError
from tidings.events import service as events
from tidings.objects.store import ObjectRef
from tidings.people import devices, merge, objects
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.reporting import metrics
from tidings.track_v2.parse import (
    BATCH_LIMIT,
    ENTITY_LIMIT,
    ITEM_LIMIT,
    check_size,
    parse_batch,
    parse_operation,
)

NOW = 1_700_000_000


def person(action, ids=None, **rest):
    return {"type": "person", "action": action, "identifiers": ids or {"id": "42"}, **rest}


def obj(action, **rest):
    ids = {"object_type_id": "1", "object_id": "acme"}
    return {"type": "object", "action": action, "identifiers": ids, **rest}


def refused(raw):
    with pytest.raises(ApiError) as caught:
        parse_operation(raw, NOW)
    assert caught.value.status == 400
    return caught.value


# -- person ---------------------------------------------------------------


def test_identify_carries_attributes_update_timestamp_and_relationships():
    rels = [{"identifiers": {"object_type_id": "1", "object_id": "a"}}]
    op = parse_operation(
        person(
            "identify",
            attributes={"plan": "pro", "_update": True, "timestamp": 5},
            timestamp=NOW - 10,
            cio_relationships=rels,
        ),
        NOW,
    )
    assert op.fn is people.identify
    ident, request, now = op.args
    assert ident == Identifier("id", "42")
    assert request.update_only is True
    assert request.timestamp == NOW - 10
    assert request.relationships == rels
    assert request.attributes["plan"] == "pro"
    assert "_update" not in request.attributes
    assert now == NOW


def test_identify_defaults_timestamp_to_now_and_creates():
    _, request, _ = parse_operation(person("identify"), NOW).args
    assert request.timestamp == NOW
    assert request.update_only is False
    assert request.attributes == {}


def test_identify_with_email_attribute_names_a_body_identifier():
    _, request, _ = parse_operation(
        person("identify", {"cio_id": "abc"}, attributes={"email": "A@x.io"}), NOW
    ).args
    assert request.body_ids == {"email": "A@x.io"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (person("identify", attributes=[1]), "attributes"),
        (person("identify", attributes={"_update": "yes"}), "attributes._update"),
        (person("identify", timestamp="soon"), "timestamp"),
        (person("identify", cio_relationships={"a": 1}), "cio_relationships"),
        (
            person("identify", cio_relationships=[{"identifiers": {"object_id": "a"}}]),
            "cio_relationships[0].identifiers",
        ),
        (person("identify", attributes={"x" * 151: 1}), "attributes." + "x" * 151),
    ],
)
def test_identify_refusals_name_the_field(raw, field):
    assert refused(raw).field == field


@pytest.mark.parametrize(
    "ids",
    [None, {}, {"id": "1", "email": "a@b.c"}, {"phone": "+14155552671"}, {"id": ""}, {"id": True}],
)
def test_person_needs_exactly_one_supported_identifier(ids):
    raw = person("delete")
    raw["identifiers"] = ids
    assert refused(raw).field.startswith("identifiers")


def test_cio_id_identifier_drops_the_prefix():
    op = parse_operation(person("delete", {"cio_id": "cio_abc"}), NOW)
    assert op.args == (Identifier("cio_id", "abc"),)
    assert op.fn is people.delete_person and not op.may_refuse


@pytest.mark.parametrize("action", ["event", "page", "screen"])
def test_events_use_attributes_as_data_and_are_bulkable(action):
    raw = person(action, name="viewed", id="01HX", timestamp=NOW - 5, attributes={"a": 1})
    op = parse_operation(raw, NOW)
    assert op.fn is events.track
    assert op.event == events.Event("viewed", action, '{"a":1}', NOW - 5, "01HX")
    assert op.ident == Identifier("id", "42")


def test_event_needs_a_name_and_object_attributes():
    assert refused(person("event")).field == "name"
    assert refused(person("event", name="x", attributes=[1])).field == "attributes"


def test_person_relationships_need_a_list_of_object_identifiers():
    rels = [{"identifiers": {"cio_object_id": "ob1"}, "relationship_attributes": {"r": 1}}]
    op = parse_operation(person("add_relationships", cio_relationships=rels), NOW)
    assert op.fn is objects.relate_person
    assert op.args[1:3] == ("add_relationships", rels)
    assert refused(person("delete_relationships")).field == "cio_relationships"
    bad = [{"identifiers": {"cio_object_id": "ob1"}, "relationship_attributes": "r"}]
    raw = person("add_relationships", cio_relationships=bad)
    assert refused(raw).field == "cio_relationships[0].relationship_attributes"


def test_devices_use_token():
    device = {"token": "tok", "platform": "ios", "last_used": NOW}
    op = parse_operation(person("add_device", device=device), NOW)
    assert op.fn is devices.add_to
    assert op.args[1] == devices.Device("tok", "ios", NOW, {})
    assert refused(person("add_device", device={"token": "t", "platform": "web"})).field == "device"
    op = parse_operation(person("delete_device", device={"token": "tok"}), NOW)
    assert op.fn is devices.remove_from and op.args[1] == "tok"
    assert refused(person("delete_device", device={})).field == "device.token"
    assert refused(person("delete_device")).field == "device"


def test_merge_names_primary_and_secondary():
    raw = {
        "type": "person",
        "action": "merge",
        "primary": {"id": "a"},
        "secondary": {"email": "b@c"},
    }
    op = parse_operation(raw, NOW)
    assert op.fn is merge.merge_people
    assert op.args == (Identifier("id", "a"), Identifier("email", "b@c"), NOW)
    del raw["secondary"]
    assert refused(raw).field == "secondary"


def test_suppress_and_unsuppress():
    assert parse_operation(person("suppress"), NOW).fn is people.suppress
    assert parse_operation(person("unsuppress"), NOW).fn is people.unsuppress


# -- object and delivery --------------------------------------------------


def test_object_identify_relates_people():
    rels = [{"identifiers": {"email": "a@b.c"}, "relationship_attributes": {"role": "admin"}}]
    op = parse_operation(obj("identify", attributes={"name": "Acme"}, cio_relationships=rels), NOW)
    assert op.fn is objects.identify_object
    ref, attrs, related, now = op.args
    assert ref == ObjectRef(type_id="1", object_id="acme")
    assert attrs == {"name": "Acme"}
    assert related == [(Identifier("email", "a@b.c"), {"role": "admin"})]


def test_object_identifiers_are_checked():
    assert refused(obj("delete", identifiers={"object_id": "a"})).field == "identifiers"
    raw = obj("delete", identifiers={"object_type_id": "0", "object_id": "a"})
    assert refused(raw).field == "identifiers.object_type_id"
    op = parse_operation(obj("delete", identifiers={"cio_object_id": "ob12"}), NOW)
    assert op.args == (ObjectRef(cio_object_id="ob12"),)


def test_object_identify_anonymous_accepts_both_forms():
    rels = [{"identifiers": {"anonymous_id": "anon-1"}, "relationship_attributes": {"r": "1"}}]
    raw = obj("identify_anonymous", cio_relationships=rels, anonymous_id="anon-2")
    op = parse_operation(raw, NOW)
    assert op.fn is objects.identify_anonymous
    assert op.args[2] == [("anon-1", {"r": "1"}), ("anon-2", {})]
    bad = [{"identifiers": {"id": "42"}}]
    assert refused(obj("identify_anonymous", cio_relationships=bad)).field == (
        "cio_relationships[0].identifiers"
    )


def test_object_relationship_actions_need_people():
    rels = [{"identifiers": {"id": "42"}}]
    op = parse_operation(obj("delete_relationships", cio_relationships=rels), NOW)
    assert op.fn is objects.relate_people
    assert op.args[1:3] == ("delete_relationships", [(Identifier("id", "42"), {})])
    assert refused(obj("add_relationships")).field == "cio_relationships"
    bad = [{"identifiers": {"object_id": "x"}}]
    assert refused(obj("add_relationships", cio_relationships=bad)).field.startswith(
        "cio_relationships[0].identifiers"
    )


def test_object_attribute_limits():
    assert refused(obj("identify", attributes={"v": "x" * 1001})).field == "attributes.v"
    assert refused(obj("identify", attributes="x")).field == "attributes"


def test_delivery_event_records_a_metric():
    raw = {
        "type": "delivery",
        "action": "event",
        "identifiers": {"id": "dlv1"},
        "name": "opened",
        "attributes": {"device_token": "tok"},
    }
    op = parse_operation(raw, NOW)
    assert op.fn is metrics.record_metric
    assert op.args == ("dlv1", "opened", NOW, {"device_id": "tok"})
    assert refused({**raw, "name": "clicked"}).field == "name"
    assert refused({**raw, "attributes": {}}).field == "attributes.device_token"
    assert refused({**raw, "identifiers": {}}).field == "identifiers.id"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], ""),
        ({"type": "company", "action": "identify"}, "type"),
        ({"type": "person", "action": "identify_anonymous", "identifiers": {"id": "1"}}, "action"),
        ({"type": "object", "action": "event"}, "action"),
        ({"type": "delivery", "action": "identify"}, "action"),
        ({"type": "person"}, "action"),
    ],
)
def test_type_and_action_must_match_the_matrix(raw, field):
    assert refused(raw).field == field


# -- batch envelope and sizes -------------------------------------------


@pytest.mark.parametrize("body", [[], {"batch": []}, {"batch": {}}, {"other": 1}, "x"])
def test_batch_must_be_a_non_empty_array(body):
    with pytest.raises(ApiError) as caught:
        parse_batch(body, NOW)
    assert caught.value.status == 400


def test_batch_items_are_parsed_or_refused_in_place():
    big = person("identify", attributes={f"a{i}": "x" * 900 for i in range(40)})
    items = parse_batch({"batch": [person("delete"), {"type": "x"}, big]}, NOW)
    assert items[0].fn is people.delete_person
    assert isinstance(items[1], ApiError) and items[1].field == "type"
    assert isinstance(items[2], ApiError) and items[2].code == "too_large"


def test_small_bodies_skip_measuring_items():
    items = parse_batch({"batch": [person("delete")]}, NOW, body_size=100)
    assert items[0].fn is people.delete_person


def test_request_size_limits():
    check_size(b"x" * ENTITY_LIMIT, ENTITY_LIMIT)
    with pytest.raises(ApiError) as caught:
        check_size(b"x" * (ENTITY_LIMIT + 1), ENTITY_LIMIT)
    assert (caught.value.status, caught.value.code) == (400, "too_large")
    assert BATCH_LIMIT == 512_000 and ITEM_LIMIT == 32_768
