"""Message resources on both stores: transactional messages, resolve, contents,
snippets, sender identities, layouts, and `render.context_for`."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.errors import ApiError
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.templates import definitions, layouts, render, senders, snippets
from tidings.templates import transactional_messages as messages

NOW = 1_700_000_000


def _resolve(conn: Any, ws: int, ref: Any, channel: str, auto: bool) -> messages.Template:
    return messages.resolve(conn, ws, ref, channel, auto_create=auto, now=NOW)


def define(**body: Any) -> definitions.Definition:
    return definitions.parse_definition({"name": "Welcome", **body})


def test_create_and_resolve_by_id_numeric_string_and_trigger(tx, workspace) -> None:
    ws = workspace.workspace_id
    made = tx(messages.create, ws, define(trigger_name="Welcome_Email"), NOW)
    assert made["trigger_name"] == "welcome_email"
    for ref in (made["id"], str(made["id"]), "WELCOME_email", " welcome_email"):
        template = tx(_resolve, ws, ref, "email", False)
        assert template.id == made["id"]
        assert (template.send_to_unsubscribed, template.tracked) == (True, True)


def test_resolve_refuses_unknown_other_channel_and_other_workspace(
    tx, workspace, other_workspace
) -> None:
    ws = workspace.workspace_id
    made = tx(messages.create, ws, define(channel="push"), NOW)
    with pytest.raises(ApiError, match="no transactional message 'nope'") as caught:
        tx(_resolve, ws, "nope", "email", False)
    assert caught.value.status == 400
    with pytest.raises(ApiError, match="is a push message, not email"):
        tx(_resolve, ws, made["id"], "email", False)
    with pytest.raises(ApiError, match="no transactional message"):
        tx(_resolve, other_workspace.workspace_id, made["id"], "push", False)


def test_auto_create_makes_an_empty_template_once(tx, query, workspace) -> None:
    ws = workspace.workspace_id
    first = tx(_resolve, ws, "Order_Shipped", "sms", True)
    again = tx(_resolve, ws, "order_shipped", "sms", True)
    assert first.id == again.id and first.channel == "sms" and first.name == "Order_Shipped"
    assert query(messages.count, ws) == 1
    assert query(messages.content_fields, first, None)[1] == {}
    with pytest.raises(ApiError, match="is a sms message"):
        tx(_resolve, ws, "order_shipped", "email", True)
    with pytest.raises(ApiError, match="no transactional message"):
        tx(_resolve, ws, 999_999, "email", True)


def test_content_per_language_falls_back_to_the_default(tx, query, workspace) -> None:
    ws = workspace.workspace_id
    contents = {"": {"subject": "Hello"}, "fr": {"subject": "Bonjour"}}
    made = tx(messages.create, ws, define(contents=contents), NOW)
    template = query(messages.find, ws, made["id"])
    default_id, default = query(messages.content_fields, template, None)
    fr_id, fr = query(messages.content_fields, template, "FR")
    de_id, de = query(messages.content_fields, template, "de")
    assert (default, fr, de) == ({"subject": "Hello"}, {"subject": "Bonjour"}, {"subject": "Hello"})
    assert default_id == de_id != fr_id


def test_update_content_merges_and_unsets(tx, query, workspace) -> None:
    ws = workspace.workspace_id
    made = tx(messages.create, ws, define(contents={"": {"subject": "a", "body": "b"}}), NOW)
    (content,) = query(messages.contents_of, ws, made["id"])
    body = {"body": "new", "subject": None, "preheader": "p"}
    updated = tx(messages.update_content, ws, made["id"], ("id", content["id"]), body, NOW + 1)
    assert (updated["body"], updated["preheader"], "subject" in updated) == ("new", "p", False)
    assert updated["updated_at"] == NOW + 1
    with pytest.raises(ApiError, match="not a field of email"):
        tx(messages.update_content, ws, made["id"], ("id", content["id"]), {"title": "x"}, NOW)
    added = tx(messages.update_content, ws, made["id"], ("language", "es"), {"body": "hola"}, NOW)
    assert added["language"] == "es"


def test_trigger_names_are_unique_per_workspace(tx, workspace, other_workspace) -> None:
    tx(messages.create, workspace.workspace_id, define(trigger_name="t"), NOW)
    with pytest.raises(ApiError) as caught:
        tx(messages.create, workspace.workspace_id, define(trigger_name="T"), NOW)
    assert caught.value.status == 409
    tx(messages.create, other_workspace.workspace_id, define(trigger_name="t"), NOW)


def test_remove_takes_the_contents(tx, query, workspace) -> None:
    ws = workspace.workspace_id
    made = tx(messages.create, ws, define(contents={"fr": {"body": "x"}}), NOW)
    tx(messages.remove, ws, made["id"])
    assert query(messages.find, ws, made["id"]) is None
    with pytest.raises(ApiError):
        tx(messages.remove, ws, made["id"])


def test_snippets_upsert_by_name(tx, query, workspace, other_workspace) -> None:
    ws = workspace.workspace_id
    tx(snippets.put, ws, "footer", "v1", NOW)
    tx(snippets.put, ws, "footer", "v2", NOW + 1)
    assert query(snippets.list_all, ws) == [
        {"name": "footer", "value": "v2", "updated_at": NOW + 1}
    ]
    assert query(snippets.values, other_workspace.workspace_id) == {}
    tx(snippets.remove, ws, "footer")
    with pytest.raises(ApiError):
        query(snippets.get, ws, "footer")


def test_sender_identity_rule(tx, query, workspace) -> None:
    ws = workspace.workspace_id
    anyone = query(senders.sender_identity_for, ws, "Ops <ops@example.com>")
    assert anyone == {"id": None, "email": "ops@example.com", "name": "Ops"}
    assert query(senders.sender_identity_for, ws, "not an address") is None
    tx(senders.create, ws, "Support", "support@example.com", NOW)
    found = query(senders.sender_identity_for, ws, "Help <SUPPORT@example.com>")
    assert found["email"] == "support@example.com" and found["id"] is not None
    assert query(senders.sender_identity_for, ws, "ops@example.com") is None


def test_layouts(tx, query, workspace) -> None:
    ws = workspace.workspace_id
    assert tx(layouts.put, ws, "base", "<html>{{ content }}</html>", NOW) == "create"
    assert tx(layouts.put, ws, "base", "<html>{{ content }}</html>", NOW) == "same"
    assert query(layouts.layout_body, ws, "base") == "<html>{{ content }}</html>"
    assert query(layouts.layout_body, ws, "nope") is None


def test_context_for_reads_person_collections_and_snippets(tx, workspace) -> None:
    ws = workspace.workspace_id
    request = people.IdentifyRequest({"first_name": "Ada", "plan": {"tier": 2}}, NOW)
    person = tx(people.identify, ws, Identifier("id", "u1"), request, NOW)
    tx(snippets.put, ws, "sig", "-- {{ customer.first_name }}", NOW)
    tx(_collection, ws)

    def run(conn: Any) -> dict[str, str | None]:
        context = render.context_for(conn, ws, person.pk, {"order": 5})
        source = (
            "{{ customer.id }} {{ customer.plan.tier }} {{ trigger.order }} "
            "{{ events[0].name }} {{ snippets.sig }}"
        )
        return render.render_fields({"body": source}, context, template_name="t")

    assert tx(run)["body"] == "u1 2 5 Launch -- Ada"


def _collection(conn: Any, ws: int) -> None:
    from tidings.collections import service
    from tidings.collections.rows import content_of

    change = service.Change(name="events", content=content_of([{"name": "Launch"}]))
    service.create(conn, ws, change, NOW)
