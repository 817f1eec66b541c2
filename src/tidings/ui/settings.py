"""The Settings page: the workspace, its API keys, providers, sender identities and
reporting webhooks; and rotating a key (admins only). Admins also get the forms
changing providers, sender identities and reporting webhooks, and creating a
workspace (`settings_providers.py`, `settings_changes.py`).

Keys are stored only as digests, so no page can show one again: the page names
each key and what it is for, and only admins see that section at all. Rotating
a key (`workspaces.service.rotate_key_once`, audited in its transaction)
answers the page itself, not a redirect, with the new key shown once: it is
never put in a URL, and pages are sent `no-store`. The form names the key it
replaces by its fingerprint, so a form sent twice (a reload of the answer, two
admins at once) rotates the key once: the second gets a 409 saying so. The
rotation then drops this process's cached lookups of the workspace
(`Ui.forget_keys`), so the old key gets a 401 on its next request. Nothing
secret of a provider or webhook is shown to anyone (`workspaces.settings_view`).
"""

from __future__ import annotations

from tidings import audit
from tidings.errors import ApiError
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui
from tidings.users import roles
from tidings.workspaces import channel_providers, settings_view
from tidings.workspaces import service as workspaces

# Each key kind: what the page calls it and which API takes it.
KEYS = (
    ("track", "Track API key", "the Track API, with the site id as HTTP Basic user"),
    ("app", "App API key", "the App API, as a Bearer token"),
    ("cdp", "Pipelines write key", "the Pipelines (CDP) API"),
)


async def settings(ui: Ui, request: UiRequest) -> Page:
    return await page(ui, request)


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
    label = next(name for key, name, _ in KEYS if key == kind)
    args = (session.workspace_id, kind, request.form.get("fingerprint", ""))
    try:
        new = await ui.write(audit.audited, entry, ui.now(), workspaces.rotate_key_once, *args)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return await page(ui, request, status=409, stale=label)
    ui.forget_keys(session.workspace_id)
    return await page(ui, request, rotated=(label, new))


async def page(
    ui: Ui,
    request: UiRequest,
    status: int = 200,
    rotated: tuple[str, str] | None = None,
    stale: str = "",
    form: tuple[str, ApiError, dict[str, str]] | None = None,
) -> Page:
    """The page; `form`: (which create form, its refusal, what was typed) to show again."""
    assert request.session is not None
    workspace_id = request.session.workspace_id
    admin = roles.may(request.session.role, "manage")
    return ui.page(
        request,
        "settings.html",
        status,
        s=await ui.read(settings_view.overview, workspace_id),
        keys=KEYS,
        admin=admin,
        fingerprints=await ui.read(workspaces.key_fingerprints, workspace_id) if admin else {},
        rotated=rotated,
        stale=stale,
        kinds=channel_providers.KINDS,
        refused={form[0]: form[1].message} if form else {},
        typed={form[0]: form[2]} if form else {},
    )
