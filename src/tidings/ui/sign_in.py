"""Login, logout and the workspace switcher.

A login is checked in this order: the throttle (429 before any password is
looked at), then the password, hashed on a thread of its own (a fifth of a
second of CPU must not stall the event loop), against a dummy hash when the
email is unknown so both failures take as long. Success makes a new session
id (the old cookie's session, if any, is deleted) and sets the cookie; when
the stored hash was made with older parameters than today's
(`passwords.needs_rehash`), the password just checked is hashed again and
stored by the same write as the session.
"""

from __future__ import annotations

import asyncio

from tidings.ui import security
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import accounts, passwords, sessions, throttle


async def login_form(ui: Ui, request: UiRequest) -> Page:
    """The form, also to someone signed in already: signing in again (as another user,
    say) replaces the browser's session rather than keeping one planted in it."""
    return _form(ui, request, next_path=request.query.get("next", ""))


def _form(ui: Ui, request: UiRequest, status: int = 200, **values: str) -> Page:
    values = {"error": "", "email": "", "next_path": ""} | values
    return ui.page(request, "login.html", status, **values)


async def log_in(ui: Ui, request: UiRequest) -> Page:
    form = request.form
    email, password = form.get("email", ""), form.get("password", "")
    next_path = security.safe_next(form.get("next"))
    now = ui.now()
    wait = await ui.read(throttle.retry_after, email, request.client_address, now)
    if wait is not None:
        message = f"Too many failed logins. Try again in {_minutes(wait)}."
        page = _form(ui, request, 429, error=message, email=email, next_path=next_path)
        page.headers.append((b"retry-after", str(wait).encode()))
        return page
    account = await ui.read(accounts.by_email, email)
    stored = account.password_hash if account is not None else passwords.DUMMY_HASH
    matches = await asyncio.to_thread(passwords.verify_password, password, stored)
    if account is None or not matches:
        await ui.write(throttle.record_failure, email, request.client_address, now)
        error = "That email and password do not match an account."
        return _form(ui, request, 400, error=error, email=email, next_path=next_path)
    rehashed = None
    if passwords.needs_rehash(stored):
        fresh = await asyncio.to_thread(passwords.hash_password, password)
        rehashed = (stored, fresh)
    return await _begin(ui, request, account, next_path, rehashed)


async def _begin(
    ui: Ui,
    request: UiRequest,
    account: accounts.Account,
    next_path: str,
    rehashed: tuple[str, str] | None,
) -> Page:
    raw, csrf = sessions.new_secret(), sessions.new_secret()
    old = request.cookie(security.COOKIE)
    replaces = sessions.hash_id(old) if old else None
    await ui.write(
        sessions.log_in,
        account.id,
        account.email,
        sessions.hash_id(raw),
        csrf,
        ui.now(),
        replaces,
        rehashed,
    )
    cookie = security.session_cookie(raw, secure=request.secure, max_age=sessions.ABSOLUTE_SECONDS)
    return redirect(next_path, [(b"set-cookie", cookie)])


async def log_out(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    await ui.write(sessions.log_out, session.id_hash, session.user_id, ui.now())
    return redirect("/login", [(b"set-cookie", security.cleared_cookie(secure=request.secure))])


async def switch_workspace(ui: Ui, request: UiRequest) -> Page:
    """Open another workspace the user has a role in; a 403 for any other."""
    assert request.session is not None
    raw = request.form.get("workspace_id", "")
    if not raw.isdigit():
        return redirect("/people")
    session = request.session
    await ui.write(sessions.switch_workspace, session.id_hash, session.user_id, int(raw), ui.now())
    return redirect("/people")


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
