"""Events, page/screen views and anonymous events on a real database: BEHAVIOUR.md 3.4."""

import msgspec
import pytest
from sqlalchemy import select

from tidings.db.schema import events
from tidings.events import service as events_service
from tidings.people import service, store
from tidings.people.identifiers import Identifier, classify

NOW = 1_700_000_000
DAY = 24 * 3600
TRACKED = ("event", "page", "screen")


def track(tx, ws, raw, body, now=NOW):
    tx(events_service.track, ws, classify(raw), events_service.parse_event(body), now)


def anonymous(tx, ws, anonymous_id, body, now=NOW):
    event = events_service.parse_event(body)
    tx(events_service.track_anonymous, ws, anonymous_id, event, now)


def identify(tx, ws, raw, body, now=NOW):
    return tx(service.identify, ws, classify(raw), service.parse_identify(body, now), now)


_COLUMNS = select(
    events.c.type, events.c.name, events.c.timestamp, events.c.received_at, events.c.data
)


def _rows(conn, query):
    rows = conn.execute(query.where(events.c.type.in_(TRACKED)).order_by(events.c.id))
    return [(t, n, ts, rcv, msgspec.json.decode(d)) for t, n, ts, rcv, d in rows]


def of_person(conn, person_pk):
    """A person's events, oldest first."""
    return _rows(conn, _COLUMNS.where(events.c.person_id == person_pk))


def unattached(conn, ws, anonymous_id):
    """An anonymous visitor's events that belong to nobody yet."""
    query = _COLUMNS.where(
        events.c.workspace_id == ws,
        events.c.person_id.is_(None),
        events.c.anonymous_id == anonymous_id,
    )
    return _rows(conn, query)


def person(query, ws, raw):
    return query(store.find, ws, classify(raw))


def test_an_event_creates_its_person_on_first_mention(tx, query, workspace):
    ws = workspace.workspace_id
    track(tx, ws, "u1", {"name": "purchase", "data": {"price": 9.5}})
    found = person(query, ws, "u1")
    assert found is not None
    assert query(of_person, found.pk) == [("event", "purchase", NOW, NOW, {"price": 9.5})]


def test_an_event_for_an_email_creates_a_person_with_that_email(tx, query, workspace):
    ws = workspace.workspace_id
    track(tx, ws, "A@Example.com", {"name": "signup"})
    assert person(query, ws, "a@example.com") is not None


def test_timestamp_defaults_to_receipt_and_is_kept_when_given(tx, query, workspace):
    ws = workspace.workspace_id
    track(tx, ws, "u1", {"name": "old", "timestamp": NOW - 3600}, NOW)
    track(tx, ws, "u1", {"name": "now"}, NOW + 1)
    rows = query(of_person, person(query, ws, "u1").pk)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("old", NOW - 3600, NOW),
        ("now", NOW + 1, NOW + 1),
    ]


@pytest.mark.parametrize("kind", TRACKED)
def test_event_page_and_screen_types(tx, query, workspace, kind):
    ws = workspace.workspace_id
    track(tx, ws, "u1", {"name": "/home" if kind == "page" else "home", "type": kind})
    rows = query(of_person, person(query, ws, "u1").pk)
    assert [r[0] for r in rows] == [kind]


def test_event_names_are_trimmed(tx, query, workspace):
    ws = workspace.workspace_id
    track(tx, ws, "u1", {"name": "  signup  "})
    assert query(of_person, person(query, ws, "u1").pk)[0][1] == "signup"


def test_an_event_with_an_id_is_stored_once(tx, query, workspace):
    ws = workspace.workspace_id
    body = {"name": "purchase", "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ"}
    track(tx, ws, "u1", body)
    track(tx, ws, "u1", body, NOW + 1)
    track(tx, ws, "u2", body, NOW + 2)  # the id, not the person, is the key
    assert len(query(of_person, person(query, ws, "u1").pk)) == 1
    assert person(query, ws, "u2") is None  # a dropped retry creates nobody


def test_dedup_lasts_at_least_a_day(tx, query, workspace):
    ws = workspace.workspace_id
    body = {"name": "purchase", "id": "evt-1"}
    track(tx, ws, "u1", body)
    track(tx, ws, "u1", body, NOW + DAY + 3600)
    assert len(query(of_person, person(query, ws, "u1").pk)) == 1


def test_events_without_an_id_are_all_kept(tx, query, workspace):
    ws = workspace.workspace_id
    for _ in range(3):
        track(tx, ws, "u1", {"name": "ping"})
    assert len(query(of_person, person(query, ws, "u1").pk)) == 3


def test_dedup_is_per_workspace(tx, query, workspace, other_workspace):
    body = {"name": "purchase", "id": "shared-id"}
    for ws in (workspace.workspace_id, other_workspace.workspace_id):
        track(tx, ws, "u1", body)
        assert len(query(of_person, person(query, ws, "u1").pk)) == 1


