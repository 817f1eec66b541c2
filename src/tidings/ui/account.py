"""The signed-in user's own account: changing their password.

The current password is required (a session left open on a shared computer
must not be enough to take the account over). It is verified on a thread
against the stored hash, and the change is written only if that hash is still
the stored one (`accounts.change_password`), so two changes at once cannot
both pass on the old password. Every other session of the user ends; this one
stays. The login throttle is not involved: the page needs a live session.
"""

from __future__ import annotations

import asyncio

from tidings.errors import ApiError
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import accounts, passwords


async def account(ui: Ui, request: UiRequest) -> Page:
    done = "Password changed. Your other sessions have ended." if request.query.get("done") else ""
    return ui.page(request, "account.html", notice=done, error="")


async def change_password(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    form = request.form
    current, new = form.get("current", ""), form.get("new", "")
    error = passwords.check_new_password(new)
    if error is None and new != form.get("confirm", ""):
        error = "the new password and its confirmation differ"
    stored = await ui.read(accounts.password_hash_of, session.user_id)
    if error is None:
        matches = stored is not None and await asyncio.to_thread(
            passwords.verify_password, current, stored
        )
        if not matches:
            error = "the current password is not right"
    if error is not None or stored is None:
        return _refused(ui, request, 400, error or "no such user")
    hashed = await asyncio.to_thread(passwords.hash_password, new)
    try:
        await ui.write(
            accounts.change_password, session.user_id, stored, hashed, session.id_hash, ui.now()
        )
    except ApiError as exc:
        return _refused(ui, request, exc.status, exc.message)
    return redirect("/account?done=1")


def _refused(ui: Ui, request: UiRequest, status: int, error: str) -> Page:
    message = error[:1].upper() + error[1:] + "."
    return ui.page(request, "account.html", status, notice="", error=message)
