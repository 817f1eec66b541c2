"""A workspace's providers from the Settings page: create one for a channel, edit its
config, remove it (admins only; the routes need "manage").

Through the use cases `tidings apply` uses (`workspaces.channel_providers`:
the adapter's own checks refuse a wrong config before anything is written),
each audited in its transaction with the channel and the kind (a create also
with the names of its fields), never a value.

A config is two JSON objects: its settings, shown and edited in full, and its
secrets (`channel_providers.hidden`: fields named like a password, key or
token, and values that are not scalars), which are never shown: the edit form
lists their names, a secret not sent keeps its stored value and one sent as
null is removed. A refused form comes back with its settings only when they
hold no secret, and never with its secrets.
"""

from __future__ import annotations

import json
from typing import Any

from tidings import audit
from tidings.errors import ApiError, bad_request
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.settings import page as settings_page
from tidings.ui.settings_changes import confirmed_delete, refusable
from tidings.ui.site import Ui
from tidings.workspaces import channel_providers

KINDS = channel_providers.KINDS


def _object(text: str, field: str) -> dict[str, Any]:
    """A form's JSON object (blank: none)."""
    if not text.strip():
        return {}
    try:
        found = json.loads(text)
    except ValueError as exc:
        raise bad_request(f"{field} must be a JSON object: {exc}", field) from None
    if not isinstance(found, dict):
        raise bad_request(f"{field} must be a JSON object", field)
    return found


def _echo(text: str) -> str:
    """The settings typed, to show again: only when they hold nothing secret."""
    try:
        found = json.loads(text) if text.strip() else {}
    except ValueError:
        return ""
    if not isinstance(found, dict) or channel_providers.hidden(found):
        return ""
    return text


def _shown(config: dict[str, Any]) -> str:
    hidden = channel_providers.hidden(config)
    return json.dumps({k: v for k, v in config.items() if k not in hidden}, indent=2)


async def create(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form, now = request.form, ui.now()
    try:
        config = _object(form.get("settings", ""), "settings")
        config |= {k: v for k, v in _object(form.get("secrets", ""), "secrets").items() if v}
        item = {"channel": form.get("channel", ""), "kind": form.get("kind", ""), "config": config}
        channel, kind, config = channel_providers.parse(item)
        made = request.audit_entry(
            "provider.create", "provider", channel, kind=kind, fields=sorted(config)
        )
        args = (request.session.workspace_id, channel, kind, config, now)
        await ui.write(audit.audited, made, now, channel_providers.create, *args)
    except ApiError as exc:
        refused = refusable(exc)
        typed = {
            "channel": form.get("channel", ""),
            "kind": form.get("kind", ""),
            "settings": _echo(form.get("settings", "")),
        }
        return await settings_page(ui, request, refused.status, form=("provider", refused, typed))
    return redirect("/settings#providers")


async def provider(ui: Ui, request: UiRequest) -> Page:
    return await _page(ui, request)


async def save(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form, now = request.form, ui.now()
    channel, kind = request.params["channel"], form.get("kind", "")
    try:
        shown = _object(form.get("settings", ""), "settings")
        secrets = _object(form.get("secrets", ""), "secrets")
        changed = request.audit_entry("provider.change", "provider", channel, kind=kind)
        args = (request.session.workspace_id, channel, kind, shown, secrets, now)
        await ui.write(audit.audited, changed, now, channel_providers.change, *args)
    except ApiError as exc:
        typed = {"kind": kind, "settings": _echo(form.get("settings", ""))}
        return await _page(ui, request, refusable(exc), typed)
    return redirect("/settings#providers")


async def delete(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    channel = request.params["channel"]
    gone = request.audit_entry("provider.delete", "provider", channel)
    args = (request.session.workspace_id, channel)
    return await confirmed_delete(
        ui, request, _page, gone, channel_providers.remove, *args, back="/settings#providers"
    )


async def _page(
    ui: Ui, request: UiRequest, refused: ApiError | None = None, typed: dict[str, str] | None = None
) -> Page:
    assert request.session is not None
    channel = request.params["channel"]
    if channel not in KINDS:
        raise ApiError(404, f"There is no {channel!r} channel to configure.")
    stored = await ui.read(channel_providers.stored, request.session.workspace_id, channel)
    if stored is None:
        raise ApiError(404, f"The {channel} channel has no provider.")
    kind, config = stored
    shown = {"kind": kind, "settings": _shown(config)} | (typed or {})
    return ui.page(
        request,
        "settings_provider.html",
        refused.status if refused else 200,
        channel=channel,
        kinds=KINDS[channel],
        stored_kind=kind,
        secrets=channel_providers.hidden(config),
        shown=shown,
        refused=refused,
    )