def test_anonymous_events_share_the_dedup_keys(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous(tx, ws, "anon-1", {"name": "viewed", "id": "evt-9"})
    anonymous(tx, ws, "anon-1", {"name": "viewed", "id": "evt-9"})
    track(tx, ws, "u1", {"name": "viewed", "id": "evt-9"})
    assert len(query(unattached, ws, "anon-1")) == 1
    assert person(query, ws, "u1") is None


def test_anonymous_events_attach_when_someone_is_identified_with_that_id(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous(tx, ws, "anon-1", {"name": "viewed", "data": {"sku": "x"}}, NOW - 3600)
    anonymous(tx, ws, "anon-1", {"name": "/pricing", "type": "page"}, NOW - 60)
    anonymous(tx, ws, "anon-2", {"name": "someone else"}, NOW - 60)
    found = identify(tx, ws, "u1", {"anonymous_id": "anon-1"})
    names = [r[1] for r in query(of_person, found.pk)]
    assert names == ["viewed", "/pricing"]
    assert query(unattached, ws, "anon-1") == []
    assert len(query(unattached, ws, "anon-2")) == 1


def test_only_the_last_30_days_of_anonymous_events_attach(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous(tx, ws, "anon-1", {"name": "ancient", "timestamp": NOW - 31 * DAY})
    anonymous(tx, ws, "anon-1", {"name": "recent", "timestamp": NOW - 29 * DAY})
    found = identify(tx, ws, "u1", {"anonymous_id": "anon-1"})
    assert [r[1] for r in query(of_person, found.pk)] == ["recent"]
    assert [r[1] for r in query(unattached, ws, "anon-1")] == ["ancient"]


def test_anonymous_events_after_identification_go_straight_to_the_person(tx, query, workspace):
    ws = workspace.workspace_id
    found = identify(tx, ws, "u1", {"anonymous_id": "anon-1"})
    anonymous(tx, ws, "anon-1", {"name": "later"}, NOW + 10)
    assert [r[1] for r in query(of_person, found.pk)] == ["later"]


def test_anonymous_ids_do_not_cross_workspaces(tx, query, workspace, other_workspace):
    mine, theirs = workspace.workspace_id, other_workspace.workspace_id
    anonymous(tx, theirs, "anon-1", {"name": "theirs"})
    found = identify(tx, mine, "u1", {"anonymous_id": "anon-1"})
    assert query(of_person, found.pk) == []
    assert len(query(unattached, theirs, "anon-1")) == 1


def test_an_invite_event_has_no_anonymous_id(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous(tx, ws, None, {"name": "invite", "data": {"recipient": "a@b.c"}})
    rows = query(
        lambda conn: conn.execute(
            select(events.c.name, events.c.anonymous_id, events.c.person_id).where(
                events.c.workspace_id == ws
            )
        ).all()
    )
    assert [tuple(r) for r in rows] == [("invite", None, None)]


def test_events_for_a_suppressed_person_are_dropped(tx, query, workspace):
    ws = workspace.workspace_id
    tx(service.suppress, ws, Identifier("id", "u1"), NOW)
    track(tx, ws, "u1", {"name": "purchase"})
    assert person(query, ws, "u1") is None


def test_events_for_an_unknown_cio_id_are_dropped(tx, query, workspace):
    ws = workspace.workspace_id
    track(tx, ws, "cio_ffffffffffff", {"name": "purchase"})
    count = query(
        lambda conn: len(conn.execute(select(events.c.id).where(events.c.workspace_id == ws)).all())
    )
    assert count == 0


def test_events_address_a_person_by_cio_id(tx, query, workspace):
    ws = workspace.workspace_id
    found = identify(tx, ws, "u1", {})
    track(tx, ws, f"cio_{found.cio_id}", {"name": "purchase"})
    assert [r[1] for r in query(of_person, found.pk)] == ["purchase"]


def test_an_anonymous_id_belongs_to_one_person(tx, query, workspace):
    ws = workspace.workspace_id
    first = identify(tx, ws, "u1", {"anonymous_id": "anon-1"})
    second = identify(tx, ws, "u2", {"anonymous_id": "anon-1", "plan": "x"})
    attrs = query(store.load_attributes, second.pk)
    assert "anonymous_id" not in attrs
    assert "plan" in attrs  # the rest of the call still applies
    anonymous(tx, ws, "anon-1", {"name": "later"}, NOW + 10)
    assert [r[1] for r in query(of_person, first.pk)] == ["later"]
    assert query(of_person, second.pk) == []
    failures = query(
        lambda conn: conn.execute(
            select(events.c.name).where(
                events.c.person_id == second.pk, events.c.type == "failed_attribute_change"
            )
        ).all()
    )
    assert [r.name for r in failures] == ["anonymous_id"]
