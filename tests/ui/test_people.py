"""The People pages in a real browser: a person found by email shows the event just sent
through the Track API in their timeline; people filtered by an attribute and by a segment,
with the search box, all held in the URL."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.ui.conftest import create_user, log_in


@pytest.fixture
def track(ui_server, ws):
    """The Track API (v1) of the test's workspace, over HTTP as a client sends it."""
    auth = (ws.site_id, ws.track_api_key)
    with httpx.Client(base_url=ui_server.url + "/api/v1", auth=auth) as client:
        yield client


@pytest.fixture
def app(ui_server, ws):
    """The App API of the test's workspace."""
    key = {"Authorization": f"Bearer {ws.app_api_key}"}
    with httpx.Client(base_url=ui_server.url + "/v1", headers=key) as client:
        yield client


def test_a_person_found_by_email_shows_the_event_just_sent_through_the_track_api(
    page, ui_server, ws, track
):
    assert track.put("/customers/buyer-7", json={"email": "Buyer.Seven@Example.test"}).is_success
    event = {"name": "checkout_completed", "data": {"total": 42.5, "sku": "tea-01"}}
    assert track.post("/customers/buyer-7/events", json=event).is_success  # committed
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/people")
    page.get_by_label("Search by id or email").fill("buyer.seven@example.test")
    page.locator("#results").get_by_role("link", name="buyer-7").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Buyer.Seven@Example.test")
    timeline = page.locator("#timeline")
    newest = timeline.locator("li.entry").first
    expect(newest).to_contain_text("Event: checkout_completed")
    payload = newest.locator("details pre")
    expect(payload).to_be_hidden()
    newest.get_by_text("Payload").click()  # a <details>: opens without a script of ours
    expect(payload).to_contain_text('"sku": "tea-01"')
    expect(timeline).to_contain_text("Attributes changed: email")  # the identify, older
    expect(page.locator("dl")).to_contain_text("buyer-7")


def test_people_are_filtered_by_attribute_and_segment_with_the_search_box(
    page, ui_server, ws, track, app
):
    for n, plan in enumerate(["pro", "pro", "free", "pro"]):
        body = {"email": f"filter{n}@x.test", "plan": plan, "seats": n * 10}
        assert track.put(f"/customers/filter-{n}", json=body).is_success
    made = app.post("/segments", json={"segment": {"name": "Beta testers"}})
    segment_id = made.json()["segment"]["id"]
    added = {"ids": ["filter-1", "filter-2", "filter-3"]}
    assert track.post(f"/segments/{segment_id}/add_customers", json=added).is_success
    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/people")
    rows = page.locator("#results tbody tr")

    page.get_by_label("Attribute").fill("plan")
    page.get_by_label("Operator").select_option(label="is")
    page.get_by_label("Value").fill("pro")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(3)
    expect(page.locator("#results")).not_to_contain_text("filter-2")

    page.get_by_label("Segment").select_option(label="Beta testers")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)  # pro and in the segment: 1 and 3
    expect(rows.first).to_contain_text("filter-1")
    expect(page).to_have_url(re.compile(rf"attr=plan&op=eq&value=pro&segment={segment_id}"))

    page.get_by_label("Search by id or email").fill("filter3@")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("filter-3")

    page.goto(f"/people?attr=seats&op=gte&value=20&segment={segment_id}")  # a shared link
    expect(page.get_by_label("Attribute")).to_have_value("seats")
    expect(rows).to_have_count(2)  # seats 20 and 30, both in the segment
    page.goto("/people?attr=seats&op=gt&value=lots")
    expect(page.get_by_role("alert")).to_contain_text("must be a date")
