"""The Campaigns, Broadcasts and Newsletters pages in a real browser against a real
`tidings serve` (its workers run the journeys): a running campaign's page counts a
person who entered through a Track API event, a broadcast is triggered after its
preview and its messages reach the outbox, a newsletter is scheduled, descheduled
and sent, and a viewer's actions are refused by the server. Every change is in the
audit log."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.support import eventually
from tests.ui.conftest import create_user, log_in
from tests.ui.test_browser import csrf_token, post_from_page
from tests.ui.test_segments import identify, track
from tidings import audit, paging
from tidings.campaigns import definitions, journey_view, newsletters, store
from tidings.campaigns import newsletter_requests as asks
from tidings.providers import outbox

DEADLINE = 30.0
MAIL = {"from": "team@example.com", "body": "<p>Hello</p>"}
WELCOME = {
    "name": "Welcome journey",
    "state": "running",
    "trigger": {"event": {"name": "signed_up"}},
    "workflow": [
        {"email": {**MAIL, "subject": "Welcome aboard"}},
        {"delay": {"days": 1}},
        {"email": {**MAIL, "subject": "Day two"}},
    ],
}
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
OUTAGE = {
    "name": "Outage notice",
    "kind": "broadcast",
    "state": "running",
    "audience": PRO,
    "workflow": [{"email": {**MAIL, "subject": "We are down ({{ trigger.region }})"}}],
}
NEWS = {"name": "December news", "type": "email", "recipients": PRO, **MAIL, "subject": "News"}


def save(ui_db, workspace_id: int, document: dict[str, Any]) -> int:
    with ui_db.writer.begin() as conn:
        return store.create(conn, workspace_id, definitions.parse(document), int(time.time()))


def new_newsletter(ui_db, workspace_id: int) -> int:
    now = int(time.time())
    with ui_db.writer.begin() as conn:
        return int(newsletters.create(conn, workspace_id, asks.parse_new(NEWS, now), now)["id"])


def actions(ui_query, workspace_id: int) -> list[dict[str, Any]]:
    """This area's audit entries, oldest first (user changes left out)."""
    found = reversed(ui_query(audit.entries, workspace_id))
    return [
        e for e in found if e["action"].split(".")[0] in ("campaign", "broadcast", "newsletter")
    ]


def step(page: Any, summary: str) -> Any:
    return page.locator(".journey-box").filter(has_text=summary)


def test_a_running_campaign_counts_a_person_who_entered_by_an_event(
    page, ui_server, ws, ui_db, ui_query
):
    campaign_id = save(ui_db, ws.workspace_id, WELCOME)
    identify(ui_server, ws, "ann", {"email": "ann@example.test"})
    track(ui_server, ws, "ann", "signed_up")
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.goto("/campaigns")
    row = page.get_by_role("row").filter(has_text="Welcome journey")
    expect(row).to_contain_text("When someone performs signed_up")
    row.get_by_role("link", name="Welcome journey").click()
    expect(step(page, "Email: Welcome aboard")).to_be_visible()
    deadline = time.monotonic() + DEADLINE
    while "Waiting now: 1" not in step(page, "Delay 1 day").inner_text():
        assert time.monotonic() < deadline, "the journey did not reach its delay in time"
        page.wait_for_timeout(250)
        page.reload()
    expect(step(page, "Email: Welcome aboard")).to_contain_text("Reached: 1")
    expect(step(page, "Email: Day two")).to_contain_text("Reached: 0")
    expect(page.locator(".campaign-state")).to_have_text("Running")

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("nobody new enters")
    expect(page.locator(".campaign-state")).to_have_text("Stopped")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".campaign-state")).to_have_text("Running")
    done = [(e["action"], e["user_id"], e["target_id"]) for e in actions(ui_query, ws.workspace_id)]
    assert done == [
        ("campaign.stop", author.user_id, str(campaign_id)),
        ("campaign.start", author.user_id, str(campaign_id)),
    ]


def test_a_broadcast_is_triggered_after_its_preview(page, ui_server, ws, ui_db, ui_query):
    broadcast_id = save(ui_db, ws.workspace_id, OUTAGE)
    for name, plan in (("pat", "pro"), ("pia", "pro"), ("fay", "free")):
        identify(ui_server, ws, name, {"email": f"{name}@example.test", "plan": plan})
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.goto("/broadcasts")
    page.get_by_role("link", name="Outage notice").click()
    expect(page.get_by_text("Not triggered yet.")).to_be_visible()
    page.get_by_label("Data (a JSON object").fill('{"region": "eu"}')

    def previewed() -> None:
        page.get_by_role("button", name="Preview the audience").click()
        expect(page.locator(".preview-count")).to_have_text("2 people.")

    previewed()
    listed = page.locator(".broadcast-preview tbody tr")
    expect(listed).to_have_count(2)
    expect(listed.first).to_contain_text("pat@example.test")
    page.get_by_role("button", name="Send to 2 people").click()
    expect(page.get_by_role("status")).to_contain_text("Triggered")
    expect(page.locator(".broadcast-triggers tbody tr")).to_have_count(1)

    def captured() -> list[str]:
        found = ui_query(outbox.list_captured, ws.workspace_id, paging.PageRequest(10))
        recipients = sorted(m["recipient"] for m in found["messages"])
        assert recipients == ["pat@example.test", "pia@example.test"]
        return [m["subject"] for m in found["messages"]]

    assert set(eventually(captured, timeout=DEADLINE)) == {"We are down (eu)"}
    # Another trigger within 10 seconds is refused, and says so on the form.
    previewed()
    page.get_by_role("button", name="Send to 2 people").click()
    expect(page.get_by_role("alert")).to_contain_text("less than 10 seconds ago")
    [entry] = [e for e in actions(ui_query, ws.workspace_id) if e["action"] == "broadcast.trigger"]
    assert (entry["user_id"], entry["target_id"]) == (author.user_id, str(broadcast_id))
    assert entry["details"]["data"] == '{"region": "eu"}'


