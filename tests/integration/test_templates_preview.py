"""The Templates page's use cases on both stores: a draft previewed as a person (every
error at its field, line and column, a body's errors through its layout mapped back
to the body), and the send request of a test send, sent as a transactional send is."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.errors import ApiError
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.providers import base as outbound
from tidings.sending import preview
from tidings.sending.transactional import new_delivery_id, send_transactional
from tidings.templates import definitions, layouts, senders, snippets
from tidings.templates import transactional_messages as messages

NOW = 1_700_000_000


def _setup(tx: Any, ws: int) -> int:
    attributes = {"first_name": "Ada", "email": "ada@example.com"}
    request = people.IdentifyRequest(attributes, NOW, body_ids={"email": "ada@example.com"})
    tx(people.identify, ws, Identifier("id", "u1"), request, NOW)
    tx(snippets.put, ws, "sig", "-- {{ customer.first_name }}", NOW)
    tx(layouts.save, ws, "frame", "<html>\n<body>{{ content }}</body>\n</html>", NOW)
    definition = definitions.parse_definition(
        {"name": "welcome", "contents": {"default": {"subject": "Hi", "body": "x"}}}
    )
    return int(tx(messages.create, ws, definition, NOW)["id"])


def test_a_draft_renders_as_the_person_with_trigger_event_and_snippets(tx, query, workspace):
    ws = workspace.workspace_id
    message_id = _setup(tx, ws)
    draft = preview.Draft(
        message_id,
        {
            "subject": "Hi {{ customer.first_name }}, order {{ trigger.order }}",
            "body": "<p>{{ event.item }} {{ snippets.sig }}</p>",
            "layout": "frame",
            "body_plain": "",
        },
        person="ada@example.com",
        trigger={"order": 7},
        event={"name": "bought", "data": {"item": "tea"}},
    )
    shown = query(preview.preview, ws, draft)
    assert shown.problems == []
    assert shown.rendered["subject"] == "Hi Ada, order 7"
    assert shown.rendered["body"] == "<html>\n<body><p>tea -- Ada</p></body>\n</html>"
    assert "body_plain" not in shown.rendered  # blank: unset, as saving it would
    assert shown.person == {"id": "u1", "email": "ada@example.com"}


def test_every_error_shows_at_its_field_line_and_column(tx, query, workspace):
    ws = workspace.workspace_id
    message_id = _setup(tx, ws)
    body = "<p>fine</p>\n<p>{{ customer.first_name | no_such_filter }}</p>"
    draft = preview.Draft(
        message_id,
        {"subject": "{% if x %}open", "body": body, "layout": "frame"},
        person="nobody-here",
    )
    found = {p.field: p for p in query(preview.preview, ws, draft).problems}
    assert set(found) == {"person", "subject", "body"}
    assert found["subject"].line == 1
    # line 2 of the body (line 3 of the body in its layout), at the unknown filter's name
    assert (found["body"].line, found["body"].column) == (2, body.splitlines()[1].index("no_") + 1)
    assert "no_such_filter" in found["body"].message
    assert "nobody-here" in found["person"].message


def test_a_missing_layout_and_a_sender_that_is_no_identity_are_problems(tx, query, workspace):
    ws = workspace.workspace_id
    message_id = _setup(tx, ws)
    tx(senders.create, ws, "Acme", "hello@acme.test", NOW)
    draft = preview.Draft(message_id, {"from": "x@elsewhere.test", "body": "b", "layout": "gone"})
    found = {p.field: p.message for p in query(preview.preview, ws, draft).problems}
    assert set(found) == {"from", "layout"}
    assert "gone" in found["layout"] and "x@elsewhere.test" in found["from"]


def test_a_draft_of_another_workspace_is_not_found(tx, query, workspace, other_workspace):
    message_id = _setup(tx, workspace.workspace_id)
    with pytest.raises(ApiError) as refused:
        query(preview.preview, other_workspace.workspace_id, preview.Draft(message_id, {}))
    assert refused.value.status == 404


def test_a_test_send_goes_out_as_the_draft_to_the_address(tx, query, workspace):
    ws = workspace.workspace_id
    message_id = _setup(tx, ws)
    draft = preview.Draft(
        message_id,
        {
            "from": "hello@acme.test",
            "subject": "Draft for {{ customer.first_name }}",
            "body": "<b>new</b>",
            "layout": "frame",
        },
        person="u1",
        trigger={"k": 1},
    )
    request = query(preview.send_request_of, ws, draft, "tester@example.test", NOW)
    delivery_id = new_delivery_id()
    tx(send_transactional, ws, request, delivery_id, "https://t.test", NOW)
    payload = tx(_payload, delivery_id)
    assert payload.to == ["tester@example.test"]
    assert payload.subject == "Draft for Ada"
    assert (payload.html or "").startswith("<html>\n<body><b>new</b>")  # in its layout


def test_a_test_send_needs_a_person(tx, query, workspace):
    ws = workspace.workspace_id
    message_id = _setup(tx, ws)
    for person in ("", "nobody"):
        draft = preview.Draft(message_id, {"body": "b"}, person=person)
        with pytest.raises(ApiError) as refused:
            query(preview.send_request_of, ws, draft, "t@example.test", NOW)
        assert refused.value.field == "person"


def _payload(conn: Any, delivery_id: str) -> outbound.Email:
    from sqlalchemy import select

    from tidings.db.schema import deliveries

    row = conn.execute(select(deliveries.c.payload).where(deliveries.c.id == delivery_id)).one()
    message = outbound.decode(row.payload)
    assert isinstance(message, outbound.Email)
    return message


def test_a_snippet_draft_renders_as_the_person_with_errors_at_its_line(tx, query, workspace):
    ws = workspace.workspace_id
    _setup(tx, ws)
    draft = preview.PieceDraft("snippet", "sig", "Bye {{ customer.first_name }}", person="u1")
    made = query(preview.preview_piece, ws, draft)
    assert (made.channel, made.rendered, made.problems) == ("snippet", {"value": "Bye Ada"}, [])
    assert made.person == {"id": "u1", "email": "ada@example.com"}
    broken = preview.PieceDraft("snippet", "sig", "ok\n{{ customer.first_name | nope }}")
    [problem] = query(preview.preview_piece, ws, broken).problems
    assert (problem.field, problem.line) == ("source", 2)


def test_a_layout_draft_renders_around_the_sample_body(tx, query, workspace):
    ws = workspace.workspace_id
    _setup(tx, ws)
    source = "<main>\n{{ content }}\n<p>{{ snippets.sig }}</p>\n</main>"
    draft = preview.PieceDraft("layout", "frame", source, "u1", "<h1>Hi {{ customer.email }}</h1>")
    made = query(preview.preview_piece, ws, draft)
    assert made.problems == []
    assert made.rendered["body"] == "<main>\n<h1>Hi ada@example.com</h1>\n<p>-- Ada</p>\n</main>"
    # An error in the layout is at its line there; one in the sample body at the body's.
    bad = "<main>\n{{ content }}\n{% if x %}\n</main>"
    [in_layout] = query(preview.preview_piece, ws, preview.PieceDraft("layout", "f", bad)).problems
    assert (in_layout.field, in_layout.line) == ("source", 3)
    sample = "fine\n{{ customer.email | nope }}"
    draft = preview.PieceDraft("layout", "f", "<main>\n{{ content }}\n</main>", "", sample)
    [in_body] = query(preview.preview_piece, ws, draft).problems
    assert (in_body.field, in_body.line) == ("sample_body", 2)


def test_created_snippets_layouts_and_messages_need_unused_names(tx, query, workspace):
    ws = workspace.workspace_id
    _setup(tx, ws)  # sig, frame and welcome exist
    for use_case, args in (
        (snippets.create, ("sig", "again")),
        (layouts.create, ("frame", "{{ content }}")),
        (messages.add, (definitions.parse_definition({"name": "Welcome"}),)),
    ):
        with pytest.raises(ApiError) as taken:
            tx(use_case, ws, *args, NOW)
        assert taken.value.status == 409
    assert query(snippets.get, ws, "sig")["value"] == "-- {{ customer.first_name }}"
    assert tx(snippets.create, ws, "new", "x", NOW)["value"] == "x"
    assert tx(layouts.create, ws, "plain", "{{ content }}", NOW)["name"] == "plain"
    made = tx(messages.add, ws, definitions.parse_definition({"name": "Receipt"}), NOW)
    assert query(messages.get, ws, made)["name"] == "Receipt"


def test_a_message_with_deliveries_is_not_deleted(tx, query, workspace):
    ws = workspace.workspace_id
    message_id = _setup(tx, ws)
    unsent = tx(messages.add, ws, definitions.parse_definition({"name": "Never sent"}), NOW)
    assert tx(messages.remove_unsent, ws, unsent) == "Never sent"
    with pytest.raises(ApiError) as gone:
        query(messages.get, ws, unsent)
    assert gone.value.status == 404
    draft = preview.Draft(message_id, {"from": "hello@acme.test", "body": "b"}, person="u1")
    request = query(preview.send_request_of, ws, draft, "tester@example.test", NOW)
    tx(send_transactional, ws, request, new_delivery_id(), "https://t.test", NOW)
    with pytest.raises(ApiError) as refused:
        tx(messages.remove_unsent, ws, message_id)
    assert refused.value.status == 409 and "has deliveries" in refused.value.message
    assert query(messages.get, ws, message_id)["name"] == "welcome"
