"""The Settings, Jobs and Suppressions pages in a real browser: an admin rotates the App
API key and the old key gets a 401 at once; a viewer sees no key and is refused on
rotate by the server; an export made through the App API is on the Jobs page; an
author lifts a suppression made through the Track API."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import expect

from tests.ui.conftest import create_user, log_in
from tests.ui.test_browser import csrf_token, post_from_page
from tidings.jobs import queue


def app_api(ui_server, key: str) -> httpx.Client:
    return httpx.Client(base_url=ui_server.url + "/v1", headers={"Authorization": f"Bearer {key}"})


def test_an_admin_rotates_the_app_api_key_and_the_old_key_is_refused_at_once(page, ui_server, ws):
    with app_api(ui_server, ws.app_api_key) as old:
        assert old.get("/segments").status_code == 200  # the server now caches this key
        log_in(page, create_user(ui_server, ws.workspace_id, "admin"))
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
        expect(page.get_by_role("heading", name="API keys")).to_be_visible()
        expect(page.locator("main")).to_contain_text(ws.site_id)
        page.get_by_role("button", name="Rotate the App API key").click()
        new_key = page.locator("#new-key").inner_text()
        assert old.get("/segments").status_code == 401
    assert new_key != ws.app_api_key
    with app_api(ui_server, new_key) as new:
        assert new.get("/segments").status_code == 200
    page.reload()  # the browser sends the form again: the key is not rotated twice
    expect(page.get_by_role("alert")).to_contain_text("rotated already")
    with app_api(ui_server, new_key) as new:
        assert new.get("/segments").status_code == 200
    page.goto("/settings")  # the new key was shown once: not on the page again
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(new_key)


def test_a_viewer_sees_no_keys_and_the_server_refuses_their_rotation(page, ui_server, ws):
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/settings")
    expect(page.get_by_role("heading", name="Workspace")).to_be_visible()
    expect(page.get_by_role("heading", name="API keys")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Rotate"))).to_have_count(0)
    token = csrf_token(page)
    assert post_from_page(page, "/settings/keys/app/rotate", {"csrf_token": token}) == 403
    with app_api(ui_server, ws.app_api_key) as app:
        assert app.get("/segments").status_code == 200  # unchanged


def test_an_export_made_through_the_app_api_is_on_the_jobs_page(page, ui_server, ws):
    with app_api(ui_server, ws.app_api_key) as app:
        made = app.post("/exports/customers", json={})
        export_id = made.json()["export"]["id"]
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/jobs?kind=export")
    row = page.locator("#results tbody tr").first
    expect(row).to_contain_text("export")
    expect(row).to_contain_text(re.compile(r"(pending|done), \d+ rows"))  # its progress
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("export")
    expect(page.locator("main")).to_contain_text("export_id")
    expect(page.get_by_role("heading", name="The export")).to_be_visible()
    expect(page.locator("dl.facts").last).to_contain_text(str(export_id))


def test_a_job_whose_export_was_removed_is_listed_without_progress(page, ui_server, ui_db, ws):
    with ui_db.writer.begin() as conn:
        queue.enqueue(
            conn, ws.workspace_id, "export", {"export_id": 2_000_000_000}, int(time.time())
        )
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    answer = page.goto("/jobs?kind=export")
    assert answer is not None and answer.status == 200
    expect(page.locator("#results tbody tr").first).to_contain_text("export")


def test_an_author_lifts_a_suppression_a_viewer_only_sees_it(page, ui_server, ws):
    track = (ws.site_id, ws.track_api_key)
    url = f"{ui_server.url}/api/v1/customers/quiet-1"
    assert httpx.put(url, json={"email": "Quiet@X.test"}, auth=track).is_success
    assert httpx.post(url + "/suppress", auth=track).is_success
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/suppressions?address=QUIET")
    expect(page.locator("main")).to_contain_text("quiet@x.test")
    expect(page.get_by_role("button", name=re.compile("Unsuppress"))).to_have_count(0)
    log_in(page, create_user(ui_server, ws.workspace_id, "author"))
    page.goto("/suppressions?address=quiet")
    page.get_by_role("button", name="Unsuppress quiet-1").click()
    expect(page.get_by_role("heading", name="Suppressed people")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("quiet@x.test")  # with its partner
    assert httpx.put(url, json={"email": "quiet@x.test"}, auth=track).is_success
