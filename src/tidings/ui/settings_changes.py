"""Changing a workspace's sender identities and reporting webhooks from the Settings page,
and creating a workspace (admins only: every route needs "manage").

The same use cases as the App API (`templates.senders`, `reporting.webhooks`,
with the App API's checks, including the fetch guard's check of a webhook's
endpoint), each audited in its transaction (`audit.audited`). A change is a
plain form post answered by a redirect to the Settings page; a refused one
(400, 404, 409) answers its form again with the message and what was typed.
A delete needs its confirmation box ticked.

A webhook's endpoint may carry a token in its user, password or query, so the
edit form shows it without them and keeps the stored endpoint when the field
is left blank. Its signing key is never shown.

A new workspace (`found_workspace`): created as `tidings workspace create`
does, with the creating admin made its admin in the same transaction; its
keys are shown once, on the page that answers the POST (never in a URL).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection

from tidings import audit
from tidings.errors import ApiError, bad_request
from tidings.fetch import Allowlist
from tidings.jobs.browse import public_url
from tidings.reporting import webhooks
from tidings.templates import senders
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.settings import page as settings_page
from tidings.ui.site import Ui
from tidings.ui.template_changes import UNCONFIRMED
from tidings.users import accounts
from tidings.workspaces import service as workspaces

MAX_WORKSPACE_NAME = 200


def refusable(refused: ApiError) -> ApiError:
    """`refused` when a form shows it (400, 404, 409); re-raised otherwise."""
    if refused.status not in (400, 404, 409):
        raise refused
    return refused


async def confirmed_delete(
    ui: Ui,
    request: UiRequest,
    page: Callable[[Ui, UiRequest, ApiError], Awaitable[Page]],
    gone: audit.Entry,
    remove: Callable[..., object],
    *args: object,
    back: str,
) -> Page:
    """Delete (`remove(conn, *args)`, audited as `gone`) when the confirmation box is
    ticked and redirect `back`; without it, `page` again with why nothing was deleted."""
    if request.form.get("confirm") != "yes":
        return await page(ui, request, bad_request(UNCONFIRMED))
    await ui.write(audit.audited, gone, ui.now(), remove, *args)
    return redirect(back)


# --- sender identities ----------------------------------------------------------


async def create_sender(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form, now = request.form, ui.now()
    try:
        name, email = senders.parse({"email": form.get("email", ""), "name": form.get("name", "")})
        made = request.audit_entry("sender_identity.create", "sender_identity", email, name=name)
        args = (request.session.workspace_id, name, email, now)
        await ui.write(audit.audited, made, now, senders.create, *args)
    except ApiError as exc:
        refused = refusable(exc)
        typed = {"name": form.get("name", ""), "email": form.get("email", "")}
        return await settings_page(ui, request, refused.status, form=("sender", refused, typed))
    return redirect("/settings#senders")


async def sender(ui: Ui, request: UiRequest) -> Page:
    return await _sender_page(ui, request)


async def save_sender(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form, now = request.form, ui.now()
    sender_id = senders.parse_id(request.params["sender_id"])
    try:
        name, email = senders.parse({"email": form.get("email", ""), "name": form.get("name", "")})
        target = str(sender_id)
        changed = request.audit_entry(
            "sender_identity.change", "sender_identity", target, name=name, email=email
        )
        args = (request.session.workspace_id, sender_id, name, email, now)
        await ui.write(audit.audited, changed, now, senders.change, *args)
    except ApiError as exc:
        return await _sender_page(ui, request, refusable(exc), form)
    return redirect("/settings#senders")


async def delete_sender(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    sender_id = senders.parse_id(request.params["sender_id"])
    gone = request.audit_entry("sender_identity.delete", "sender_identity", str(sender_id))
    args = (request.session.workspace_id, sender_id)
    return await confirmed_delete(
        ui, request, _sender_page, gone, senders.remove, *args, back="/settings#senders"
    )


async def _sender_page(
    ui: Ui, request: UiRequest, refused: ApiError | None = None, typed: dict[str, str] | None = None
) -> Page:
    assert request.session is not None
    sender_id = senders.parse_id(request.params["sender_id"])
    stored = await ui.read(senders.get, request.session.workspace_id, sender_id)
    shown = {"name": stored["name"], "email": stored["email"]} | (typed or {})
    status = refused.status if refused else 200
    return ui.page(
        request, "settings_sender.html", status, sender=stored, shown=shown, refused=refused
    )


# --- reporting webhooks -----------------------------------------------------------


def _webhook_body(form: dict[str, str], *, keep_endpoint: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "events": [e for e in re.split(r"[\s,]+", form.get("events", "")) if e],
        "disabled": form.get("enabled") != "yes",
    }
    endpoint = form.get("endpoint", "").strip()
    if endpoint or not keep_endpoint:
        body["endpoint"] = endpoint
    return body


async def _checked(ui: Ui, body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    values = webhooks.parse(body, partial=partial)
    if "endpoint" in values:
        allow = Allowlist.parse(ui.settings.fetch_allowlist)
        await asyncio.to_thread(webhooks.check_endpoint, values["endpoint"], allow)
    return values


def _described(values: dict[str, Any]) -> dict[str, Any]:
    """What an audit entry says of a webhook's values: the endpoint without its secrets."""
    shown = {k: v for k, v in values.items() if k != "endpoint"}
    if "endpoint" in values:
        shown["endpoint"] = public_url(values["endpoint"])
    return shown


