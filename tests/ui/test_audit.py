"""Users, the account page and the audit log in a real browser against `tidings serve`:
an admin adds a user who signs in with the password shown once and changes it; a
viewer is refused (403) the audit log and every user change; the CSV export
downloads the filtered entries, escaped against spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.ui.conftest import User, create_user, log_in
from tests.ui.test_browser import csrf_token, post_from_page
from tidings import audit
from tidings.users import accounts, passwords


def test_an_added_user_signs_in_with_the_shown_password_and_changes_it(
    page, browser, ui_server, ws, ui_query
):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    log_in(page, admin)
    page.goto("/users")
    email = f"new-{int(time.time() * 1000)}@example.test"
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Role", exact=True).select_option("author")
    page.get_by_role("button", name="Add user").click()
    password = page.locator("#shown-password").inner_text()
    assert len(password) >= 20
    expect(page.get_by_label(f"Role of {email}")).to_have_value("author")
    [entry] = [
        e
        for e in ui_query(audit.entries, ws.workspace_id)
        if e["action"] == "user.create" and e["details"]["email"] == email
    ]
    assert entry["user_id"] == admin.user_id

    other = browser.new_context(base_url=ui_server.url)
    try:
        newcomer = other.new_page()
        added = User(int(entry["target_id"]), email, password, ws.workspace_id)
        assert log_in(newcomer, added).status == 303
        expect(newcomer.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
        newcomer.get_by_role("link", name=email).click()  # the header's account link
        newcomer.get_by_label("Current password").fill(password)
        newcomer.get_by_label("New password (at least 12 characters)").fill(
            "a brand new passphrase"
        )
        newcomer.get_by_label("New password again").fill("a brand new passphrase")
        newcomer.get_by_role("button", name="Change password").click()
        expect(newcomer.get_by_role("status")).to_contain_text("Password changed")
    finally:
        other.close()
    stored = ui_query(accounts.by_email, email).password_hash
    assert passwords.verify_password("a brand new passphrase", stored)


def test_a_viewer_is_refused_the_audit_log_and_every_user_change(page, ui_server, ws, ui_query):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, viewer)
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log")
    ).to_have_count(0)
    assert page.goto("/audit").status == 403
    assert page.goto("/audit/export.csv").status == 403
    page.goto("/people")
    token = {"csrf_token": csrf_token(page)}
    before = len(ui_query(audit.entries, ws.workspace_id))
    new = {**token, "email": "sneaky@example.test", "role": "admin"}
    assert post_from_page(page, "/users/add", new) == 403
    assert post_from_page(page, f"/users/{admin.user_id}/remove", token) == 403
    assert post_from_page(page, f"/users/{admin.user_id}/password", token) == 403
    assert ui_query(accounts.by_email, "sneaky@example.test") is None
    assert ui_query(accounts.role_in, admin.user_id, ws.workspace_id) == "admin"
    assert len(ui_query(audit.entries, ws.workspace_id)) == before
    assert log_in(page, admin).status == 303  # the admin's password still works


def test_the_last_admin_is_kept_with_a_message(page, ui_server, ws, ui_query):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    log_in(page, admin)
    page.goto("/users")
    page.get_by_role("button", name=f"Remove {admin.email} from this workspace").click()
    expect(page.get_by_role("alert")).to_contain_text("last admin")
    assert ui_query(accounts.role_in, admin.user_id, ws.workspace_id) == "admin"


def test_the_csv_export_downloads_the_filtered_entries(page, ui_server, ws, ui_db):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    now = int(time.time())
    with ui_db.writer.begin() as conn:
        for n, target in enumerate(('=HYPERLINK("x")', "plain", "@SUM(1)")):
            entry = audit.Entry(
                "segment.create", "segment", target, ws.workspace_id, admin.user_id, {"n": n}
            )
            audit.record(conn, entry, now)
        audit.record(conn, audit.Entry("template.save", "template", "9", ws.workspace_id), now)
    log_in(page, admin)
    page.goto("/audit")
    page.get_by_label("Action").fill("segment.create")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=segment\.create"))
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(3)
    rows.first.get_by_text("Details").click()
    expect(rows.first.locator("pre")).to_contain_text('"n": 2')
    with page.expect_download() as started:
        page.get_by_role("link", name="Download these entries as CSV").click()
    download: Any = started.value
    text = Path(download.path()).read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "id",
        "time_utc",
        "user_id",
        "user_email",
        "action",
        "target_type",
        "target_id",
        "details",
    ]
    assert [row[6] for row in table[1:]] == ["'@SUM(1)", "plain", '\'=HYPERLINK("x")']
    assert {row[4] for row in table[1:]} == {"segment.create"}
    assert table[1][3] == admin.email
