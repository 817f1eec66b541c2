"""The Templates pages: the list of transactional messages, snippets and layouts with
the forms creating them, and a message's editor (per language) with a live preview
as a chosen person and a test send. Snippets' and layouts' editors are in
`ui/template_pieces.py`, creating and deleting in `ui/template_changes.py`.

The same use cases as the App API and `tidings apply`, with their checks:
saving a message's content is `transactional_messages.update_content` (each
field must parse as Liquid, the literal `from` must be a sender identity), a
snippet `snippets.parse` + `put`, a layout `layouts.parse` + `save`; each
save and test send is recorded in the audit log in the same transaction
(`audit.audited`). Saving and test sends need `edit_content` (authors and
admins); a viewer sees the forms read-only and the server refuses the POST.

The preview (`sending/preview.py`) renders the fields as typed, with every
error at its field, line and column. One form serves three buttons: Save,
Preview and Send test, each posting to its own path, so all of it works
without JavaScript; with it, htmx posts the form to the preview path as one
types (debounced) and swaps in the preview alone. A preview changes nothing,
but a draft may be larger than a URL holds, so it is a POST: its route is
"signed_in" and the handler checks the role may read.

The rendered HTML is shown in an iframe with `sandbox` (no scripts, an opaque
origin) and `srcdoc`. A srcdoc document inherits the page's CSP, and emails
are styled inline, so these pages' CSP adds `'unsafe-inline'` to `style-src`
(styles only: scripts stay this server's files only, and remote images stay
blocked, so a preview fetches nothing from other hosts).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from tidings import audit
from tidings.errors import ApiError
from tidings.reporting import links
from tidings.sending import preview, transactional
from tidings.templates import definitions, layouts, render, snippets
from tidings.templates import transactional_messages as messages
from tidings.ui.http import CSP, Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import roles

# These pages' CSP: the UI's, with inline styles for the sandboxed preview (see above).
PREVIEW_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
COMPOSE_ATTEMPTS = 3  # as `api/send.py`: reads composing a test send before giving up
LABELS = {
    "from": "From",
    "reply_to": "Reply to",
    "subject": "Subject",
    "preheader": "Preheader",
    "body": "Body (HTML)",
    "body_plain": "Text body",
    "body_amp": "AMP body",
    "layout": "Layout",
    "bcc": "Bcc",
    "title": "Title",
    "message": "Message",
    "link": "Link",
    "image_url": "Image URL",
    "sound": "Sound",
}
LONG_FIELDS = frozenset({"body", "body_plain", "body_amp", "message"})
NOUNS = {"message": "message", "snippet": "snippet", "layout": "layout"}  # ?deleted= shown


def page_with_preview(
    ui: Ui, request: UiRequest, template: str, status: int = 200, **values: Any
) -> Page:
    """A page of these editors: the UI's, with this CSP (see above)."""
    page = ui.page(request, template, status, **values)
    page.headers.append((b"content-security-policy", PREVIEW_CSP.encode()))
    return page


def _workspace(request: UiRequest) -> int:
    assert request.session is not None
    return request.session.workspace_id


def _may_edit(request: UiRequest) -> bool:
    return request.session is not None and roles.may(request.session.role, "edit_content")


# --- the list --------------------------------------------------------------------


async def index(ui: Ui, request: UiRequest) -> Page:
    deleted = request.query.get("deleted", "")
    notice = f"Deleted the {deleted}." if deleted in NOUNS.values() else ""
    return await index_page(ui, request, notice=notice)


async def index_page(
    ui: Ui,
    request: UiRequest,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    code: int = 200,
) -> Page:
    """The list, with the creating forms (`errors` by form: "message", "snippet",
    "layout"; a form with an error opens with what was typed)."""
    workspace_id = _workspace(request)
    values = {
        "messages": await ui.read(messages.list_all, workspace_id),
        "snippets": await ui.read(snippets.list_all, workspace_id),
        "layouts": await ui.read(layouts.list_all, workspace_id),
        "channels": definitions.CHANNELS,
        "may_edit": _may_edit(request),
        "notice": notice,
        "errors": errors or {},
        "typed": request.form if errors else {},
    }
    return ui.page(request, "templates.html", code, **values)