async def create_webhook(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form, now = request.form, ui.now()
    try:
        values = await _checked(ui, _webhook_body(form, keep_endpoint=False), partial=False)
        made = request.audit_entry(
            "webhook.create", "reporting_webhook", audit.RESULT, **_described(values)
        )
        args = (request.session.workspace_id, values, now)
        await ui.write(audit.audited, made, now, _create_webhook, *args)
    except ApiError as exc:
        refused = refusable(exc)
        typed = {k: form.get(k, "") for k in ("name", "events", "enabled")}
        typed["endpoint"] = public_url(form.get("endpoint", "").strip())
        return await settings_page(ui, request, refused.status, form=("webhook", refused, typed))
    return redirect("/settings#webhooks")


def _create_webhook(conn: Connection, workspace_id: int, values: dict[str, Any], now: int) -> int:
    return int(webhooks.create(conn, workspace_id, values, now)["id"])


async def webhook(ui: Ui, request: UiRequest) -> Page:
    return await _webhook_page(ui, request)


async def save_webhook(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form, now = request.form, ui.now()
    webhook_id = webhooks.parse_id(request.params["webhook_id"])
    try:
        values = await _checked(ui, _webhook_body(form, keep_endpoint=True), partial=True)
        target = str(webhook_id)
        changed = request.audit_entry(
            "webhook.change", "reporting_webhook", target, **_described(values)
        )
        args = (request.session.workspace_id, webhook_id, values, now)
        await ui.write(audit.audited, changed, now, webhooks.change, *args)
    except ApiError as exc:
        return await _webhook_page(ui, request, refusable(exc), form)
    return redirect("/settings#webhooks")


async def delete_webhook(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    webhook_id = webhooks.parse_id(request.params["webhook_id"])
    gone = request.audit_entry("webhook.delete", "reporting_webhook", str(webhook_id))
    args = (request.session.workspace_id, webhook_id)
    return await confirmed_delete(
        ui, request, _webhook_page, gone, webhooks.remove, *args, back="/settings#webhooks"
    )


async def _webhook_page(
    ui: Ui, request: UiRequest, refused: ApiError | None = None, typed: dict[str, str] | None = None
) -> Page:
    assert request.session is not None
    webhook_id = webhooks.parse_id(request.params["webhook_id"])
    stored = await ui.read(webhooks.get, request.session.workspace_id, webhook_id)
    shown = {
        "name": stored["name"],
        "endpoint": "",  # blank keeps the stored one, which is shown without its secrets
        "events": ", ".join(stored["events"]),
        "enabled": "" if stored["disabled"] else "yes",
    }
    shown |= {k: v for k, v in (typed or {}).items() if k in shown}
    shown["endpoint"] = public_url(shown["endpoint"])
    if typed is not None and "enabled" not in typed:
        shown["enabled"] = ""
    hook = {
        "id": stored["id"],
        "name": stored["name"],
        "endpoint": public_url(stored["endpoint"]),
        "signing_key": stored["signing_key"],  # its receiver needs it; admins only here
    }
    status = refused.status if refused else 200
    return ui.page(
        request, "settings_webhook.html", status, hook=hook, shown=shown, refused=refused
    )


# --- workspaces -----------------------------------------------------------------


def found_workspace(conn: Connection, name: str, user_id: int, now: int) -> dict[str, object]:
    """Create a workspace (`workspaces.create_workspace`, keys generated) and make
    `user_id` its admin (`accounts.set_role`, audited as `user.role`), with a
    `workspace.create` entry in it: one transaction. The keys, to be shown once."""
    name = name.strip()
    if not name or len(name) > MAX_WORKSPACE_NAME:
        raise bad_request(f"name must be 1 to {MAX_WORKSPACE_NAME} characters", "name")
    creds = workspaces.create_workspace(conn, name, now)
    accounts.set_role(conn, creds.workspace_id, user_id, "admin", now, user_id)
    made = audit.Entry(
        "workspace.create", "workspace", str(creds.workspace_id), creds.workspace_id, user_id,
        {"name": name},
    )  # fmt: skip
    audit.record(conn, made, now)
    return creds.public()


async def create_workspace(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    name = request.form.get("name", "")
    try:
        created = await ui.write(found_workspace, name, request.session.user_id, ui.now())
    except ApiError as exc:
        refused = refusable(exc)
        typed = {"name": name}
        return await settings_page(ui, request, refused.status, form=("workspace", refused, typed))
    return ui.page(request, "settings_workspace.html", created=created)
