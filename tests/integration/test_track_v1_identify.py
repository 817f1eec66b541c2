"""Identify (`PUT /api/v1/customers/{identifier}`) on a real database: BEHAVIOUR.md 3.1, 3.2."""

import re

import msgspec
import pytest
from sqlalchemy import select

from tidings.db.schema import events
from tidings.errors import ApiError
from tidings.objects import relationships
from tidings.objects import store as objects_store
from tidings.people import read, service, store
from tidings.people.identifiers import Identifier, classify

NOW = 1_700_000_000


def identify(tx, ws, raw, body, now=NOW):
    return tx(service.identify, ws, classify(raw), service.parse_identify(body, now), now)


def shown(query, ws, raw, id_type="id"):
    return query(read.attributes_of, ws, raw, id_type)["customer"]


def find(query, ws, raw):
    return query(store.find, ws, classify(raw))


def activity(conn, person_pk, type_):
    rows = conn.execute(
        select(events.c.name, events.c.data)
        .where(events.c.person_id == person_pk, events.c.type == type_)
        .order_by(events.c.id)
    )
    return [(name, msgspec.json.decode(data)) for name, data in rows]


def test_identify_creates_then_merges_attributes(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"plan": "pro", "seats": 3})
    identify(tx, ws, "u1", {"seats": 4, "vip": True}, NOW + 5)
    customer = shown(query, ws, "u1")
    assert customer["id"] == "u1"
    assert customer["attributes"]["plan"] == "pro"  # absent keys are untouched
    assert customer["attributes"]["seats"] == "4"  # values come back as strings
    assert customer["attributes"]["vip"] == "true"
    assert customer["attributes"]["id"] == "u1"
    assert customer["timestamps"]["plan"] == NOW
    assert customer["timestamps"]["seats"] == NOW + 5


def test_empty_body_creates_a_person_with_just_the_identifier(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "bare", {})
    assert shown(query, ws, "bare")["attributes"]["id"] == "bare"


def test_a_generated_cio_id_is_short_hex_unique_and_immutable(tx, query, workspace):
    ws = workspace.workspace_id
    first = identify(tx, ws, "u1", {})
    second = identify(tx, ws, "u2", {})
    assert re.fullmatch(r"[0-9a-f]{8,32}", first.cio_id)
    assert first.cio_id != second.cio_id
    identify(tx, ws, "u1", {"cio_id": "hijack", "plan": "x"})
    identify(tx, ws, f"cio_{first.cio_id}", {"id": "renamed"})
    customer = shown(query, ws, first.cio_id, "cio_id")
    assert customer["identifiers"]["cio_id"] == first.cio_id
    assert customer["attributes"]["cio_id"] == first.cio_id
    assert customer["id"] == "renamed"


def test_email_is_case_insensitive(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "Person@Example.com", {"plan": "a"})
    again = identify(tx, ws, "person@EXAMPLE.com", {"seats": 2})
    assert again.pk == person.pk
    for spelling in ("PERSON@example.COM", "person@example.com"):
        customer = shown(query, ws, spelling, "email")
        assert customer["attributes"]["plan"] == "a"
        assert customer["attributes"]["seats"] == "2"


def test_email_in_the_body_is_matched_case_insensitively(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "u1", {"email": "Mixed@Case.io"})
    assert find(query, ws, "mixed@case.io").pk == person.pk


def test_update_only_never_creates(tx, query, workspace):
    ws = workspace.workspace_id
    assert identify(tx, ws, "ghost", {"plan": "x", "_update": True}) is None
    assert identify(tx, ws, "ghost@example.com", {"_update": True}) is None
    assert find(query, ws, "ghost") is None
    assert find(query, ws, "ghost@example.com") is None


def test_update_only_updates_someone_who_exists(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"plan": "a"})
    identify(tx, ws, "u1", {"plan": "b", "_update": True})
    assert shown(query, ws, "u1")["attributes"]["plan"] == "b"