# --- a transactional message -----------------------------------------------------


async def message(ui: Ui, request: UiRequest) -> Page:
    status = "Saved." if request.query.get("saved") else ""
    return await stored_editor(ui, request, notice=status)


async def stored_editor(
    ui: Ui, request: UiRequest, *, notice: str = "", error: str = "", code: int = 200
) -> Page:
    """The editor, showing the stored content of `?lang=` (the default language if
    blank) previewed for `?person=`."""
    query = request.query
    message_id = definitions.parse_id(request.params["message_id"])
    language = definitions.parse_language(query.get("lang", ""))
    workspace_id = _workspace(request)
    found = await ui.read(messages.get, workspace_id, message_id)
    stored = await ui.read(messages.contents_of, workspace_id, message_id)
    content: dict[str, Any] = next((c for c in stored if c["language"] == language), {})
    names = definitions.FIELDS[found["type"]]
    form = {name: str(content.get(name) or "") for name in names}
    form |= {
        "lang": language,
        "person": query.get("person", ""),
        "trigger": "",
        "event": "",
        "to": "",
    }
    return await _editor(ui, request, found, stored, form, status=notice, error=error, code=code)


def _form_of(request: UiRequest, channel: str) -> dict[str, str]:
    sent = request.form
    names = (*definitions.FIELDS[channel], "lang", "person", "trigger", "event", "to")
    return {name: sent.get(name, "") for name in names}


async def _draft_page(ui: Ui, request: UiRequest, status: str = "", **extra: Any) -> Page:
    workspace_id = _workspace(request)
    message_id = definitions.parse_id(request.params["message_id"])
    found = await ui.read(messages.get, workspace_id, message_id)
    stored = await ui.read(messages.contents_of, workspace_id, message_id)
    form = _form_of(request, found["type"])
    return await _editor(ui, request, found, stored, form, status=status, **extra)


async def _editor(
    ui: Ui,
    request: UiRequest,
    found: dict[str, Any],
    stored: list[dict[str, Any]],
    form: dict[str, str],
    *,
    status: str = "",
    error: str = "",
    code: int = 200,
) -> Page:
    shown = await _preview(ui, request, found, form)
    named = await ui.read(layouts.list_all, _workspace(request)) if "layout" in form else []
    values = {
        "layout_names": [layout["name"] for layout in named],
        "message": found,
        "languages": [c["language"] for c in stored],
        "form": form,
        "names": definitions.FIELDS[found["type"]],
        "labels": LABELS,
        "long_fields": LONG_FIELDS,
        "may_edit": _may_edit(request),
        "notice": status,
        "error": error,
        **shown,
    }
    return page_with_preview(ui, request, "templates_message.html", code, **values)


