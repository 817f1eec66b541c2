"""The Activity and Deliveries pages in a real browser, against a real `tidings serve`:
an event sent through the Track API is found by its name, a Pipelines message refused
is listed with its reason, so is a refusal the ingest log's applier recorded, and a
transactional email sent through the App API is listed with its subject and the
provider's answer, its HTML shown without running its scripts."""

from __future__ import annotations

import re
import time
import uuid

import httpx
from playwright.sync_api import expect

from tests.conftest import new_workspace
from tests.factories import add_ingest_refusal
from tests.support import eventually
from tests.ui.conftest import create_user, log_in
from tidings.reporting import delivery_view
from tidings.ui import activity


def test_an_event_sent_through_the_track_api_is_in_the_activity_log(page, ui_server, ws):
    name = f"checkout-{uuid.uuid4().hex[:6]}"
    track = f"{ui_server.url}/api/v1/customers/buyer-1/events"
    auth = (ws.site_id, ws.track_api_key)
    for event in (name, "other-event"):
        sent = httpx.post(track, json={"name": event, "data": {"total": 42}}, auth=auth)
        assert sent.status_code == 200, sent.text
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Activity").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Type").select_option("event")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"/activity\?type=event&name={name}&"))
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(name)
    expect(rows.first.get_by_role("link", name="buyer-1")).to_be_visible()
    payload = rows.first.locator("pre")
    expect(payload).to_be_hidden()
    rows.first.get_by_text("Payload").click()
    expect(payload).to_contain_text('"total": 42')
    page.goto(f"/activity?name={name}&until=2020-01-01T00:00")  # a time range in the URL
    expect(rows).to_have_count(0)
    expect(page.get_by_label("To (UTC)")).to_have_value("2020-01-01T00:00")
    page.goto(f"/activity?name={name}&since=yesterday")
    expect(page.get_by_role("alert")).to_contain_text("is not a date and time")
    expect(rows).to_have_count(1)  # the other filters still apply
    page.goto("/activity?person=buyer-1")
    expect(rows).to_have_count(3)  # the two events and the person's creation
    page.goto("/activity?person=nobody-here")
    expect(page.locator("#results")).to_contain_text("No person in this workspace")


def test_a_refused_pipelines_message_is_listed_with_its_reason(page, ui_server, ws):
    refused = httpx.post(
        f"{ui_server.url}/v1/track",
        json={"type": "track", "event": "no one named", "messageId": "m-refused-1"},
        auth=(ws.cdp_write_key, ""),
    )
    assert refused.status_code == 200, refused.text  # without strict mode, as Customer.io
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/activity")
    page.get_by_role("link", name="Pipelines rejections").click()
    table = page.locator("table")
    expect(table).to_contain_text("m-refused-1")
    expect(table).to_contain_text("invalid_request")


def test_a_refusal_found_when_the_ingest_log_applied_is_listed(page, ui_server, ui_db, ws):
    now = int(time.time())  # the server's housekeeping prunes on the real clock
    other = new_workspace(ui_db, "other").workspace_id
    with ui_db.writer.begin() as conn:
        add_ingest_refusal(conn, ws.workspace_id, "late-conflict", now, message="ids clash")
        add_ingest_refusal(conn, other, "elsewhere", now)
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/activity")
    page.get_by_role("link", name="Ingest log refusals").click()
    expect(page).to_have_url(re.compile(r"/activity/refusals$"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)  # not another workspace's
    row = rows.first
    expect(row).to_contain_text(activity.when(now))
    expect(row).to_contain_text("PUT /api/v1/customers/{identifier}")
    expect(row).to_contain_text("409 conflict: ids clash")
    published = row.locator("pre")
    expect(published).to_be_hidden()
    row.locator("summary").click()
    expect(published).to_contain_text('"id:late-conflict"')


def test_a_transactional_send_is_listed_and_its_html_does_not_run(page, ui_server, ws, ui_query):
    html = (
        "<p>Hello <b>Ann</b></p>"
        "<script>document.body.dataset.ran = 'yes'; parent.document.title = 'pwned';</script>"
    )
    body = {
        "identifiers": {"id": "ann-1"},
        "to": "ann@example.test",
        "from": "shop@example.test",
        "subject": "Your receipt",
        "body": html,
    }
    app = {"Authorization": f"Bearer {ws.app_api_key}"}
    sent = httpx.post(f"{ui_server.url}/v1/send/email", json=body, headers=app)
    assert sent.status_code == 200, sent.text
    delivery_id = sent.json()["delivery_id"]
    eventually(
        lambda: ui_query(delivery_view.detail, ws.workspace_id, delivery_id)["state"] == "sent",
        timeout=15,
    )
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/deliveries?status=sent&channel=email")
    row = page.locator("tbody tr").filter(has_text="Your receipt")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ann@example.test")
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/deliveries/{delivery_id}$"))
    main = page.locator("main")
    expect(main).to_contain_text("Your receipt")
    expect(main).to_contain_text("capture-")  # the capture provider's message id
    expect(page.locator("table").filter(has_text="sent")).to_be_visible()  # the history
    frame = page.frame_locator("iframe.message")
    expect(frame.locator("b")).to_have_text("Ann")  # rendered in the sandbox
    expect(frame.locator("b")).to_be_visible()
    assert frame.locator("body").get_attribute("data-ran") is None  # its script did not run
    assert "pwned" not in page.title()
    page.get_by_text("HTML source").click()
    expect(page.locator("details pre")).to_contain_text("<script>")  # shown escaped
    answer = page.request.get(f"/deliveries/{delivery_id}/html")
    assert "sandbox" in answer.headers["content-security-policy"]
