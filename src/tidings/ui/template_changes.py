"""Creating and deleting transactional messages, snippets and layouts from the UI.

Created with the App API's checks (`definitions.parse_definition`,
`snippets.parse`, `layouts.parse`: Liquid checked on save), but never
replacing: a taken trigger name or name is refused (409) where the App API's
`PUT` would overwrite (`messages.add`, `snippets.create`, `layouts.create`).
A delete is a form post with a ticked confirmation box. A message is deleted
only while no delivery names it (`messages.remove_unsent`): its deliveries'
pages, its metrics and reporting webhooks keep its id, so a message that was
sent stays. Every create and delete is audited in its transaction.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tidings import audit
from tidings.errors import ApiError
from tidings.templates import definitions, layouts, snippets
from tidings.templates import transactional_messages as messages
from tidings.ui import template_pieces
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.message_templates import index_page, stored_editor
from tidings.ui.site import Ui

UNCONFIRMED = "Not deleted: tick the box to confirm the delete."


async def create_message(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form = request.form
    body = {key: form.get(key, "").strip() for key in ("name", "trigger_name", "channel")}
    now = ui.now()
    try:
        definition = definitions.parse_definition(body)
        named = {"name": definition.name, "trigger_name": definition.trigger_name}
        entry = request.audit_entry(
            "template.create", "transactional_message", audit.RESULT, **named
        )
        args = (request.session.workspace_id, definition, now)
        message_id = await ui.write(audit.audited, entry, now, messages.add, *args)
    except ApiError as refused:
        return await _refused(ui, request, "message", refused)
    return redirect(f"/templates/{message_id}")


async def create_snippet(ui: Ui, request: UiRequest) -> Page:
    return await _create_piece(ui, request, "snippet")


async def create_layout(ui: Ui, request: UiRequest) -> Page:
    return await _create_piece(ui, request, "layout")


async def _create_piece(ui: Ui, request: UiRequest, kind: str) -> Page:
    assert request.session is not None
    form = request.form
    name, source = form.get("name", ""), form.get("source", "")
    now = ui.now()
    try:
        if kind == "snippet":
            name, text = snippets.parse({"name": name, "value": source})
            use_case: Any = snippets.create
        else:
            name, text = layouts.parse({"name": name, "body": source})
            use_case = layouts.create
        entry = request.audit_entry(f"{kind}.create", kind, name)
        args = (request.session.workspace_id, name, text, now)
        await ui.write(audit.audited, entry, now, use_case, *args)
    except ApiError as refused:
        return await _refused(ui, request, kind, refused)
    return redirect(f"/{kind}s/{quote(name, safe='')}")


async def _refused(ui: Ui, request: UiRequest, form: str, refused: ApiError) -> Page:
    """The list again, with the refusal at its form (a 400 or a taken name's 409)."""
    if refused.status not in (400, 409):
        raise refused
    errors = {form: f"Not created: {refused.message}"}
    return await index_page(ui, request, errors=errors, code=refused.status)


async def delete_message(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    message_id = definitions.parse_id(request.params["message_id"])
    if request.form.get("confirm") != "yes":
        return await stored_editor(ui, request, error=UNCONFIRMED, code=400)
    found = await ui.read(messages.get, request.session.workspace_id, message_id)
    entry = request.audit_entry(
        "template.delete", "transactional_message", str(message_id), name=found["name"]
    )
    now = ui.now()
    args = (request.session.workspace_id, message_id)
    try:
        await ui.write(audit.audited, entry, now, messages.remove_unsent, *args)
    except ApiError as refused:
        if refused.status != 409:
            raise
        error = f"Not deleted: {refused.message}."
        return await stored_editor(ui, request, error=error, code=409)
    return redirect("/templates?deleted=message")


async def delete_snippet(ui: Ui, request: UiRequest) -> Page:
    return await _delete_piece(ui, request, "snippet")


async def delete_layout(ui: Ui, request: UiRequest) -> Page:
    return await _delete_piece(ui, request, "layout")


async def _delete_piece(ui: Ui, request: UiRequest, kind: str) -> Page:
    assert request.session is not None
    name = request.params["name"]
    if request.form.get("confirm") != "yes":
        return await template_pieces.stored(ui, request, kind, error=UNCONFIRMED, code=400)
    use_case: Any = snippets.remove if kind == "snippet" else layouts.remove
    entry = request.audit_entry(f"{kind}.delete", kind, name)
    now = ui.now()
    await ui.write(audit.audited, entry, now, use_case, request.session.workspace_id, name)
    return redirect(f"/templates?deleted={kind}")
