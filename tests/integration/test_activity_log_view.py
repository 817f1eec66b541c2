"""The workspace's activity log as the UI browses it (`activity.browse`, `events.log_view`):
filters, keyset pages over equal timestamps, the bounded scan window, workspaces apart."""

from __future__ import annotations

import pytest

from tidings import paging
from tidings.activity import browse
from tidings.activity import log as activity_log
from tidings.events import log_view
from tidings.people import service
from tidings.people.identifiers import classify

NOW = 1_700_000_000


def log(tx, ws, type_, name, timestamp, anonymous_id="visitor"):
    tx(lambda conn: _append(conn, ws, type_, name, timestamp, anonymous_id))


def _append(conn, ws, type_, name, timestamp, anonymous_id):
    activity_log.append(
        conn,
        ws,
        person_pk=None,
        anonymous_id=anonymous_id,
        type=type_,
        name=name,
        timestamp=timestamp,
        received_at=NOW,
        data={"n": timestamp, "name": name},
    )


def identify(tx, ws, raw, body):
    tx(service.identify, ws, classify(raw), service.parse_identify(body, NOW), NOW)


def names(query, ws, **given):
    page = query(browse.recent, ws, browse.LogQuery(**given))
    return [(e.name, e.timestamp) for e in page.entries], page


def test_newest_first_filtered_by_type_name_and_time(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    log(tx, ws, "event", "signup", NOW - 30)
    log(tx, ws, "page", "/pricing", NOW - 20)
    log(tx, ws, "event", "purchase", NOW - 10)
    log(tx, ws, "event", "purchase", NOW)
    log(tx, other_workspace.workspace_id, "event", "purchase", NOW + 5)
    everything, _ = names(query, ws)
    assert everything == [
        ("purchase", NOW),
        ("purchase", NOW - 10),
        ("/pricing", NOW - 20),
        ("signup", NOW - 30),
    ]
    assert names(query, ws, type="page")[0] == [("/pricing", NOW - 20)]
    assert names(query, ws, name="purchase")[0] == [("purchase", NOW), ("purchase", NOW - 10)]
    assert names(query, ws, type="page", name="purchase")[0] == []
    assert names(query, ws, since=NOW - 20, until=NOW - 10)[0] == [
        ("purchase", NOW - 10),
        ("/pricing", NOW - 20),
    ]


def test_pages_over_equal_timestamps_repeat_and_skip_nothing(tx, query, workspace):
    ws = workspace.workspace_id
    for n in range(7):
        log(tx, ws, "event", f"same-{n}", NOW)
    seen, after = [], None
    while True:
        found, page = names(query, ws, limit=3, after=after)
        seen += found
        if page.next is None:
            break
        assert not page.window_ended
        after = page.next
    assert sorted(name for name, _ in seen) == [f"same-{n}" for n in range(7)]
    # equal timestamps: the newest id first
    assert [name for name, _ in seen] == [f"same-{n}" for n in reversed(range(7))]


def test_a_filter_looks_at_a_bounded_window_then_goes_further_back(
    tx, query, workspace, monkeypatch
):
    ws = workspace.workspace_id
    monkeypatch.setattr(browse, "SCAN_ROWS", 4)
    log(tx, ws, "event", "rare", NOW - 100)
    for n in range(6):
        log(tx, ws, "event", "common", NOW - n)
    found, page = names(query, ws, name="rare")
    assert found == [] and page.window_ended  # the 4 newest rows hold no "rare"
    found, page = names(query, ws, name="rare", after=page.next)
    assert found == [("rare", NOW - 100)] and page.next is None and not page.window_ended
    found, page = names(query, ws, name="common", limit=10)
    assert len(found) == 4 and page.window_ended  # the window's rows, then further back
    found, page = names(query, ws, name="common", limit=10, after=page.next)
    assert found == [("common", NOW - 4), ("common", NOW - 5)] and page.next is None


def test_the_person_filter_takes_an_id_or_email_and_shows_who(tx, query, workspace):
    ws = workspace.workspace_id
    identify(tx, ws, "ann", {"email": "Ann@X.test"})
    identify(tx, ws, "bob", {})
    log(tx, ws, "event", "anonymous-one", NOW + 1)
    for raw in ("ann", "ann@x.test", "ANN@X.TEST"):
        found = query(log_view.browse, ws, browse.LogQuery(), raw)
        assert found["person_found"]
        assert {e["type"] for e in found["entries"]} == {"attribute_change"}
        assert found["entries"][0]["person"]["id"] == "ann"
        assert found["entries"][0]["person"]["email"] == "ann@x.test"
    nobody = query(log_view.browse, ws, browse.LogQuery(), "carol")
    assert nobody == {"entries": [], "next": "", "window_ended": False, "person_found": False}
    visitor = query(log_view.browse, ws, browse.LogQuery(name="anonymous-one"), "visitor")
    assert not visitor["person_found"]  # no such person: taken as an anonymous id
    assert [e["name"] for e in visitor["entries"]] == ["anonymous-one"]
    assert query(log_view.browse, ws, browse.LogQuery(), "ann-visitor")["entries"] == []
    everyone = query(log_view.browse, ws, browse.LogQuery(limit=1), "")
    [newest] = everyone["entries"]
    assert newest["name"] == "anonymous-one" and newest["person"] is None
    assert newest["anonymous_id"] == "visitor"
    assert '"name": "anonymous-one"' in newest["data"]  # indented JSON, shown as text
    assert paging.decode_cursor(everyone["next"], 2) == (NOW + 1, newest["id"])


@pytest.mark.parametrize("type_", ["identify", "form_submit"])
def test_every_stored_type_can_be_picked(tx, query, workspace, type_):
    assert type_ in browse.TYPES
    ws = workspace.workspace_id
    log(tx, ws, type_, "x", NOW)
    assert names(query, ws, type=type_)[0] == [("x", NOW)]
