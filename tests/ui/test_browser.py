"""The web UI in a real browser (Debian's Chromium through Playwright), against a real
`tidings serve`: signing in, the throttle, roles and CSRF enforced by the server,
workspaces kept apart, and a person sent through the Track API found on People."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect
from sqlalchemy import update

from tests.conftest import new_workspace
from tests.ui.conftest import create_user, log_in
from tidings import audit
from tidings.db.schema import users
from tidings.users import accounts, passwords, throttle


def post_from_page(page: Any, path: str, fields: dict[str, str]) -> int:
    """POST a form from the page's own script (its cookies, its Origin): the status,
    303 for a redirect."""
    return page.evaluate(
        """async ([path, fields]) => {
            const r = await fetch(path, {method: "POST", body: new URLSearchParams(fields),
                                         redirect: "manual"});
            return r.type === "opaqueredirect" ? 303 : r.status;
        }""",
        [path, fields],
    )


def csrf_token(page: Any) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


def test_the_first_admin_made_by_the_cli_signs_in_and_out(page, ui_server, ws):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    page.goto("/people")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fpeople$"))  # the page asked for
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert log_in(page, admin).status == 303
    expect(page).to_have_url(re.compile(r"/$"))  # a login lands on the dashboard
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    expect(nav.get_by_role("link", name="People")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Users")).to_be_visible()  # an admin's page
    [cookie] = page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Lax", False)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.context.add_cookies([cookie])  # the old id is worth nothing after logout
    page.goto("/people")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fpeople$"))


def test_a_login_rotates_the_session_id(page, ui_server, ws):
    user = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, user)
    [first] = page.context.cookies()
    log_in(page, user)
    [second] = page.context.cookies()
    assert first["value"] != second["value"]
    page.context.clear_cookies()
    page.context.add_cookies([first])
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))  # the replaced session was deleted


def test_a_wrong_password_is_refused_and_repeated_failures_get_429(page, ui_server, ws):
    user = create_user(ui_server, ws.workspace_id, "admin")
    for _ in range(throttle.MAX_PER_EMAIL):
        assert log_in(page, user, password="not the password").status == 400
        expect(page.get_by_role("alert")).to_contain_text("do not match")
    refused = log_in(page, user)  # even the right password, now
    assert refused.status == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"] == "text/html; charset=utf-8"  # a page, not JSON
    expect(page.get_by_role("alert")).to_contain_text("Too many failed logins")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_a_login_stores_a_fresh_hash_of_a_password_hashed_with_older_parameters(
    page, ui_server, ws, ui_db, ui_query
):
    user = create_user(ui_server, ws.workspace_id, "viewer")
    older = passwords.hash_password(user.password, log2_n=10, r=8, p=1)
    with ui_db.writer.begin() as conn:
        conn.execute(update(users).where(users.c.id == user.user_id).values(password_hash=older))
    assert log_in(page, user).status == 303
    stored = ui_query(accounts.password_hash_of, user.user_id)
    assert stored != older and not passwords.needs_rehash(stored)
    assert stored.startswith(f"scrypt${passwords.LOG2_N}${passwords.R}${passwords.P}$")
    assert passwords.verify_password(user.password, stored)
    page.context.clear_cookies()
    assert log_in(page, user).status == 303  # the fresh hash signs in, and stays
    assert ui_query(accounts.password_hash_of, user.user_id) == stored


def test_a_viewers_change_is_refused_by_the_server(page, ui_server, ws, ui_query):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, viewer)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="People")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    token = csrf_token(page)
    fields = {"csrf_token": token, "role": "viewer"}
    assert post_from_page(page, f"/users/{admin.user_id}/role", fields) == 403
    assert post_from_page(page, f"/users/{viewer.user_id}/role", {**fields, "role": "admin"}) == 403
    assert ui_query(accounts.role_in, admin.user_id, ws.workspace_id) == "admin"
    assert ui_query(accounts.role_in, viewer.user_id, ws.workspace_id) == "viewer"
    actions = {entry["action"] for entry in ui_query(audit.entries, ws.workspace_id)}
    assert "user.role" not in actions
    response = page.goto("/users")
    assert response.status == 403


def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused(
    page, ui_server, ws, ui_query
):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, admin)
    path = f"/users/{viewer.user_id}/role"
    assert post_from_page(page, path, {"role": "author"}) == 403
    assert post_from_page(page, path, {"role": "author", "csrf_token": "x" * 43}) == 403
    [cookie] = page.context.cookies()
    token = csrf_token(page)
    foreign = httpx.post(
        ui_server.url + path,
        data={"role": "author", "csrf_token": token},
        headers={"Origin": "http://evil.test", "Cookie": f"tidings_session={cookie['value']}"},
    )
    assert foreign.status_code == 403 and "another origin" in foreign.text
    assert ui_query(accounts.role_in, viewer.user_id, ws.workspace_id) == "viewer"
    # The same change with the token, from the page: allowed, so the checks were the refusal.
    assert post_from_page(page, path, {"role": "author", "csrf_token": token}) == 303
    assert ui_query(accounts.role_in, viewer.user_id, ws.workspace_id) == "author"


def test_a_role_is_changed_on_the_users_page_and_audited(page, ui_server, ws, ui_query):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, admin)
    page.get_by_role("link", name="Users").click()
    page.get_by_label(f"Role of {viewer.email}").select_option("author")
    page.get_by_role("row", name=re.compile(re.escape(viewer.email))).get_by_role(
        "button", name="Save"
    ).click()
    expect(page.get_by_label(f"Role of {viewer.email}")).to_have_value("author")
    [entry] = [e for e in ui_query(audit.entries, ws.workspace_id) if e["action"] == "user.role"]
    assert (entry["user_id"], entry["target_id"]) == (admin.user_id, str(viewer.user_id))


def test_another_workspace_is_refused(page, ui_server, ws, ui_db, ui_query):
    other = new_workspace(ui_db, "other")
    user = create_user(ui_server, ws.workspace_id, "admin")
    _identify(ui_server, other, "hidden-1", "hidden@x.test")
    log_in(page, user)
    expect(page.get_by_label("Workspace")).to_have_count(0)  # one workspace: no switcher
    token = csrf_token(page)
    assert (
        post_from_page(
            page, "/workspace", {"workspace_id": str(other.workspace_id), "csrf_token": token}
        )
        == 403
    )
    page.goto("/people?q=hidden")
    expect(page.locator("#results")).to_contain_text("No one")
    admin_there = create_user(ui_server, other.workspace_id, "admin")
    assert post_from_page(
        page, f"/users/{admin_there.user_id}/role", {"role": "viewer", "csrf_token": token}
    ) in (303, 404)
    assert ui_query(accounts.role_in, admin_there.user_id, other.workspace_id) == "admin"


def test_a_person_sent_through_the_track_api_is_found_by_email(page, ui_server, ws):
    _identify(ui_server, ws, "track-42", "Found.Me@Example.test")
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, viewer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    page.get_by_label("Search by id or email").fill("found.me@")
    results = page.locator("#results")
    expect(results).to_contain_text("Found.Me@Example.test")
    expect(results).to_contain_text("track-42")
    expect(page).to_have_url(re.compile(r"/people\?q=found\.me%40$"))  # the URL holds the search
    page.reload()
    expect(page.get_by_label("Search by id or email")).to_have_value("found.me@")
    expect(results).to_contain_text("track-42")


def test_people_come_a_page_at_a_time(page, ui_server, ws):
    for n in range(52):
        _identify(ui_server, ws, f"paged-{n:02d}", f"paged{n:02d}@x.test")
    user = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, user)
    page.goto("/people?q=paged")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(50)
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("paged-50")
    page.get_by_role("link", name="First page").click()
    expect(rows.first).to_contain_text("paged-00")


def test_cookies_open_only_the_ui_and_keys_only_the_apis(page, ui_server, ws):
    user = create_user(ui_server, ws.workspace_id, "admin")
    log_in(page, user)
    [cookie] = page.context.cookies()
    session = {"Cookie": f"tidings_session={cookie['value']}"}
    api = httpx.get(ui_server.url + "/v1/customers", params={"email": "a@x.test"}, headers=session)
    assert api.status_code == 401 and api.json()["meta"]
    key = {"Authorization": f"Bearer {ws.app_api_key}"}
    assert httpx.get(ui_server.url + "/people", headers=key).status_code == 401
    assert httpx.get(ui_server.url + "/people", headers={**key, **session}).status_code == 401
    assert httpx.get(ui_server.url + "/people", headers=session).status_code == 200


def _identify(ui_server, creds, customer_id: str, email: str) -> None:
    auth = (creds.site_id, creds.track_api_key)
    url = f"{ui_server.url}/api/v1/customers/{customer_id}"
    response = httpx.put(url, json={"email": email}, auth=auth)
    assert response.status_code == 200, response.text  # committed: searchable at once
