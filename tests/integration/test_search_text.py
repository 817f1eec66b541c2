"""The People page's search box (`search.search_text`): the App API search's pages and shape."""

from __future__ import annotations

from tidings import paging
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.segments import search
from tidings.segments.conditions import parse

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


def test_a_prefix_finds_exactly_the_ids_that_begin_with_it(tx, query, workspace):
    """Each prefix is looked up as a range of the unique index (code point order on both
    stores): punctuation, accents, the last character below the surrogates and the
    largest character keep exactly the ids that begin with the prefix."""
    ws = workspace.workspace_id
    ids = [
        "ab",
        "ab-c",
        "abc",
        "ab.d",
        "abd",
        "zoë-1",
        "zoëb",
        "zof",
        "k\ud7ff1",
        "k\ue000",
        "m\U0010ffff9",
    ]
    for customer_id in ids:
        identify(tx, ws, customer_id, {})
    for prefix in ("ab", "ab-", "ab.", "abc", "zoë", "zo", "k\ud7ff", "k", "m\U0010ffff", "m"):
        expected = sorted(i for i in ids if i.startswith(prefix))
        assert sorted(found(query, ws, prefix)["ids"]) == expected, prefix
    assert search._successor("ab") == "ac"
    assert search._successor("k\ud7ff") == "k\ue000"
    assert search._successor("m\U0010ffff") is None


def test_many_matches_walk_the_people_and_page_the_same(tx, query, workspace, monkeypatch):
    """More than `FEW` matches of the text or the attribute test: the people are walked
    in key order instead, with the same answers and pages."""
    ws = workspace.workspace_id
    for n in range(6):
        identify(
            tx, ws, f"walk-{n}", {"email": f"walk{n}@x.test", "plan": "pro" if n % 2 else "free"}
        )
    pro = parse({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}, "filter")

    def pages(text, condition):
        shown, after = [], None
        while True:
            page = query(
                search.search_people, ws, text, condition, paging.PageRequest(2, after), NOW
            )
            shown += page["ids"]
            if not page["next"]:
                return shown
            after = paging.decode_cursor(page["next"], 1)

    few = [pages("walk", None), pages("", pro), pages("walk-3", pro), pages("walk1@", pro)]
    monkeypatch.setattr(search, "FEW", 2)
    assert [pages("walk", None), pages("", pro), pages("walk-3", pro), pages("walk1@", pro)] == few
    assert few == [
        [f"walk-{n}" for n in range(6)],
        ["walk-1", "walk-3", "walk-5"],
        ["walk-3"],
        ["walk-1"],
    ]
