"""The Users page of a workspace (admins only): who has which role, and changing it.

A role change is `accounts.set_role`, which records its audit entry in the
same transaction. The page hides nothing the server does not also refuse:
the route needs `manage`, so another role's POST is a 403 (`ui/site.py`).
"""

from __future__ import annotations

from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import accounts, roles


async def members(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    found = await ui.read(accounts.members_of, request.session.workspace_id)
    return ui.page(request, "users.html", members=found, roles=roles.ROLES)


async def change_role(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    user_id = request.params["user_id"]
    if not user_id.isdigit():
        return redirect("/users")
    await ui.write(
        accounts.set_role,
        session.workspace_id,
        int(user_id),
        request.form.get("role", ""),
        ui.now(),
        session.user_id,
    )
    return redirect("/users")
