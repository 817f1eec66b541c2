"""The per-process cache of a workspace's message resources (`sending/workspace_cache.py`):
a change made through another engine on the same database (another process: the App
API, `tidings apply`, the web UI all write through the storage functions used here)
is used by the very next send of this one, and nothing changed means nothing re-read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tidings.db.engine import Database, open_database
from tidings.errors import ApiError
from tidings.people import service as people
from tidings.people.identifiers import classify
from tidings.reporting import links
from tidings.sending import request as send_request
from tidings.sending import transactional, workspace_cache
from tidings.templates import layouts, render_data, senders, snippets, version
from tidings.templates import transactional_messages as messages
from tidings.workspaces import apply
from tidings.workspaces.service import create_workspace

NOW = int(time.time())


def declared(body: str, layout: str | None = None) -> dict[str, Any]:
    content = {"from": "Acme <orders@acme.test>", "subject": "Order {{ trigger.n }}"}
    content["body"] = body
    if layout:
        content["layout"] = layout
    return {
        "snippets": [{"name": "footer", "value": "footer one"}],
        "layouts": [{"name": "frame", "body": "<main>{{ content }}</main>"}],
        "transactional_messages": [
            {
                "name": "Receipt",
                "trigger_name": "receipt",
                "channel": "email",
                "contents": {"": content},
            }
        ],
    }


def apply_document(database: Database, ws: int, document: dict[str, Any]) -> None:
    """What `tidings apply` does, through `database`."""
    parsed = apply.parse(document)
    with database.writer.begin() as conn:
        apply.apply_plan(conn, ws, apply.plan(parsed, apply.current(conn, ws)), NOW)


def write(database: Database, fn: Any, *args: Any) -> Any:
    with database.writer.begin() as conn:
        return fn(conn, *args)


@pytest.fixture
def other(database_url: str, db: Database) -> Iterator[Database]:
    """The same database through an engine of its own, as another process has."""
    database = open_database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def ws(db: Database) -> int:
    def setup(conn: Any) -> int:
        workspace_id = create_workspace(conn, "cache", NOW).workspace_id
        fields = people.parse_identify({"email": "ada@example.test"}, NOW)
        people.identify(conn, workspace_id, classify("ada"), fields, NOW)
        links.secret(conn, workspace_id, NOW)
        return workspace_id

    workspace_id = write(db, setup)
    apply_document(db, workspace_id, declared("<p>one {{ snippets.footer }}</p>"))
    return workspace_id


def rendered(database: Database, ws: int, sender: str | None = None) -> dict[str, Any]:
    """A send's fields as the read side of `database` composes them."""
    body: dict[str, Any] = {
        "transactional_message_id": "receipt",
        "identifiers": {"id": "ada"},
        "to": "ada@example.test",
        "message_data": {"n": 7},
    }
    if sender:
        body["from"] = sender
    request = send_request.parse("email", body, NOW)
    args = (ws, request, transactional.new_delivery_id(), "http://t.test", NOW)
    with database.reader.connect() as conn, conn.begin():
        prepared = transactional.prepare_send(conn, *args)
    assert prepared is not None
    return prepared.rendered


def resources(database: Database, ws: int) -> workspace_cache.Resources:
    with database.reader.connect() as conn, conn.begin():
        return workspace_cache.current_with_person(conn, ws, classify("ada")).resources


def test_nothing_changed_keeps_the_same_resources(db: Database, ws: int) -> None:
    assert rendered(db, ws)["body"] == "<p>one footer one</p>"
    kept = resources(db, ws)
    assert rendered(db, ws)["body"] == "<p>one footer one</p>"
    assert resources(db, ws) is kept


def test_a_content_edited_elsewhere_is_used_by_the_next_send(
    db: Database, other: Database, ws: int
) -> None:
    assert rendered(db, ws)["subject"] == "Order 7"
    template = write(other, messages.by_trigger, ws, "receipt")
    change = {"subject": "Changed {{ trigger.n }}"}
    write(other, messages.update_content, ws, template.id, ("language", ""), change, NOW)
    assert rendered(db, ws)["subject"] == "Changed 7"