async def _preview(
    ui: Ui, request: UiRequest, found: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    """What the preview part of the page shows for the form's draft."""
    problems: list[render.Problem] = []
    trigger = _json_object(form["trigger"], "trigger", problems)
    event_data = _json_object(form["event"], "event", problems)
    names = definitions.FIELDS[found["type"]]
    draft = preview.Draft(
        message_id=found["id"],
        fields={name: form[name] for name in names},
        person=form["person"],
        trigger=trigger,
        event={"name": "preview", "data": event_data} if form["event"].strip() else None,
    )
    made = await ui.read(preview.preview, _workspace(request), draft)
    return {
        "rendered": made.rendered,
        "problems": problems + made.problems,
        "person": made.person,
        "channel": made.channel,
    }


def _json_object(text: str, name: str, problems: list[render.Problem]) -> dict[str, Any]:
    """The JSON object typed in a sample-data box (blank is {}); a problem otherwise."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        line, column = getattr(err, "lineno", None), getattr(err, "colno", None)
        problems.append(render.Problem(name, f"not valid JSON: {err}", line, column))
        return {}
    if not isinstance(value, dict):
        problems.append(render.Problem(name, "must be a JSON object ({...})"))
        return {}
    return value


async def preview_draft(ui: Ui, request: UiRequest) -> Page:
    """The form's draft previewed: the preview alone for htmx, else the whole editor."""
    if not request.is_htmx:
        return await _draft_page(ui, request)
    workspace_id = _workspace(request)
    message_id = definitions.parse_id(request.params["message_id"])
    found = await ui.read(messages.get, workspace_id, message_id)
    shown = await _preview(ui, request, found, _form_of(request, found["type"]))
    return page_with_preview(ui, request, "templates_preview.html", **shown)


async def save_message(ui: Ui, request: UiRequest) -> Page:
    """Save the form's fields as the content of its language (a blank field is unset)."""
    assert request.session is not None
    session = request.session
    message_id = definitions.parse_id(request.params["message_id"])
    found = await ui.read(messages.get, session.workspace_id, message_id)
    form = _form_of(request, found["type"])
    language = definitions.parse_language(form["lang"])
    body = {name: form[name] or None for name in definitions.FIELDS[found["type"]]}
    entry = audit.Entry(
        "template.save",
        "transactional_message",
        str(message_id),
        session.workspace_id,
        session.user_id,
        {"language": language},
    )
    now = ui.now()
    ref = ("language", language)
    try:
        args = (session.workspace_id, message_id, ref, body, now)
        await ui.write(audit.audited, entry, now, messages.update_content, *args)
    except ApiError as refused:
        if refused.status != 400:
            raise
        return await _draft_page(ui, request, error=f"Not saved: {refused.message}", code=400)
    query = {"lang": language, "person": form["person"], "saved": "1"}
    return redirect(f"/templates/{message_id}?" + urlencode(query))


async def send_test(ui: Ui, request: UiRequest) -> Page:
    """Send the draft to the form's address as the chosen person, as `POST /v1/send/email`
    would: composed by a read (`prepare_send`), written with its audit entry."""
    assert request.session is not None
    session = request.session
    workspace_id = session.workspace_id
    message_id = definitions.parse_id(request.params["message_id"])
    found = await ui.read(messages.get, workspace_id, message_id)
    form = _form_of(request, found["type"])
    to = form["to"].strip()
    problems: list[render.Problem] = []
    trigger = _json_object(form["trigger"], "trigger", problems)
    fields = {name: form[name] for name in definitions.FIELDS[found["type"]]}
    draft = preview.Draft(message_id, fields, form["person"], trigger)
    if problems or not to:
        reason = "type the address to send the test to" if not to else problems[0].message
        return await _draft_page(ui, request, error=f"Test not sent: {reason}.", code=400)
    now = ui.now()
    try:
        spec = await ui.read(preview.send_request_of, workspace_id, draft, to, now)
        answer = await _send(ui, request, spec, message_id, to, now)
    except ApiError as refused:
        if refused.status not in (400, 409):
            raise
        return await _draft_page(ui, request, error=f"Test not sent: {refused.message}", code=400)
    status = f"Test sent to {to} (delivery {answer['delivery_id']})."
    return await _draft_page(ui, request, status=status)


async def _send(
    ui: Ui, request: UiRequest, spec: Any, message_id: int, to: str, now: int
) -> dict[str, Any]:
    """Compose by a read and write, again when the write finds the person changed or the
    workspace's first email needs its tracking secret (as `api/send.py` does)."""
    assert request.session is not None
    session = request.session
    delivery_id = transactional.new_delivery_id()
    base_url = ui.settings.public_url or f"{request.scheme}://{request.header('host') or ''}"
    args = (session.workspace_id, spec, delivery_id, base_url, now)
    entry = audit.Entry(
        "template.test_send",
        "transactional_message",
        str(message_id),
        session.workspace_id,
        session.user_id,
        {"to": to, "delivery_id": delivery_id},
    )
    for _ in range(COMPOSE_ATTEMPTS):
        try:
            prepared = await ui.read(transactional.prepare_send, *args)
        except transactional.NoSecretYet:
            await ui.write(links.secret, session.workspace_id, now)
            continue
        try:
            result: dict[str, Any] = await ui.write(
                audit.audited, entry, now, transactional.send_prepared, *args, prepared
            )
            return result
        except transactional.StaleSend:
            continue
    raise transactional.StaleSend()
