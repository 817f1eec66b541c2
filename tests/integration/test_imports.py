"""Imports of people and events (tidings.imports) on both stores: formats, line
numbers, Track-equal validation and storage, dedup, resuming, isolation."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy import select

from tidings import paging
from tidings.db.schema import events
from tidings.events import service as events_service
from tidings.imports import run
from tidings.imports.reading import FileRejected
from tidings.imports.rows import Spec
from tidings.people import read, service, store
from tidings.people.identifiers import Identifier, classify
from tidings.segments import search
from tidings.segments.conditions import parse

NOW = 1_700_000_000


def do_import(db, ws, spec, data: bytes, *, chunk=7, **kwargs):
    """Import `data`, handed over in small chunks so rows straddle them."""

    def write(fn, *args):
        with db.writer.begin() as conn:
            return fn(conn, *args)

    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return run.run_import(spec, ws, chunks, write, lambda: NOW, **kwargs)


def attributes(query, ws, raw):
    shown = query(read.attributes_of, ws, raw, "id")["customer"]["attributes"]
    return {k: v for k, v in shown.items() if k not in ("id", "cio_id")}


def events_of(query, ws, raw):
    person = query(store.find, ws, classify(raw))
    if person is None:
        return []
    rows = query(
        lambda conn: conn.execute(
            select(events.c.name, events.c.timestamp, events.c.data)
            .where(events.c.person_id == person.pk, events.c.type == "event")
            .order_by(events.c.id)
        ).all()
    )
    return [(name, ts, msgspec.json.decode(data)) for name, ts, data in rows]


PEOPLE = (
    b"id,email,plan,note,score\n"
    b'p1,One@Example.com,pro,"two\nlines",10\n'
    b",nobody@example.com,free,,1\n"
    b"p3,p3@example.com,,keep,3\n"
    b"p4,p4@example.com,basic,x,4,extra\n"
    b"\n"
    b"p5,p5@example.com,basic,\xff,5\n"
    b"p6,p6@example.com," + b"v" * 1001 + b",,6\n"
    b"p7,p7@example.com,team,last,7"
)


def test_people_csv_rows_are_identified_and_bad_rows_reported_by_line(db, query, workspace):
    ws = workspace.workspace_id
    done = do_import(db, ws, Spec("people", "id"), PEOPLE)

    assert (done.rows, done.imported, done.failed) == (7, 3, 4)
    assert [line for line, _ in done.errors] == [4, 6, 8, 9]
    assert "id" in done.errors[0][1] and "6 cells" in done.errors[1][1]
    assert "UTF-8" in done.errors[2][1] and "1000 bytes" in done.errors[3][1]
    assert attributes(query, ws, "p1") == {
        "email": "One@Example.com",
        "plan": "pro",
        "note": "two\nlines",
        "score": "10",
    }
    assert attributes(query, ws, "p7")["plan"] == "team"
    assert query(store.find, ws, Identifier("email", "nobody@example.com")) is None


def test_imported_attributes_equal_those_of_a_track_identify(db, tx, query, workspace):
    ws = workspace.workspace_id
    body = {"email": "Same@Example.com", "plan": "pro", "unsubscribed": "true", "n": "5"}
    tx(service.identify, ws, classify("tracked"), service.parse_identify(body, NOW), NOW)
    csv = b"id,email,plan,unsubscribed,n\nimported,Same2@Example.com,pro,true,5\n"
    do_import(db, ws, Spec("people", "id"), csv)

    tracked = query(read.attributes_of, ws, "tracked", "id")["customer"]
    imported = query(read.attributes_of, ws, "imported", "id")["customer"]
    for shown in (tracked, imported):
        shown["attributes"].pop("cio_id")
        shown.pop("devices")
    assert imported["attributes"] == {
        **tracked["attributes"],
        "id": "imported",
        "email": "Same2@Example.com",
    }
    assert imported["unsubscribed"] is tracked["unsubscribed"] is True
    assert imported["timestamps"].keys() == tracked["timestamps"].keys()


def test_an_empty_cell_leaves_the_attribute_unchanged(db, query, workspace):
    ws = workspace.workspace_id
    do_import(db, ws, Spec("people", "id"), b"id,plan,city\nu1,pro,Paris\n")
    do_import(db, ws, Spec("people", "id"), b"id,plan,city\nu1,,Lyon\n")
    assert attributes(query, ws, "u1") == {"plan": "pro", "city": "Lyon"}


def test_people_jsonl_lines_are_identify_bodies(db, query, workspace):
    ws = workspace.workspace_id
    data = (
        b'{"email": "j@example.com", "plan": "pro", "age": 30}\n'
        b'{"email": "j@example.com", "plan": null}\n'
        b"[1, 2]\n"
        b'{"plan": "x"}\n'
    )
    done = do_import(db, ws, Spec("people", "email", "jsonl"), data)
    assert (done.imported, done.failed) == (2, 2)
    assert [line for line, _ in done.errors] == [3, 4]
    person = query(store.find, ws, Identifier("email", "j@example.com"))
    shown = query(read.attributes_of, ws, person.cio_id, "cio_id")["customer"]["attributes"]
    assert shown["age"] == "30" and "plan" not in shown


def test_only_new_and_only_existing(db, tx, query, workspace):
    ws = workspace.workspace_id
    tx(service.identify, ws, classify("old"), service.parse_identify({"plan": "a"}, NOW), NOW)
    csv = b"id,plan\nold,b\nnew,b\n"
    done = do_import(db, ws, Spec("people", "id", process="only_new"), csv)
    assert (done.imported, done.skipped) == (1, 1)
    assert attributes(query, ws, "old")["plan"] == "a"
    do_import(db, ws, Spec("people", "id", process="only_existing"), b"id,plan\nold,c\nnone,c\n")
    assert attributes(query, ws, "old")["plan"] == "c"
    assert query(store.find, ws, classify("none")) is None


EVENTS = (
    b"id,name,timestamp,event_id,price,coupon\n"
    b"e1,bought,1690000000,ev-1,9.99,\n"
    b"e1,bought,2023-07-22T04:26:40Z,ev-1,9.99,dup\n"
    b"e1,refunded,2023-07-22T06:26:40+02:00,,1,\n"
    b"e2,,1690000000,,1,\n"
    b"e2,viewed,yesterday,,1,\n"
    b"e2,viewed,,,2,\n"
)


def test_events_csv_dedup_timestamps_and_data(db, query, workspace):
    ws = workspace.workspace_id
    done = do_import(db, ws, Spec("events", "id"), EVENTS)

    assert (done.rows, done.imported, done.failed) == (6, 4, 2)
    assert done.errors == (
        (5, "name cannot be blank"),
        (6, "timestamp must be a unix timestamp in seconds"),
    )
    assert events_of(query, ws, "e1") == [
        ("bought", 1690000000, {"price": "9.99"}),
        ("refunded", 1690000000, {"price": "1"}),
    ]
    assert events_of(query, ws, "e2") == [("viewed", NOW, {"price": "2"})]
    again = do_import(db, ws, Spec("events", "id"), EVENTS)
    names = [name for name, _, _ in events_of(query, ws, "e1")]
    assert again.imported == 4 and names == ["bought", "refunded", "refunded"]  # no event_id


def test_events_jsonl_are_track_bodies(db, tx, query, workspace):
    ws = workspace.workspace_id
    data = (
        b'{"email": "Ev@Example.com", "name": "signup", "data": {"plan": "pro"}, '
        b'"timestamp": 1690000000, "event_id": "x1"}\n'
        b'{"email": "ev@example.com", "name": "page", "type": "page"}\n'
        b'{"email": "ev@example.com", "name": "n", "plan": "pro"}\n'
        b'{"email": "ev@example.com", "name": "n", "data": "nope"}\n'
    )
    done = do_import(db, ws, Spec("events", "email", "jsonl"), data)
    assert (done.imported, done.failed) == (2, 2)
    assert "unknown keys" in done.errors[0][1] and done.errors[1] == (4, "data must be an object")
    person = query(store.find, ws, Identifier("email", "ev@example.com"))
    tx(
        events_service.track,
        ws,
        Identifier("id", "compare"),
        events_service.parse_event({"name": "signup", "data": {"plan": "pro"}, "id": "x1"}),
        NOW,
    )
    # The import's event_id is Track's dedup id: the same id through Track is a repeat.
    assert query(store.find, ws, classify("compare")) is None
    assert len(events_of(query, ws, person.cio_id and f"cio_{person.cio_id}")) == 1


def test_only_existing_events_skip_unknown_people(db, tx, query, workspace):
    ws = workspace.workspace_id
    tx(service.identify, ws, classify("known"), service.parse_identify({}, NOW), NOW)
    csv = b"id,name\nknown,a\nstranger,a\n"
    done = do_import(db, ws, Spec("events", "id", process="only_existing"), csv)
    assert (done.imported, done.skipped) == (1, 1)
    assert query(store.find, ws, classify("stranger")) is None


@pytest.mark.parametrize(
    ("spec", "data", "message"),
    [
        (Spec("people", "id"), b"", "empty"),
        (Spec("people", "id"), b"email,plan\na@b.c,x\n", "no 'id' column"),
        (Spec("people", "id"), b"id,plan,plan\n1,x,y\n", "twice: plan"),
        (Spec("events", "email"), b"email,event\na@b.c,x\n", "no 'name' column"),
    ],
)
def test_files_that_cannot_be_imported(db, workspace, spec, data, message):
    with pytest.raises(FileRejected, match=message):
        do_import(db, workspace.workspace_id, spec, data)


def test_resuming_skips_the_rows_already_done(db, query, workspace):
    ws = workspace.workspace_id
    csv = b"id,name\nr1,a\nr2,a\nr3,a\n"
    first = do_import(db, ws, Spec("events", "id"), csv[: csv.index(b"r3")])
    resumed = do_import(db, ws, Spec("events", "id"), csv, start=first)
    assert (resumed.rows, resumed.imported) == (3, 3)
    assert [len(events_of(query, ws, r)) for r in ("r1", "r2", "r3")] == [1, 1, 1]


def test_batches_commit_with_their_progress(db, workspace):
    ws = workspace.workspace_id
    seen = []
    csv = b"id,name\n" + b"".join(b"b%d,x\n" % i for i in range(25))
    done = do_import(
        db,
        ws,
        Spec("events", "id"),
        csv,
        batch_rows=10,
        record=lambda conn, progress, now: seen.append(progress.rows),
    )
    assert seen == [10, 20, 25] and done.imported == 25


def test_an_import_touches_only_its_workspace(db, query, workspace, other_workspace):
    ws, other = workspace.workspace_id, other_workspace.workspace_id
    do_import(db, ws, Spec("people", "id"), b"id,plan\nshared,mine\n")
    do_import(db, other, Spec("people", "id"), b"id,plan\nshared,theirs\n")
    assert attributes(query, ws, "shared")["plan"] == "mine"
    assert attributes(query, other, "shared")["plan"] == "theirs"


def test_imported_numeric_cells_answer_numeric_conditions(db, query, workspace):
    """Every CSV cell is stored as text; `created_at > X` must still find the imported people."""
    ws = workspace.workspace_id
    data = b"id,created_at\nold,1600000000\nnew,1700000000\nlater,1.8e9\nbad,soon\nzero,007\n"
    assert do_import(db, ws, Spec("people", "id"), data).imported == 5
    for operator, value, expected in [
        ("gt", 1_650_000_000, ["new", "later"]),
        ("lt", 1_650_000_000, ["old"]),
        ("before", "2024-01-01", ["old", "new"]),
        ("within_last", {"days": 1}, ["new"]),
    ]:
        body = {"attribute": {"field": "created_at", "operator": operator, "value": value}}
        page = query(search.search, ws, parse(body), paging.PageRequest(50), NOW)
        assert page["ids"] == expected, body
