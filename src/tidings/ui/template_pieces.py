"""The snippet and layout editors: the stored source, saved as the App API saves it,
with the message editor's live preview (`sending/preview.preview_piece`).

A snippet is previewed as a chosen person (its value rendered with the other
snippets as stored and itself as typed); a layout around a sample body, as
the person. As in the message editor, one form serves Preview and Save, htmx
posts it to the preview path as one types and swaps in the preview alone, and
the preview is a POST that changes nothing ("read" may open it). Saving needs
`edit_content` and is audited with the save (`snippet.save`, `layout.save`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tidings import audit
from tidings.errors import ApiError
from tidings.sending import preview
from tidings.templates import layouts, snippets
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.message_templates import page_with_preview
from tidings.ui.site import Ui
from tidings.users import roles

SAMPLE_BODY = "<h1>Hello {{ customer.first_name }}</h1>\n<p>A message's body goes here.</p>"


async def snippet(ui: Ui, request: UiRequest) -> Page:
    return await stored(ui, request, "snippet")


async def layout(ui: Ui, request: UiRequest) -> Page:
    return await stored(ui, request, "layout")


async def stored(
    ui: Ui, request: UiRequest, kind: str, *, error: str = "", code: int = 200
) -> Page:
    """The editor showing the stored source, previewed for `?person=`."""
    assert request.session is not None
    name = request.params["name"]
    if kind == "snippet":
        source = (await ui.read(snippets.get, request.session.workspace_id, name))["value"]
    else:
        source = (await ui.read(layouts.get, request.session.workspace_id, name))["body"]
    sample = SAMPLE_BODY if kind == "layout" else ""
    form = {"source": source, "person": request.query.get("person", ""), "sample_body": sample}
    notice = "Saved." if request.query.get("saved") else ""
    return await _editor(ui, request, kind, form, notice=notice, error=error, code=code)


def _form_of(request: UiRequest) -> dict[str, str]:
    sent = request.form
    return {key: sent.get(key, "") for key in ("source", "person", "sample_body")}


async def _editor(
    ui: Ui,
    request: UiRequest,
    kind: str,
    form: dict[str, str],
    *,
    notice: str = "",
    error: str = "",
    code: int = 200,
) -> Page:
    shown = await _preview(ui, request, kind, form)
    may_edit = request.session is not None and roles.may(request.session.role, "edit_content")
    values = {"kind": kind, "name": request.params["name"], "form": form, "may_edit": may_edit}
    values |= {"notice": notice, "error": error, **shown}
    return page_with_preview(ui, request, "templates_piece.html", code, **values)


async def _preview(ui: Ui, request: UiRequest, kind: str, form: dict[str, str]) -> dict[str, Any]:
    assert request.session is not None
    draft = preview.PieceDraft(
        kind, request.params["name"], form["source"], form["person"], form["sample_body"]
    )
    made = await ui.read(preview.preview_piece, request.session.workspace_id, draft)
    return {
        "rendered": made.rendered,
        "problems": made.problems,
        "person": made.person,
        "channel": made.channel,
    }


async def preview_snippet(ui: Ui, request: UiRequest) -> Page:
    return await _preview_draft(ui, request, "snippet")


async def preview_layout(ui: Ui, request: UiRequest) -> Page:
    return await _preview_draft(ui, request, "layout")


async def _preview_draft(ui: Ui, request: UiRequest, kind: str) -> Page:
    """The draft previewed: the preview alone for htmx, else the whole editor."""
    form = _form_of(request)
    if not request.is_htmx:
        return await _editor(ui, request, kind, form)
    shown = await _preview(ui, request, kind, form)
    return page_with_preview(ui, request, "templates_preview.html", **shown)


async def save_snippet(ui: Ui, request: UiRequest) -> Page:
    return await _save(ui, request, "snippet")


async def save_layout(ui: Ui, request: UiRequest) -> Page:
    return await _save(ui, request, "layout")


async def _save(ui: Ui, request: UiRequest, kind: str) -> Page:
    """Save a snippet's value or a layout's body, checked as the App API checks it."""
    assert request.session is not None
    session = request.session
    form = _form_of(request)
    name, source = request.params["name"], form["source"]
    now = ui.now()
    entry = audit.Entry(f"{kind}.save", kind, name, session.workspace_id, session.user_id)
    try:
        if kind == "snippet":
            name, text = snippets.parse({"name": name, "value": source})
            use_case: Any = snippets.put
        else:
            name, text = layouts.parse({"body": source}, name)
            use_case = layouts.save
        args = (session.workspace_id, name, text, now)
        await ui.write(audit.audited, entry, now, use_case, *args)
    except ApiError as refused:
        if refused.status != 400:
            raise
        error = f"Not saved: {refused.message}"
        return await _editor(ui, request, kind, form, error=error, code=400)
    query = f"?saved=1&person={quote(form['person'], safe='')}" if form["person"] else "?saved=1"
    return redirect(f"/{kind}s/{quote(name, safe='')}{query}")