def test_timestamp_orders_racing_updates(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"plan": "newest", "_timestamp": NOW + 100})
    identify(tx, ws, "u1", {"plan": "stale", "seats": 1, "_timestamp": NOW + 50})
    customer = shown(query, ws, "u1")
    assert customer["attributes"]["plan"] == "newest"
    assert customer["timestamps"]["plan"] == NOW + 100
    assert customer["attributes"]["seats"] == "1"  # per attribute: a new one is still set
    identify(tx, ws, "u1", {"plan": "later", "timestamp": NOW + 200})
    assert shown(query, ws, "u1")["attributes"]["plan"] == "later"


def test_a_stale_removal_does_not_remove_a_newer_value(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"plan": "newest", "_timestamp": NOW + 100})
    identify(tx, ws, "u1", {"plan": None, "_timestamp": NOW + 50})
    assert shown(query, ws, "u1")["attributes"]["plan"] == "newest"


@pytest.mark.parametrize("removal", [None, ""])
def test_null_or_empty_string_removes_an_attribute(tx, query, workspace, removal):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"plan": "pro", "seats": 2})
    identify(tx, ws, "u1", {"plan": removal})
    customer = shown(query, ws, "u1")
    assert "plan" not in customer["attributes"]
    assert "plan" not in customer["timestamps"]
    assert customer["attributes"]["seats"] == "2"


def test_removing_an_attribute_nobody_set_is_harmless(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"never": None, "also": ""})
    assert "never" not in shown(query, ws, "u1")["attributes"]


def test_created_at_is_kept_as_given(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"created_at": 1704067200})
    assert shown(query, ws, "u1")["attributes"]["created_at"] == "1704067200"


@pytest.mark.parametrize(
    ("value", "unsubscribed"),
    [(True, True), ("TRUE", True), (1, True), ("1", True), (False, False), ("no", False)],
)
def test_unsubscribed_flag(tx, query, workspace, value, unsubscribed):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"unsubscribed": value})
    assert shown(query, ws, "u1")["unsubscribed"] is unsubscribed


def test_not_unsubscribed_by_default(tx, query, workspace):
    identify(tx, workspace.workspace_id, "u1", {})
    assert shown(query, workspace.workspace_id, "u1")["unsubscribed"] is False


def test_unknown_path_identifier_updates_the_owner_of_a_body_identifier(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "a@example.com", {"plan": "a"})
    again = identify(tx, ws, "u9", {"email": "a@example.com", "seats": 1})
    assert again.pk == person.pk
    customer = shown(query, ws, "u9")
    assert customer["identifiers"] == {
        "email": "a@example.com",
        "id": "u9",
        "cio_id": person.cio_id,
    }
    assert customer["attributes"]["plan"] == "a"


def test_new_id_with_an_existing_email_gives_that_person_the_id(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "a@example.com", {})
    identify(tx, ws, "a@example.com", {"id": "u1"})
    assert find(query, ws, "u1").pk == person.pk


def test_identifiers_of_someone_else_are_an_attribute_update_failure(tx, query, workspace):
    ws = workspace.workspace_id
    alice = identify(tx, ws, "alice", {"email": "alice@example.com"})
    bob = identify(tx, ws, "bob", {"email": "bob@example.com"})
    identify(tx, ws, "bob", {"email": "alice@example.com", "plan": "x"})
    customer = shown(query, ws, "bob")
    assert customer["identifiers"]["email"] == "bob@example.com"
    assert customer["attributes"]["email"] == "bob@example.com"
    assert customer["attributes"]["plan"] == "x"  # the rest of the call still applies
    assert find(query, ws, "alice@example.com").pk == alice.pk
    failures = query(activity, bob.pk, "failed_attribute_change")
    assert failures[0][0] == "email"
    assert failures[0][1]["to"] == "alice@example.com"


def test_an_id_cannot_be_changed_through_an_email_path(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "u1", {"email": "a@example.com"})
    identify(tx, ws, "a@example.com", {"id": "u2"})
    assert find(query, ws, "u1").pk == person.pk
    assert find(query, ws, "u2") is None
    assert query(activity, person.pk, "failed_attribute_change")[0][0] == "id"


def test_an_id_can_be_changed_through_the_cio_id(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "u1", {"email": "a@example.com"})
    identify(tx, ws, f"cio_{person.cio_id}", {"id": "u2", "email": "b@example.com"})
    assert find(query, ws, "u1") is None
    customer = shown(query, ws, "u2")
    assert customer["identifiers"] == {
        "email": "b@example.com",
        "id": "u2",
        "cio_id": person.cio_id,
    }
    assert find(query, ws, "a@example.com") is None