def test_a_snippet_edited_or_removed_elsewhere(db: Database, other: Database, ws: int) -> None:
    assert rendered(db, ws)["body"] == "<p>one footer one</p>"
    write(other, snippets.put, ws, "footer", "footer two", NOW)
    assert rendered(db, ws)["body"] == "<p>one footer two</p>"
    write(other, snippets.remove, ws, "footer")
    assert rendered(db, ws)["body"] == "<p>one </p>"


def test_a_change_applied_elsewhere_with_a_layout(db: Database, other: Database, ws: int) -> None:
    assert rendered(db, ws)["body"] == "<p>one footer one</p>"
    apply_document(other, ws, declared("<p>two</p>", layout="frame"))
    assert rendered(db, ws)["body"] == "<main><p>two</p></main>"
    write(other, layouts.put, ws, "frame", "<div>{{ content }}</div>", NOW)
    assert rendered(db, ws)["body"] == "<div><p>two</p></div>"


def test_sender_identities_added_and_removed_elsewhere(
    db: Database, other: Database, ws: int
) -> None:
    assert rendered(db, ws, "someone@else.test")["from"] == "someone@else.test"
    made = write(other, senders.create, ws, "Acme", "orders@acme.test", NOW)
    with pytest.raises(ApiError, match="not a sender identity"):
        rendered(db, ws, "someone@else.test")
    assert rendered(db, ws, "orders@acme.test")["from"] == "Acme <orders@acme.test>"
    write(other, senders.remove, ws, made["id"])
    assert rendered(db, ws, "someone@else.test")["from"] == "someone@else.test"


def test_a_template_removed_elsewhere_is_a_400(db: Database, other: Database, ws: int) -> None:
    rendered(db, ws)
    template = write(other, messages.by_trigger, ws, "receipt")
    write(other, messages.remove, ws, template.id)
    with pytest.raises(ApiError, match="no transactional message"):
        rendered(db, ws)


def test_a_change_rolled_back_leaves_the_version(db: Database, ws: int) -> None:
    kept = resources(db, ws)
    with db.writer.connect() as conn, conn.begin() as transaction:
        version.bump(conn, ws)
        snippets.put(conn, ws, "footer", "never committed", NOW)
        seen = workspace_cache.current_with_person(conn, ws, classify("ada")).resources
        assert seen.snippets(conn)["footer"] == "never committed"
        transaction.rollback()
    assert resources(db, ws).version == kept.version
    assert rendered(db, ws)["body"] == "<p>one footer one</p>"


def test_a_sends_first_read_finds_resources_secret_person_and_attributes_at_once(
    db: Database, ws: int
) -> None:
    def first_read(conn: Any, ident: str) -> workspace_cache.SendRead:
        return workspace_cache.current_with_person(conn, ws, classify(ident))

    write(
        db,
        lambda conn: people.identify(
            conn, ws, classify("bare"), people.parse_identify({}, NOW), NOW
        ),
    )
    ada, bare, nobody = (db.read(first_read, ident) for ident in ("ada", "bare", "nobody"))
    assert ada.resources is resources(db, ws)
    assert ada.secret is not None and ada.secret == bare.secret == nobody.secret
    assert ada.person is not None and ada.person.customer_id == "ada"
    for found in (ada, bare):  # every attribute, as a send's `customer` reads them
        assert found.person is not None
        customer = db.read(render_data.customer, found.person)
        assert render_data.customer_from_rows(found.person, found.attributes) == customer
    assert ("email", "ada@example.test") in {(name, value) for name, value, _ in ada.attributes}
    assert bare.person is not None and bare.person.customer_id == "bare"
    assert (nobody.person, nobody.attributes) == (None, [])
    by_email = db.read(first_read, "ada@example.test")
    assert by_email.person == ada.person
    assert db.read(workspace_cache.current_with_person, 10**9, classify("ada")).person is None
