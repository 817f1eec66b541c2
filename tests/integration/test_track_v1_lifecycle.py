"""Delete, suppress and unsuppress on a real database: BEHAVIOUR.md 3.3, 3.6."""

from sqlalchemy import func, select

from tidings.db.schema import attributes, devices, events, segment_members
from tidings.events import service as events_service
from tidings.people import devices as devices_service
from tidings.people import service, store
from tidings.people.identifiers import classify
from tidings.segments import service as segments

NOW = 1_700_000_000


def identify(tx, ws, raw, body, now=NOW):
    return tx(service.identify, ws, classify(raw), service.parse_identify(body, now), now)


def find(query, ws, raw):
    return query(store.find, ws, classify(raw))


def rows_of(conn, person_pk):
    """How many rows of each per-person table still point at this person."""
    counts = {}
    for table in (attributes, events, devices, segment_members):
        counts[table.name] = conn.execute(
            select(func.count()).select_from(table).where(table.c.person_id == person_pk)
        ).scalar_one()
    return counts


def populate(tx, ws, raw):
    """A person with attributes, an event, a device and a manual segment membership."""
    person = identify(tx, ws, raw, {"email": f"{raw}@example.com", "plan": "pro"})
    event = events_service.parse_event({"name": "purchase"})
    tx(events_service.track, ws, classify(raw), event, NOW)
    device = devices_service.parse_device({"id": f"tok-{raw}", "platform": "ios"}, token_key="id")
    tx(devices_service.add_to, ws, classify(raw), device, NOW)
    segment = tx(segments.create_manual, ws, {"segment": {"name": "vip"}}, NOW)
    tx(segments.change_members, ws, segment["id"], "id", [raw], NOW, True)
    return person


def test_delete_removes_the_person_and_everything_theirs(tx, query, workspace):
    ws = workspace.workspace_id
    person = populate(tx, ws, "u1")
    assert all(query(rows_of, person.pk).values())
    tx(service.delete_person, ws, classify("u1"))
    assert find(query, ws, "u1") is None
    assert find(query, ws, "u1@example.com") is None
    assert set(query(rows_of, person.pk).values()) == {0}


def test_delete_by_email_or_cio_id(tx, query, workspace):
    ws = workspace.workspace_id
    first = identify(tx, ws, "a@example.com", {})
    second = identify(tx, ws, "u2", {})
    tx(service.delete_person, ws, classify("A@EXAMPLE.com"))
    tx(service.delete_person, ws, classify(f"cio_{second.cio_id}"))
    assert query(store.by_pk, first.pk) is None
    assert query(store.by_pk, second.pk) is None


def test_a_deleted_person_can_be_created_again_afresh(tx, query, workspace):
    ws = workspace.workspace_id
    old = identify(tx, ws, "u1", {"plan": "pro"})
    tx(service.delete_person, ws, classify("u1"))
    new = identify(tx, ws, "u1", {"seats": 1})
    assert new.cio_id != old.cio_id
    attrs = query(store.load_attributes, new.pk)
    assert "plan" not in attrs
    assert "seats" in attrs


def test_the_old_cio_id_of_a_deleted_person_is_dead(tx, query, workspace):
    ws = workspace.workspace_id
    old = identify(tx, ws, "u1", {})
    tx(service.delete_person, ws, classify("u1"))
    assert identify(tx, ws, f"cio_{old.cio_id}", {"plan": "x"}) is None


def test_deleting_nobody_is_harmless(tx, query, workspace):
    ws = workspace.workspace_id
    bystander = populate(tx, ws, "u1")
    before = query(rows_of, bystander.pk)
    tx(service.delete_person, ws, classify("nobody"))  # no error
    assert find(query, ws, "nobody") is None  # it made no one
    assert query(rows_of, bystander.pk) == before  # and touched no one else
    assert identify(tx, ws, "nobody", {}) is not None  # nor blocked the id