def test_an_unknown_cio_id_is_dropped(tx, query, workspace):
    ws = workspace.workspace_id
    assert identify(tx, ws, "cio_000000000000", {"id": "u1", "plan": "x"}) is None
    assert find(query, ws, "u1") is None


def test_suppressed_identifiers_are_ignored(tx, query, workspace):
    ws = workspace.workspace_id
    tx(service.suppress, ws, Identifier("id", "u1"), NOW)
    assert identify(tx, ws, "u1", {"plan": "x"}) is None
    assert identify(tx, ws, "new@example.com", {"id": "u1"}) is None
    assert find(query, ws, "u1") is None
    assert find(query, ws, "new@example.com") is None


def test_same_identifier_in_two_workspaces_is_two_people(tx, query, workspace, other_workspace):
    mine, theirs = workspace.workspace_id, other_workspace.workspace_id
    identify(tx, mine, "u1", {"plan": "mine"})
    identify(tx, theirs, "u1", {"plan": "theirs"})
    assert shown(query, mine, "u1")["attributes"]["plan"] == "mine"
    assert shown(query, theirs, "u1")["attributes"]["plan"] == "theirs"
    assert (
        shown(query, mine, "u1")["identifiers"]["cio_id"]
        != (shown(query, theirs, "u1")["identifiers"]["cio_id"])
    )


def test_changes_are_logged_as_one_activity(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "u1", {"plan": "a"})
    identify(tx, ws, "u1", {"plan": "b", "seats": 1})
    identify(tx, ws, "u1", {"plan": "b"})  # no change, no activity
    logged = query(activity, person.pk, "attribute_change")
    assert len(logged) == 2
    assert logged[1][1]["attributes"] == {
        "plan": {"from": "a", "to": "b"},
        "seats": {"from": None, "to": "1"},
    }


def test_any_json_value_is_accepted_and_kept(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"score": 9.5, "tags": ["a", "b"], "address": {"city": "Oslo"}})
    attrs = shown(query, ws, "u1")["attributes"]
    assert attrs["score"] == "9.5"
    assert msgspec.json.decode(attrs["tags"]) == ["a", "b"]
    assert msgspec.json.decode(attrs["address"]) == {"city": "Oslo"}


def test_dotted_subscription_preference_updates_one_topic(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {"cio_subscription_preferences.topics.topic_1": True})
    prefs = shown(query, ws, "u1")["attributes"]["cio_subscription_preferences"]
    assert msgspec.json.decode(prefs) == {"topics": {"topic_1": True}}


def related(conn, ws, raw):
    person = store.find(conn, ws, classify(raw))
    return {(r["object_type_id"], r["object_id"]) for r in relationships.of_person(conn, person.pk)}


def test_cio_relationships_add_and_delete(tx, query, workspace):
    ws = workspace.workspace_id
    acme = {"identifiers": {"object_type_id": "1", "object_id": "acme"}}
    globex = {
        "identifiers": {"object_type_id": "1", "object_id": "globex"},
        "relationship_attributes": {"role": "admin"},
    }
    identify(tx, ws, "u1", {"cio_relationships": {"relationships": [acme, globex]}})
    assert query(related, ws, "u1") == {("1", "acme"), ("1", "globex")}
    identify(
        tx,
        ws,
        "u1",
        {"cio_relationships": {"action": "delete_relationships", "relationships": [acme]}},
    )
    assert query(related, ws, "u1") == {("1", "globex")}
    identify(tx, ws, "u1", {"cio_relationships": [acme]})  # a bare list adds
    assert query(related, ws, "u1") == {("1", "acme"), ("1", "globex")}


