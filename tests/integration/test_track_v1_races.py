"""First mentions racing in several processes: the person is created once, nobody fails.

Each API process has its own writer, so two of them can both miss a lookup
and both insert the same new id. The loser must end up with the winner's
person instead of a unique-key error (which the client would see as a 500).
"""

import pytest

from tidings.people import service, store
from tidings.people.identifiers import Identifier, classify

NOW = 1_700_000_000


def test_creating_someone_who_exists_returns_them(tx, workspace):
    ws = workspace.workspace_id
    first = tx(store.create, ws, NOW, "u1", "a@example.com")
    assert tx(store.create, ws, NOW, "u1", None).pk == first.pk
    assert tx(store.create, ws, NOW, None, "A@Example.com").pk == first.pk
    assert tx(store.create, ws, NOW, "u2", "a@example.com").pk == first.pk


def test_a_lookup_that_missed_a_concurrent_insert_still_settles(db, query, workspace):
    """Two PostgreSQL transactions interleaved by hand, as two processes would run them.

    (SQLite writers take the write lock before their lookup, so they cannot interleave.)
    """
    if db.is_sqlite:
        pytest.skip("SQLite serialises writers from BEGIN IMMEDIATE on")
    ws = workspace.workspace_id
    first, second = db.writer.connect(), db.writer.connect()
    try:
        with first.begin():
            created = service.find_or_create(first, ws, classify("racer"), NOW)
            second_tx = second.begin()
            assert store.find(second, ws, Identifier("id", "racer")) is None  # not yet visible
        # the second writer goes on to create the person its lookup missed
        assert store.create(second, ws, NOW, "racer", None).pk == created.pk
        second_tx.commit()
    finally:
        first.close()
        second.close()
    assert query(store.find_many, ws, "id", ["racer"]) == [created]


def test_find_or_create_settles_on_a_person_made_after_its_lookup(
    tx, query, workspace, monkeypatch
):
    """The lookup missed, the insert found the email taken: the person made meanwhile is
    named like anyone who exists, their email attribute taking this call's spelling."""
    ws = workspace.workspace_id
    made = tx(service.find_or_create, ws, Identifier("email", "ann@example.com"), NOW - 10)
    real_find, missed = store.find, []

    def find_after_one_miss(conn, workspace_id, ident):
        if not missed:
            missed.append(ident)
            return None
        return real_find(conn, workspace_id, ident)

    monkeypatch.setattr(store, "find", find_after_one_miss)
    again = tx(service.find_or_create, ws, Identifier("email", "Ann@Example.com"), NOW)
    monkeypatch.undo()
    assert again == made
    assert query(store.load_attributes, made.pk)["email"].value == "Ann@Example.com"
