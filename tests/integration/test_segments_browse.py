"""Browsing segments (`segments/browse.py`) on both stores: pages of segments, member
counts that stop at a cap, and live counts that stop at their time budget."""

from __future__ import annotations

import pytest

from tidings import paging
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.segments import browse, membership
from tidings.segments import service as segments
from tidings.segments.conditions import parse

NOW = 1_700_000_000
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


@pytest.fixture(scope="module")
def db(isolated_db):
    """No segment worker builds these segments behind the test's back."""
    return isolated_db


def identify(tx, ws, raw, attrs):
    body = {"email": f"{raw}@x.test", **attrs}
    tx(service.identify, ws, classify(raw), service.parse_identify(body, NOW), NOW)


def manual(tx, ws, name):
    return tx(membership.create_segment, ws, {"segment": {"name": name}}, NOW)["id"]


def test_segments_come_a_page_at_a_time_oldest_first(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    made = [manual(tx, ws, f"S{n}") for n in range(3)]
    manual(tx, other_workspace.workspace_id, "elsewhere")
    first = query(browse.list_page, ws, paging.PageRequest(2))
    assert [s["id"] for s in first["segments"]] == made[:2] and first["next"]
    after = paging.decode_cursor(first["next"], 1)
    last = query(browse.list_page, ws, paging.PageRequest(2, after))
    assert [s["name"] for s in last["segments"]] == ["S2"] and last["next"] == ""


def test_member_counts_stop_at_their_cap(tx, query, workspace):
    ws = workspace.workspace_id
    for n in range(4):
        identify(tx, ws, f"m{n}", {})
    small, full = manual(tx, ws, "small"), manual(tx, ws, "full")
    tx(segments.change_members, ws, small, "id", ["m0"], NOW, True)
    tx(segments.change_members, ws, full, "id", [f"m{n}" for n in range(4)], NOW, True)
    counts = query(browse.member_counts, [small, full], 3)
    assert counts == {small: browse.Bounded(1, False), full: browse.Bounded(3, True)}
    assert query(browse.member_count, full, 4) == browse.Bounded(4, False)


def test_a_live_count_is_exact_when_it_has_time(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    for n in range(7):
        identify(tx, ws, f"p{n}", {"plan": "pro" if n % 2 == 0 else "free"})
    identify(tx, other_workspace.workspace_id, "elsewhere", {"plan": "pro"})
    found = query(browse.count_matching, ws, parse(PRO), NOW, 60.0, 3)
    assert found == browse.Matching(count=4, checked=7, complete=True)
    everyone = parse({"not": PRO})
    assert query(browse.count_matching, ws, everyone, NOW, 60.0).count == 3


def test_a_live_count_out_of_time_says_how_far_it_got(tx, query, workspace):
    ws = workspace.workspace_id
    for n in range(5):
        identify(tx, ws, f"q{n}", {"plan": "pro"})
    found = query(browse.count_matching, ws, parse(PRO), NOW, 0.0, 2)
    assert found == browse.Matching(count=2, checked=2, complete=False)  # one chunk, then out


def test_an_empty_workspace_counts_nobody(query, workspace):
    found = query(browse.count_matching, workspace.workspace_id, parse(PRO), NOW, 0.0)
    assert found == browse.Matching(0, 0, True)