def test_delete_stays_in_its_workspace(tx, query, workspace, other_workspace):
    identify(tx, workspace.workspace_id, "u1", {})
    identify(tx, other_workspace.workspace_id, "u1", {})
    tx(service.delete_person, other_workspace.workspace_id, classify("u1"))
    assert find(query, workspace.workspace_id, "u1") is not None


def test_suppress_deletes_and_blocks_id_and_email(tx, query, workspace):
    ws = workspace.workspace_id
    person = populate(tx, ws, "u1")
    tx(service.suppress, ws, classify("u1"), NOW)
    assert query(store.by_pk, person.pk) is None
    assert set(query(rows_of, person.pk).values()) == {0}
    # every later call naming either identifier is ignored
    assert identify(tx, ws, "u1", {"plan": "x"}) is None
    assert identify(tx, ws, "u1@example.com", {"plan": "x"}) is None
    assert identify(tx, ws, "U1@Example.com", {"plan": "x"}) is None
    tx(events_service.track, ws, classify("u1"), events_service.parse_event({"name": "e"}), NOW)
    device = devices_service.parse_device({"id": "tok", "platform": "ios"}, token_key="id")
    tx(devices_service.add_to, ws, classify("u1@example.com"), device, NOW)
    assert find(query, ws, "u1") is None
    assert find(query, ws, "u1@example.com") is None


def test_suppressing_someone_unknown_blocks_that_identifier(tx, query, workspace):
    ws = workspace.workspace_id
    tx(service.suppress, ws, classify("Later@Example.com"), NOW)
    assert identify(tx, ws, "later@example.com", {}) is None
    assert identify(tx, ws, "u5", {"email": "later@example.com"}) is None
    assert find(query, ws, "u5") is None


def test_suppressing_twice_is_harmless(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "u1", {})
    tx(service.suppress, ws, classify("u1"), NOW)
    tx(service.suppress, ws, classify("u1"), NOW + 1)
    assert identify(tx, ws, "u1", {}) is None


def test_unsuppress_frees_both_identifiers_without_restoring_the_profile(tx, query, workspace):
    ws = workspace.workspace_id
    old = identify(tx, ws, "u1", {"email": "a@example.com", "plan": "pro"})
    tx(service.suppress, ws, classify("u1"), NOW)
    tx(service.unsuppress, ws, classify("A@example.com"))
    assert find(query, ws, "u1") is None  # not restored
    fresh = identify(tx, ws, "u1", {"seats": 1})
    assert fresh.cio_id != old.cio_id
    assert "plan" not in query(store.load_attributes, fresh.pk)
    assert identify(tx, ws, "a@example.com", {}) is not None


def test_unsuppress_by_the_old_cio_id(tx, query, workspace):
    ws = workspace.workspace_id
    old = identify(tx, ws, "u1", {"email": "a@example.com"})
    tx(service.suppress, ws, classify("a@example.com"), NOW)
    tx(service.unsuppress, ws, classify(f"cio_{old.cio_id}"))
    assert identify(tx, ws, "u1", {}) is not None
    assert identify(tx, ws, "a@example.com", {}) is not None


def test_unsuppressing_someone_never_suppressed_is_harmless(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "blocked", {})
    tx(service.suppress, ws, classify("blocked"), NOW)
    bystander = identify(tx, ws, "u1", {"plan": "pro"})
    tx(service.unsuppress, ws, classify("nobody"))  # no error
    assert find(query, ws, "nobody") is None  # it made no one
    assert identify(tx, ws, "blocked", {}) is None  # another suppression holds
    assert query(store.load_attributes, bystander.pk)["plan"].value == "pro"


def test_suppression_is_per_workspace(tx, query, workspace, other_workspace):
    tx(service.suppress, workspace.workspace_id, classify("u1"), NOW)
    assert identify(tx, other_workspace.workspace_id, "u1", {}) is not None
    tx(service.unsuppress, other_workspace.workspace_id, classify("u1"))
    assert identify(tx, workspace.workspace_id, "u1", {}) is None
