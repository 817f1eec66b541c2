"""Manual segment membership via Track `add_customers`/`remove_customers`: BEHAVIOUR.md 3.8."""

import pytest
from sqlalchemy import update

from tidings.db.schema import segments as segments_table
from tidings.errors import ApiError
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.segments import service as segments

NOW = 1_700_000_000


@pytest.fixture
def people(tx, workspace):
    """Three people in the workspace, by id, with emails."""
    ws = workspace.workspace_id
    found = {}
    for n in (1, 2, 3):
        body = service.parse_identify({"email": f"P{n}@Example.com"}, NOW)
        found[f"u{n}"] = tx(service.identify, ws, classify(f"u{n}"), body, NOW)
    return found


def new_segment(tx, ws, name="vip"):
    return tx(segments.create_manual, ws, {"segment": {"name": name}}, NOW)["id"]


def change(tx, ws, segment_id, id_type, ids, add=True):
    tx(segments.change_members, ws, segment_id, id_type, ids, NOW, add)


def member_pks(query, people, segment_id):
    return {
        name
        for name, person in people.items()
        if segment_id in [s["id"] for s in query(segments.of_person, person.pk)]
    }


def test_add_and_remove_by_id(tx, query, workspace, people):
    ws = workspace.workspace_id
    vip = new_segment(tx, ws)
    change(tx, ws, vip, "id", ["u1", "u2"])
    assert member_pks(query, people, vip) == {"u1", "u2"}
    change(tx, ws, vip, "id", ["u1"], add=False)
    assert member_pks(query, people, vip) == {"u2"}
    assert query(segments.customer_count, ws, vip) == 1


def test_add_by_email_is_case_insensitive(tx, query, workspace, people):
    ws = workspace.workspace_id
    vip = new_segment(tx, ws)
    change(tx, ws, vip, "email", ["p1@example.com", "P2@EXAMPLE.COM"])
    assert member_pks(query, people, vip) == {"u1", "u2"}


def test_add_by_cio_id_with_or_without_prefix(tx, query, workspace, people):
    ws = workspace.workspace_id
    vip = new_segment(tx, ws)
    change(tx, ws, vip, "cio_id", [people["u1"].cio_id, f"cio_{people['u3'].cio_id}"])
    assert member_pks(query, people, vip) == {"u1", "u3"}


def test_unknown_or_mismatched_ids_are_ignored_and_nobody_is_created(tx, query, workspace, people):
    ws = workspace.workspace_id
    vip = new_segment(tx, ws)
    change(tx, ws, vip, "id", ["p1@example.com", "ghost", "u3"])
    assert member_pks(query, people, vip) == {"u3"}
    assert query(segments.customer_count, ws, vip) == 1


def test_adding_twice_and_removing_non_members_is_harmless(tx, query, workspace, people):
    ws = workspace.workspace_id
    vip = new_segment(tx, ws)
    change(tx, ws, vip, "id", ["u1", "u1"])
    change(tx, ws, vip, "id", ["u1"])
    change(tx, ws, vip, "id", ["u2"], add=False)
    assert query(segments.customer_count, ws, vip) == 1


def test_numbers_are_accepted_as_ids(tx, query, workspace):
    ws = workspace.workspace_id
    person = tx(service.identify, ws, classify("42"), service.parse_identify({}, NOW), NOW)
    vip = new_segment(tx, ws)
    change(tx, ws, vip, "id", segments.parse_ids({"ids": [42]}))
    assert [s["id"] for s in query(segments.of_person, person.pk)] == [vip]


def test_a_missing_segment_is_404(tx, workspace, people):
    with pytest.raises(ApiError) as caught:
        change(tx, workspace.workspace_id, 999_999_999, "id", ["u1"])
    assert caught.value.status == 404


def test_another_workspaces_segment_is_404(tx, query, workspace, other_workspace, people):
    theirs = new_segment(tx, other_workspace.workspace_id)
    with pytest.raises(ApiError) as caught:
        change(tx, workspace.workspace_id, theirs, "id", ["u1"])
    assert caught.value.status == 404
    assert query(segments.customer_count, other_workspace.workspace_id, theirs) == 0


def test_only_manual_segments_can_be_changed(tx, query, workspace, people):
    ws = workspace.workspace_id
    dynamic = new_segment(tx, ws, "dynamic")
    tx(
        lambda conn: conn.execute(
            update(segments_table).where(segments_table.c.id == dynamic).values(type="dynamic")
        )
    )
    with pytest.raises(ApiError) as caught:
        change(tx, ws, dynamic, "id", ["u1"])
    assert caught.value.status == 400
    assert caught.value.errors


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": []}, {"ids": "u1"}, {"ids": [None]}, {"ids": [""]}, {"ids": ["x"] * 1001}],
)
def test_ids_must_be_1_to_1000_identifiers(body):
    with pytest.raises(ApiError) as caught:
        segments.parse_ids(body)
    assert caught.value.status == 400


def test_1000_ids_are_allowed():
    assert len(segments.parse_ids({"ids": [str(n) for n in range(1000)]})) == 1000
