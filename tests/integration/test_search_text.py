"""The People page's search box (`search.search_text`): the App API search's pages and shape."""

from __future__ import annotations

from tidings import paging
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.segments import search

NOW = 1_700_000_000


def identify(tx, ws, raw, body):
    tx(service.identify, ws, classify(raw), service.parse_identify(body, NOW), NOW)


def found(query, ws, text, limit=50, after=None):
    page = paging.PageRequest(limit, after)
    return query(search.search_text, ws, text, page)


def test_people_are_found_by_the_start_of_their_id_or_email(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann-1", {"email": "Ann@X.test"})
    identify(tx, ws, "bob", {"email": "bob@x.test"})
    identify(tx, ws, "carol@x.test", {})
    assert found(query, ws, "ann-")["ids"] == ["ann-1"]
    assert found(query, ws, "Ann@X")["ids"] == ["ann-1"]
    assert found(query, ws, "ann@x.TEST")["identifiers"][0]["email"] == "Ann@X.test"  # as sent
    assert found(query, ws, "ANN-")["ids"] == []  # ids are case-sensitive
    cio_id = found(query, ws, "bob")["identifiers"][0]["cio_id"]
    assert found(query, ws, cio_id)["ids"] == ["bob"]
    assert found(query, ws, "bob@")["ids"] == ["bob"]
    assert found(query, ws, "  carol ")["identifiers"][0]["email"] == "carol@x.test"
    assert found(query, ws, "nobody")["ids"] == []
    assert found(query, ws, "")["ids"] == ["ann-1", "bob", ""]  # blank: everyone


def test_matches_come_a_page_at_a_time(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    for n in range(5):
        identify(tx, ws, f"page-{n}", {"email": f"page{n}@x.test"})
    identify(tx, other_workspace.workspace_id, "page-other", {})
    first = found(query, ws, "page", limit=2)
    assert first["ids"] == ["page-0", "page-1"] and first["next"]
    after = paging.decode_cursor(first["next"], 1)
    second = found(query, ws, "page", limit=2, after=after)
    assert second["ids"] == ["page-2", "page-3"]
    last = found(query, ws, "page", limit=2, after=paging.decode_cursor(second["next"], 1))
    assert last["ids"] == ["page-4"] and last["next"] == ""
