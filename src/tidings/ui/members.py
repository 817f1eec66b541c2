"""The Users page of a workspace (admins only): who has which role, adding a user,
changing or taking away a role, and resetting a password.

Each change is one use case of `users/accounts.py`, which records its audit
entry in the same transaction. The page hides nothing the server does not also
refuse: every route needs `manage`, so another role's POST is a 403
(`ui/site.py`). A refusal of the use case (the workspace's last admin, an
unknown user) shows the page again with its message.

A generated password (a new user's, a reset one) is shown once, in the answer
to the POST that made it: it is never in a URL, and stored only as a hash.
Hashing runs on a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.errors import ApiError
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import accounts, passwords, roles

DONE = {
    "role": "Role saved.",
    "removed": "Role removed: the user can no longer open this workspace.",
}


async def members(ui: Ui, request: UiRequest) -> Page:
    return await _page(ui, request, notice=DONE.get(request.query.get("done", ""), ""))


async def _page(ui: Ui, request: UiRequest, status: int = 200, **values: Any) -> Page:
    assert request.session is not None
    found = await ui.read(accounts.members_of, request.session.workspace_id)
    values = {"notice": "", "error": "", "shown": None, "email": "", "role": "viewer"} | values
    return ui.page(request, "users.html", status, members=found, roles=roles.ROLES, **values)


async def change_role(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    user_id = _user_id(request)
    if user_id is None:
        return redirect("/users")
    try:
        await ui.write(
            accounts.set_role,
            session.workspace_id,
            user_id,
            request.form.get("role", ""),
            ui.now(),
            session.user_id,
        )
    except ApiError as exc:
        return await _page(ui, request, exc.status, error=_sentence(exc.message))
    return redirect("/users?done=role")


async def add_user(ui: Ui, request: UiRequest) -> Page:
    """A new email: a user with a generated password, shown once. An existing user's
    email: that user is given the role in this workspace (their password unchanged)."""
    assert request.session is not None
    session = request.session
    email, role = request.form.get("email", "").strip(), request.form.get("role", "")
    password = passwords.generate_password()
    hashed = await asyncio.to_thread(passwords.hash_password, password)
    try:
        created = await ui.write(
            accounts.add_member,
            session.workspace_id,
            email,
            hashed,
            role,
            ui.now(),
            session.user_id,
        )
    except ApiError as exc:
        error = _sentence(exc.message)
        return await _page(ui, request, exc.status, error=error, email=email, role=role)
    address = accounts.normalise_email(email)
    if not created:
        notice = f"{address} already had an account: they now have the role {role} here."
        return await _page(ui, request, notice=notice)
    shown = {"email": address, "password": password, "why": "created"}
    return await _page(ui, request, shown=shown)


async def remove(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    user_id = _user_id(request)
    if user_id is None:
        return redirect("/users")
    try:
        await ui.write(accounts.revoke, session.workspace_id, user_id, ui.now(), session.user_id)
    except ApiError as exc:
        return await _page(ui, request, exc.status, error=_sentence(exc.message))
    return redirect("/users?done=removed")


async def reset_password(ui: Ui, request: UiRequest) -> Page:
    """A new generated password for a member, shown once; all their sessions end."""
    assert request.session is not None
    session = request.session
    user_id = _user_id(request)
    if user_id is None:
        return redirect("/users")
    if user_id == session.user_id:  # it would end this session before showing the password
        error = "Change your own password on your Account page (it asks for the current one)."
        return await _page(ui, request, 409, error=error)
    password = passwords.generate_password()
    hashed = await asyncio.to_thread(passwords.hash_password, password)
    try:
        await ui.write(
            accounts.reset_password,
            session.workspace_id,
            user_id,
            hashed,
            ui.now(),
            session.user_id,
        )
    except ApiError as exc:
        return await _page(ui, request, exc.status, error=_sentence(exc.message))
    found = await ui.read(accounts.members_of, session.workspace_id)
    email = next((m.email for m in found if m.user_id == user_id), str(user_id))
    return await _page(ui, request, shown={"email": email, "password": password, "why": "reset"})


def _user_id(request: UiRequest) -> int | None:
    raw = request.params["user_id"]
    return int(raw) if raw.isdigit() else None


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
