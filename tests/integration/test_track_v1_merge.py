"""`merge_customers` on a real database: BEHAVIOUR.md 3.7."""

from sqlalchemy import select

from tidings.campaigns import definitions
from tidings.campaigns import store as campaign_store
from tidings.db.schema import events, journeys
from tidings.events import service as events_service
from tidings.people import devices, merge, read, service, store
from tidings.people.identifiers import Identifier, classify
from tidings.segments import service as segments

NOW = 1_700_000_000
DAY = 24 * 3600


def identify(tx, ws, raw, body, now=NOW):
    return tx(service.identify, ws, classify(raw), service.parse_identify(body, now), now)


def track(tx, ws, raw, name, timestamp):
    event = events_service.parse_event({"name": name, "timestamp": timestamp})
    tx(events_service.track, ws, classify(raw), event, NOW)


def merge_people(tx, ws, primary, secondary, now=NOW + 10):
    tx(merge.merge_people, ws, primary, secondary, now)


def event_names(conn, person_pk):
    rows = conn.execute(
        select(events.c.name)
        .where(events.c.person_id == person_pk, events.c.type == "event")
        .order_by(events.c.timestamp)
    )
    return list(rows.scalars())


def shown(query, ws, raw, id_type="id"):
    return query(read.attributes_of, ws, raw, id_type)["customer"]


def test_merge_fills_blanks_moves_history_and_deletes_the_secondary(tx, query, workspace):
    ws = workspace.workspace_id
    keep = identify(tx, ws, "keep", {"plan": "gold", "city": "Oslo"})
    gone = identify(tx, ws, "gone@example.com", {"plan": "free", "phone": "555", "empty": ""})
    track(tx, ws, "keep", "kept", NOW - 10)
    track(tx, ws, "gone@example.com", "recent", NOW - 2 * DAY)
    track(tx, ws, "gone@example.com", "too old", NOW - 40 * DAY)
    token = devices.parse_device({"id": "tok-gone", "platform": "ios"}, token_key="id")
    tx(devices.add_to, ws, classify("gone@example.com"), token, NOW)
    vip = tx(segments.create_manual, ws, {"segment": {"name": "vip"}}, NOW)["id"]
    tx(segments.change_members, ws, vip, "email", ["gone@example.com"], NOW, True)

    merge_people(tx, ws, Identifier("id", "keep"), Identifier("email", "gone@example.com"))

    assert query(store.by_pk, gone.pk) is None
    customer = shown(query, ws, "keep")
    assert customer["attributes"]["plan"] == "gold"  # the primary's value wins
    assert customer["attributes"]["city"] == "Oslo"
    assert customer["attributes"]["phone"] == "555"  # a blank is filled
    assert "empty" not in customer["attributes"]
    assert customer["identifiers"]["email"] == "gone@example.com"  # the primary had none
    assert customer["identifiers"]["cio_id"] == keep.cio_id
    assert query(event_names, keep.pk) == ["recent", "kept"]
    assert [d["id"] for d in customer["devices"]] == ["tok-gone"]
    assert [s["id"] for s in query(segments.of_person, keep.pk)] == [vip]
    # the secondary's email now finds the primary
    assert query(store.find, ws, Identifier("email", "gone@example.com")).pk == keep.pk


def test_the_primary_keeps_its_own_identifiers(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "keep", {"email": "keep@example.com"})
    identify(tx, ws, "gone", {"email": "gone@example.com"})
    merge_people(tx, ws, Identifier("email", "keep@example.com"), Identifier("id", "gone"))
    customer = shown(query, ws, "keep")
    assert customer["identifiers"]["email"] == "keep@example.com"
    assert customer["attributes"]["email"] == "keep@example.com"
    assert query(store.find, ws, Identifier("id", "gone")) is None
    assert query(store.find, ws, Identifier("email", "gone@example.com")) is None