def test_a_newsletter_is_scheduled_descheduled_and_sent(page, ui_server, ws, ui_db, ui_query):
    newsletter_id = new_newsletter(ui_db, ws.workspace_id)
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.goto("/newsletters")
    page.get_by_role("link", name="December news").click()
    expect(page.locator(".newsletter-state")).to_have_text("Draft")
    year = datetime.now().year + 1
    page.get_by_label("Date and time").fill(f"{year}-03-04T09:30")
    page.get_by_label("Time zone (IANA name)").fill("Europe/Paris")
    page.get_by_label("In each person’s local time").check()
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Scheduled.")
    expect(page.locator(".newsletter-state")).to_have_text("Scheduled")
    shown = ui_query(newsletters.get, ws.workspace_id, newsletter_id)
    paris = datetime(year, 3, 4, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert shown["scheduled_at"] == int(paris.timestamp())
    assert (shown["timezone"], shown["tz_match_enabled"]) == ("Europe/Paris", True)

    page.get_by_label("Date and time").fill(f"{year}-03-05T09:30")
    page.get_by_label("Time zone (IANA name)").fill("Mars/Olympus")
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("IANA time zone")

    page.goto(f"/newsletters/{newsletter_id}")
    page.get_by_role("button", name="Deschedule").click()
    expect(page.locator(".newsletter-state")).to_have_text("Draft")
    assert ui_query(newsletters.get, ws.workspace_id, newsletter_id)["scheduled_at"] is None

    unconfirmed = {"csrf_token": csrf_token(page)}
    assert post_from_page(page, f"/newsletters/{newsletter_id}/send", unconfirmed) == 400
    page.get_by_label("Send it to all its recipients now").check()
    page.get_by_role("button", name="Send now").click()
    expect(page.locator(".newsletter-state")).to_have_text("Sent")
    expect(page.get_by_role("button", name="Send now")).to_have_count(0)
    done = [e["action"] for e in actions(ui_query, ws.workspace_id)]
    assert done == ["newsletter.schedule", "newsletter.deschedule", "newsletter.send"]


def test_a_viewer_sees_the_pages_but_cannot_act(page, ui_server, ws, ui_db, ui_query):
    campaign_id = save(ui_db, ws.workspace_id, {**WELCOME, "state": "draft"})
    broadcast_id = save(ui_db, ws.workspace_id, OUTAGE)
    newsletter_id = new_newsletter(ui_db, ws.workspace_id)
    identify(ui_server, ws, "vic", {"email": "vic@example.test", "plan": "pro"})
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, viewer)
    page.goto(f"/campaigns/{campaign_id}")
    expect(step(page, "Delay 1 day")).to_be_visible()
    expect(page.get_by_role("button", name="Start")).to_have_count(0)
    token = csrf_token(page)
    assert post_from_page(page, f"/campaigns/{campaign_id}/start", {"csrf_token": token}) == 403
    page.goto(f"/broadcasts/{broadcast_id}")
    expect(page.get_by_role("button", name="Preview the audience")).to_have_count(0)
    form = {"csrf_token": token, "audience": "default", "data": ""}
    assert post_from_page(page, f"/broadcasts/{broadcast_id}/preview", form) == 403
    assert post_from_page(page, f"/broadcasts/{broadcast_id}/trigger", form) == 403
    page.goto(f"/newsletters/{newsletter_id}")
    expect(page.get_by_role("button", name="Send now")).to_have_count(0)
    assert post_from_page(page, f"/newsletters/{newsletter_id}/send", {"csrf_token": token}) == 403
    at = {"csrf_token": token, "at": "2099-01-01T10:00", "timezone": "UTC"}
    assert post_from_page(page, f"/newsletters/{newsletter_id}/schedule", at) == 403
    assert post_from_page(page, f"/newsletters/{newsletter_id}/deschedule", at) == 403

    assert ui_query(store.row_of, ws.workspace_id, campaign_id).state == "draft"
    assert ui_query(newsletters.get, ws.workspace_id, newsletter_id)["state"] == "draft"
    assert ui_query(journey_view.triggers, ws.workspace_id, broadcast_id) == []
    assert actions(ui_query, ws.workspace_id) == []