def test_bad_relationships_fail_the_whole_identify(tx, query, workspace):
    ws = workspace.workspace_id
    body = {
        "plan": "x",
        "cio_relationships": [
            {"identifiers": {"object_type_id": "1", "object_id": "acme"}},
            {"identifiers": "nonsense"},
        ],
    }
    with pytest.raises(ApiError) as caught:
        identify(tx, ws, "u1", body)
    assert caught.value.status == 400
    assert find(query, ws, "u1") is None
    ref = objects_store.ObjectRef(type_id="1", object_id="acme")
    assert query(objects_store.find, ws, ref) is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("u1", {"id": "u2"}),
        ("a@example.com", {"email": "b@example.com"}),
    ],
)
def test_a_body_identifier_cannot_rename_the_path_identifier(tx, query, workspace, path, body):
    ws = workspace.workspace_id
    person = identify(tx, ws, path, {"email": "a@example.com"} if path == "u1" else {})
    identify(tx, ws, path, {**body, "plan": "x"})
    ((kind, asked),) = body.items()
    customer = query(read.customer, query(store.by_pk, person.pk))
    assert customer["attributes"][kind] == path  # attribute and identifier agree
    assert customer["identifiers"][kind] == path
    assert customer["attributes"]["plan"] == "x"
    assert find(query, ws, asked) is None
    assert query(activity, person.pk, "failed_attribute_change")[0] == (
        kind,
        {"attribute": kind, "to": asked, "reason": f"{kind} can only be changed by cio_id"},
    )


def test_the_same_identifier_in_path_and_body_is_no_change(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "a@example.com", {"email": "A@Example.com", "id": "u1"})
    identify(tx, ws, "u1", {"id": "u1", "email": "a@example.com"})
    assert query(activity, person.pk, "failed_attribute_change") == []
    assert shown(query, ws, "u1")["identifiers"]["email"] == "a@example.com"


@pytest.mark.parametrize("removal", [None, ""])
def test_removing_the_email_attribute_removes_the_email_identifier(tx, query, workspace, removal):
    ws = workspace.workspace_id
    person = identify(tx, ws, "u1", {"email": "a@example.com"})
    identify(tx, ws, "u1", {"email": removal})
    customer = shown(query, ws, "u1")
    assert "email" not in customer["attributes"]
    assert customer["identifiers"]["email"] is None
    assert find(query, ws, "a@example.com") is None
    assert identify(tx, ws, "a@example.com", {}).pk != person.pk  # the email is free again


def test_the_path_identifier_cannot_be_removed_by_the_same_call(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "a@example.com", {"id": "u1"})
    identify(tx, ws, "a@example.com", {"email": None})
    identify(tx, ws, "u1", {"id": ""})
    customer = query(read.customer, query(store.by_pk, person.pk))
    assert customer["attributes"]["email"] == customer["identifiers"]["email"] == "a@example.com"
    assert customer["attributes"]["id"] == customer["identifiers"]["id"] == "u1"
    assert [name for name, _ in query(activity, person.pk, "failed_attribute_change")] == [
        "email",
        "id",
    ]


def test_an_id_is_removed_only_through_the_cio_id(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "a@example.com", {"id": "u1"})
    identify(tx, ws, "a@example.com", {"id": None})
    assert shown(query, ws, "u1")["attributes"]["id"] == "u1"
    identify(tx, ws, f"cio_{person.cio_id}", {"id": None})
    customer = shown(query, ws, "a@example.com", "email")
    assert customer["id"] is None
    assert "id" not in customer["attributes"]
    assert find(query, ws, "u1") is None


def test_an_unknown_cio_id_in_the_body_drops_the_call(tx, query, workspace):
    ws = workspace.workspace_id
    assert identify(tx, ws, "u1", {"cio_id": "000000000000", "plan": "x"}) is None
    assert find(query, ws, "u1") is None
    person = identify(tx, ws, "u2", {})
    assert identify(tx, ws, "u2", {"cio_id": "000000000000", "plan": "x"}) is None
    assert "plan" not in query(store.load_attributes, person.pk)


def test_a_known_cio_id_in_the_body_names_the_person(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "a@example.com", {})
    # Ruby's identify(cio_id: ...) sends the cio_id in the path and the body
    identify(tx, ws, f"cio_{person.cio_id}", {"cio_id": person.cio_id, "plan": "x"})
    assert shown(query, ws, "a@example.com", "email")["attributes"]["plan"] == "x"
    again = identify(tx, ws, "u1", {"cio_id": person.cio_id})
    assert again.pk == person.pk
    assert shown(query, ws, "u1")["identifiers"]["email"] == "a@example.com"