def test_merge_by_cio_id(tx, query, workspace):
    ws = workspace.workspace_id
    keep = identify(tx, ws, "keep", {})
    gone = identify(tx, ws, "gone", {"color": "red"})
    merge_people(tx, ws, Identifier("cio_id", keep.cio_id), Identifier("cio_id", gone.cio_id))
    assert shown(query, ws, "keep")["attributes"]["color"] == "red"
    assert query(store.by_pk, gone.pk) is None


def test_memberships_the_primary_already_has_are_kept_once(tx, query, workspace):
    ws = workspace.workspace_id
    keep = identify(tx, ws, "keep", {})
    identify(tx, ws, "gone", {})
    vip = tx(segments.create_manual, ws, {"segment": {"name": "vip"}}, NOW)["id"]
    tx(segments.change_members, ws, vip, "id", ["keep", "gone"], NOW, True)
    merge_people(tx, ws, Identifier("id", "keep"), Identifier("id", "gone"))
    assert [s["id"] for s in query(segments.of_person, keep.pk)] == [vip]
    assert query(segments.customer_count, ws, vip) == 1


def test_a_missing_primary_changes_nothing(tx, query, workspace):
    ws = workspace.workspace_id
    gone = identify(tx, ws, "gone", {"plan": "x"})
    merge_people(tx, ws, Identifier("id", "nobody"), Identifier("id", "gone"))
    assert query(store.by_pk, gone.pk) is not None
    assert query(store.find, ws, Identifier("id", "nobody")) is None


def test_a_missing_secondary_changes_nothing(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "keep", {"plan": "x"})
    merge_people(tx, ws, Identifier("id", "keep"), Identifier("id", "nobody"))
    assert shown(query, ws, "keep")["attributes"]["plan"] == "x"


def test_merging_someone_with_themself_changes_nothing(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws, "keep", {"email": "keep@example.com"})
    merge_people(tx, ws, Identifier("id", "keep"), Identifier("email", "keep@example.com"))
    assert query(store.by_pk, person.pk) is not None


def test_merge_never_reaches_into_another_workspace(tx, query, workspace, other_workspace):
    mine, theirs = workspace.workspace_id, other_workspace.workspace_id
    identify(tx, mine, "keep", {})
    victim = identify(tx, theirs, "gone", {"secret": "s"})
    merge_people(tx, mine, Identifier("id", "keep"), Identifier("id", "gone"))
    assert query(store.by_pk, victim.pk) is not None
    assert "secret" not in shown(query, mine, "keep")["attributes"]


SIGNED_UP = {
    "name": "Welcome",
    "state": "running",
    "trigger": {"event": {"name": "signed_up"}},
    "frequency": "every_time",
    "workflow": [{"email": {"from": "a@example.com", "subject": "Hi", "body": "<p>hi</p>"}}],
}


def journeys_of(conn, campaign_id, person_pk):
    query = select(journeys.c.id).where(
        journeys.c.campaign_id == campaign_id, journeys.c.person_id == person_pk
    )
    return list(conn.execute(query).scalars())


def test_events_merged_in_never_start_a_journey(tx, query, workspace):
    """BEHAVIOUR.md 3.7: the secondary's events move to the primary, but cannot
    trigger campaigns; the primary's own event still does."""
    ws = workspace.workspace_id
    keep = identify(tx, ws, "keep", {})
    gone = identify(tx, ws, "gone", {})
    track(tx, ws, "gone", "signed_up", NOW - 3600)  # an hour old: within the 72 h window
    campaign_id = tx(campaign_store.create, ws, definitions.parse(SIGNED_UP), NOW)

    merge_people(tx, ws, Identifier("id", "keep"), Identifier("id", "gone"))

    assert query(event_names, keep.pk) == ["signed_up"]  # it moved over
    assert query(journeys_of, campaign_id, keep.pk) == []
    assert query(journeys_of, campaign_id, gone.pk) == []
    track(tx, ws, "keep", "signed_up", NOW)  # the same event, the primary's own
    assert len(query(journeys_of, campaign_id, keep.pk)) == 1
