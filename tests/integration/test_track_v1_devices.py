"""Devices on a real database: BEHAVIOUR.md 3.5."""

from tidings.people import devices, read, service, store
from tidings.people.identifiers import classify

NOW = 1_700_000_000


def add(tx, ws, raw, body, now=NOW):
    tx(devices.add_to, ws, classify(raw), devices.parse_device(body, token_key="id"), now)


def devices_of(query, ws, raw):
    return query(read.attributes_of, ws, raw, "id")["customer"]["devices"]


def test_adding_a_device_creates_the_person(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "u1", {"id": "tok1", "platform": "ios", "last_used": 1690000000})
    assert devices_of(query, ws, "u1") == [
        {"id": "tok1", "platform": "ios", "last_used": 1690000000}
    ]


def test_last_used_defaults_to_the_time_of_the_request(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "u1", {"id": "tok1", "platform": "android"}, NOW + 7)
    assert devices_of(query, ws, "u1")[0]["last_used"] == NOW + 7


def test_re_adding_a_token_updates_it(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "u1", {"id": "tok1", "platform": "ios", "app_version": "1.0", "device_os": "17"})
    add(tx, ws, "u1", {"id": "tok1", "platform": "ios", "attributes": {"app_version": "1.1"}})
    assert devices_of(query, ws, "u1") == [
        {
            "id": "tok1",
            "platform": "ios",
            "last_used": NOW,
            "attributes": {"app_version": "1.1", "device_os": "17"},
        }
    ]


def test_every_client_shape_is_accepted(tx, query, workspace):
    ws = workspace.workspace_id
    add(
        tx, ws, "u1", {"last_used": 1700000000, "app_version": "1.2", "id": "py", "platform": "ios"}
    )
    add(tx, ws, "u1", {"id": "node", "platform": "ios", "attributes": {"device_os": "17"}})
    add(
        tx,
        ws,
        "u1",
        {"id": "go", "platform": "android", "last_used": "1700000001", "attributes": None},
    )
    shown = {d["id"]: d for d in devices_of(query, ws, "u1")}
    assert shown["py"]["attributes"] == {"app_version": "1.2"}
    assert shown["node"]["attributes"] == {"device_os": "17"}
    assert shown["go"]["last_used"] == 1700000001
    assert "attributes" not in shown["go"]


def test_a_token_belongs_to_one_person(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "u1", {"id": "shared", "platform": "ios"})
    add(tx, ws, "u2", {"id": "shared", "platform": "ios"})
    assert devices_of(query, ws, "u1") == []
    assert [d["id"] for d in devices_of(query, ws, "u2")] == ["shared"]


def test_the_same_token_in_two_workspaces_is_two_devices(tx, query, workspace, other_workspace):
    add(tx, workspace.workspace_id, "u1", {"id": "shared", "platform": "ios"})
    add(tx, other_workspace.workspace_id, "u1", {"id": "shared", "platform": "android"})
    assert devices_of(query, workspace.workspace_id, "u1")[0]["platform"] == "ios"
    assert devices_of(query, other_workspace.workspace_id, "u1")[0]["platform"] == "android"


def test_remove_a_device(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "u1", {"id": "tok/1", "platform": "ios"})
    add(tx, ws, "u1", {"id": "tok2", "platform": "ios"})
    tx(devices.remove_from, ws, classify("u1"), "tok/1")
    assert [d["id"] for d in devices_of(query, ws, "u1")] == ["tok2"]


def test_remove_only_touches_the_named_persons_device(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "u1", {"id": "tok1", "platform": "ios"})
    tx(service.identify, ws, classify("u2"), service.parse_identify({}, NOW), NOW)
    tx(devices.remove_from, ws, classify("u2"), "tok1")
    tx(devices.remove_from, ws, classify("nobody"), "tok1")
    assert [d["id"] for d in devices_of(query, ws, "u1")] == ["tok1"]
    assert query(store.find, ws, classify("nobody")) is None


def test_removing_a_device_then_sending_it_again_re_adds_it(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "u1", {"id": "tok1", "platform": "ios"})
    tx(devices.remove_from, ws, classify("u1"), "tok1")
    add(tx, ws, "u1", {"id": "tok1", "platform": "ios"})
    assert [d["id"] for d in devices_of(query, ws, "u1")] == ["tok1"]


def test_devices_address_a_person_by_email_case_insensitively(tx, query, workspace):
    ws = workspace.workspace_id
    add(tx, ws, "A@Example.com", {"id": "tok1", "platform": "ios"})
    add(tx, ws, "a@example.COM", {"id": "tok2", "platform": "ios"})
    shown = query(read.attributes_of, ws, "a@example.com", "email")["customer"]["devices"]
    assert [d["id"] for d in shown] == ["tok1", "tok2"]
