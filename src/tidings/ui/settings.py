"""The Settings page: the workspace, its API keys, providers, sender identities and
reporting webhooks; and rotating a key (admins only).

Keys are stored only as digests, so no page can show one again: the page names
each key and what it is for, and only admins see that section at all. Rotating
a key (`workspaces.service.rotate_keys`, audited in its transaction) answers
the page itself, not a redirect, with the new key shown once: it is never put
in a URL, and pages are sent `no-store`. The rotation then drops this process's
cached lookups of the workspace (`Ui.forget_keys`), so the old key gets a 401 on
its next request. Nothing secret of a provider or webhook is shown to anyone
(`workspaces.settings_view`).
"""

from __future__ import annotations

from tidings import audit
from tidings.errors import ApiError
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui
from tidings.users import roles
from tidings.workspaces import service as workspaces
from tidings.workspaces import settings_view

# Each key kind: what the page calls it and which API takes it.
KEYS = (
    ("track", "Track API key", "the Track API, with the site id as HTTP Basic user"),
    ("app", "App API key", "the App API, as a Bearer token"),
    ("cdp", "Pipelines write key", "the Pipelines (CDP) API"),
)


async def settings(ui: Ui, request: UiRequest) -> Page:
    return await _page(ui, request)


async def rotate(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    kind = request.params["kind"]
    if kind not in workspaces.KEY_KINDS:
        raise ApiError(404, "There is no such kind of key.")
    entry = audit.Entry(
        "workspace.rotate_keys",
        "workspace",
        str(session.workspace_id),
        session.workspace_id,
        session.user_id,
        {"kinds": [kind]},
    )
    args = (session.workspace_id, [kind])
    new = await ui.write(audit.audited, entry, ui.now(), workspaces.rotate_keys, *args)
    ui.forget_keys(session.workspace_id)
    label = next(name for key, name, _ in KEYS if key == kind)
    return await _page(ui, request, rotated=(label, new[workspaces.KEY_KINDS[kind].name]))


async def _page(ui: Ui, request: UiRequest, rotated: tuple[str, str] | None = None) -> Page:
    assert request.session is not None
    found = await ui.read(settings_view.overview, request.session.workspace_id)
    return ui.page(
        request,
        "settings.html",
        s=found,
        keys=KEYS,
        admin=roles.may(request.session.role, "manage"),
        rotated=rotated,
    )
