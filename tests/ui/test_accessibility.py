"""An automated accessibility check (axe-core, run in Chromium) on every page of the UI:
no serious or critical violation of WCAG 2.x A/AA rules. Also where screenshots of
the pages for docs/ui.md come from (set TIDINGS_UI_SCREENSHOTS to a folder)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import new_workspace
from tests.factories import add_ingest_refusal
from tests.ui.conftest import create_user, log_in, settled
from tidings.segments import membership
from tidings.segments import service as segments
from tidings.users import accounts

VENDOR = Path(__file__).parent / "vendor"
SEGMENT_CONDITION = {
    "or": [
        {"attribute": {"field": "email", "operator": "starts_with", "value": "ann"}},
        {"event": {"name": "purchase", "count": {"gte": 2}, "within_last": {"days": 30}}},
    ]
}
SCREENSHOTS = os.environ.get("TIDINGS_UI_SCREENSHOTS", "")


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core, checked against its listed SHA-256 before a browser runs it."""
    for entry in json.loads((VENDOR / "vendored.json").read_text())["files"]:
        data = (VENDOR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
    return (VENDOR / "axe.min.js").read_text()


@pytest.fixture
def checked_page(browser: Any, ui_server: Any):
    """A page whose context lets the test add axe's script despite the pages' CSP
    (which allows only the server's own scripts)."""
    context = browser.new_context(base_url=ui_server.url, bypass_csp=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def serious_violations(page: Any, axe_source: str) -> list[str]:
    page.add_script_tag(content=axe_source)
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: "tag",
               values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _check(page: Any, axe_source: str, name: str) -> None:
    assert serious_violations(page, axe_source) == [], name
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"ui-{name}.png"), full_page=True)


def _check_segments(page: Any, axe_source: str, ui_db: Any, workspace_id: int) -> None:
    """The Segments pages: the list, the builder (with an error at a field and a count),
    a data-driven segment's page and a manual one's, and the delete confirmation (with
    the delete offered, and refused for a segment in use)."""
    now = int(time.time())
    with ui_db.writer.begin() as conn:
        manual = membership.create_segment(conn, workspace_id, {"segment": {"name": "VIPs"}}, now)
        segments.change_members(conn, workspace_id, manual["id"], "id", ["user-0"], now, True)
        body = {"segment": {"name": "Ann or Bob", "conditions": SEGMENT_CONDITION}}
        dynamic = membership.create_segment(conn, workspace_id, body, now)
    page.goto("/segments")
    _check(page, axe_source, "segments")
    page.goto("/segments/new")
    _check(page, axe_source, "segment-new")
    page.goto(f"/segments/{dynamic['id']}/edit")
    page.get_by_role("button", name="Add group to conditions").click()
    # htmx swaps the builder in: save only once the new group is there and settled
    page.get_by_role("group", name="Condition 3", exact=True).wait_for()
    settled(page)
    page.get_by_role("button", name="Save segment").click()  # the new group's field is blank
    page.get_by_role("alert").wait_for()
    _check(page, axe_source, "segment-builder")
    page.goto(f"/segments/{dynamic['id']}")
    _check(page, axe_source, "segment")
    page.goto(f"/segments/{manual['id']}")
    _check(page, axe_source, "segment-manual")
    page.goto(f"/segments/{dynamic['id']}/delete")
    _check(page, axe_source, "segment-delete")
    with ui_db.writer.begin() as conn:  # a segment asking about VIPs: VIPs is in use
        body = {
            "segment": {"name": "VIP regulars", "conditions": {"segment": {"id": manual["id"]}}}
        }
        membership.create_segment(conn, workspace_id, body, now)
    page.goto(f"/segments/{manual['id']}/delete")
    page.get_by_text("This segment is in use").wait_for()
    _check(page, axe_source, "segment-delete-in-use")


def _check_dashboard(page: Any, axe_source: str) -> None:
    """The dashboard, its charts drawn and its tables open, for the last day."""
    page.goto("/?events=day")
    page.locator("[data-chart=messages] canvas").wait_for()
    for summary in page.locator("main summary").all():
        summary.click()
    _check(page, axe_source, "dashboard")


def test_every_page_passes_the_accessibility_check(checked_page, axe_source, ui_server, ws, ui_db):
    page = checked_page
    page.goto("/login")
    _check(page, axe_source, "login")
    admin = create_user(ui_server, ws.workspace_id, "admin", "ada@example.test")
    viewer = create_user(ui_server, ws.workspace_id, "viewer", "vic@example.test")
    log_in(page, admin, password="wrong password")
    _check(page, axe_source, "login-refused")
    for n, email in enumerate(["ann@example.test", "bob@example.test", "cy@example.test"]):
        url = f"{ui_server.url}/api/v1/customers/user-{n}"
        httpx.put(url, json={"email": email}, auth=(ws.site_id, ws.track_api_key))
    other = new_workspace(ui_db, "Second shop")
    with ui_db.writer.begin() as conn:  # a second workspace: the header's switcher shows
        accounts.set_role(conn, other.workspace_id, admin.user_id, "author", int(time.time()), None)
    log_in(page, admin)
    assert page.get_by_label("Workspace").count() == 1
    page.goto("/people")
    _check(page, axe_source, "people")
    page.goto("/people?q=nobody")
    _check(page, axe_source, "people-empty")
    track = (ws.site_id, ws.track_api_key)
    event = {"name": "checkout_completed", "data": {"total": 42.5}}
    httpx.post(f"{ui_server.url}/api/v1/customers/user-0/events", json=event, auth=track)
    page.goto("/people?attr=email&op=starts_with&value=ann")
    _check(page, axe_source, "people-filtered")
    page.locator("#results").get_by_role("link", name="user-0").click()
    page.locator("#timeline summary").first.click()  # one payload open
    _check(page, axe_source, "person")
    page.goto("/users")
    _check(page, axe_source, "users")
    page.get_by_label("Email", exact=True).fill("new@example.test")
    page.get_by_role("button", name="Add user").click()
    page.locator("#shown-password").wait_for()
    _check(page, axe_source, "users-added")
    page.goto("/audit")
    page.locator("#results summary").first.click()  # one entry's details open
    _check(page, axe_source, "audit")
    page.goto("/account")
    _check(page, axe_source, "account")
    _check_activity_and_deliveries(page, axe_source, ui_server, ws)
    _check_refusals(page, axe_source, ui_db, ws.workspace_id)
    # Templates: the list, a message's editor with its preview and a problem, a snippet
    message_id = _templates(ui_db, ws.workspace_id)
    page.goto("/templates")
    _check(page, axe_source, "templates")
    page.goto(f"/templates/{message_id}?person=user-0")
    page.frame_locator("#preview iframe").locator("h1").wait_for()
    _check(page, axe_source, "template")
    page.get_by_label("Subject").fill("Hello {{ customer.email | nope }}")
    page.locator("#preview").get_by_role("alert").wait_for()
    _check(page, axe_source, "template-problem")
    page.goto("/snippets/signature?person=user-0")
    page.locator("#preview").get_by_text("The team").wait_for()
    _check(page, axe_source, "snippet")
    page.goto("/layouts/frame")
    page.frame_locator("#preview iframe").locator("h1").wait_for()
    page.get_by_text("Delete this layout", exact=True).click()  # the confirmation open
    _check(page, axe_source, "layout")
    page.goto("/templates")
    page.get_by_text("New snippet").click()
    page.get_by_label("Snippet name").fill("signature")  # taken: the form shows why
    page.get_by_role("button", name="Create snippet").click()
    page.get_by_role("alert").wait_for()
    _check(page, axe_source, "templates-create-refused")
    _check_segments(page, axe_source, ui_db, ws.workspace_id)
    _check_campaigns(page, axe_source, ui_db, ws.workspace_id)
    _check_dashboard(page, axe_source)
    _check_jobs_settings_suppressions(page, axe_source, ui_server, ws, ui_db)
    _check_settings_changes(page, axe_source, ui_db, ws.workspace_id)
    page.goto("/people/nope")
    _check(page, axe_source, "not-found")
    log_in(page, viewer)
    page.goto("/users")
    _check(page, axe_source, "forbidden")


def _check_jobs_settings_suppressions(
    page: Any, axe_source: str, ui_server: Any, ws: Any, ui_db: Any
) -> None:
    """Jobs (an export's job), Settings (a webhook, a key just rotated), Suppressions."""
    from tidings.reporting import fanout, webhooks

    app = {"Authorization": f"Bearer {ws.app_api_key}"}
    httpx.post(f"{ui_server.url}/v1/exports/customers", json={}, headers=app)
    httpx.post(
        f"{ui_server.url}/api/v1/customers/user-2/suppress", auth=(ws.site_id, ws.track_api_key)
    )
    now = int(time.time())
    hook = {"name": "Warehouse", "endpoint": "https://hooks.example.test/in", "events": []}
    with ui_db.writer.begin() as conn:
        fanout.block(conn, ws.workspace_id, "bounced@example.test", "bounced", "d-1", now)
        webhooks.create(conn, ws.workspace_id, webhooks.parse(hook, partial=False), now)
    page.goto("/jobs")
    _check(page, axe_source, "jobs")
    page.locator("#results tbody a").first.click()
    page.get_by_role("heading", name="Payload").wait_for()
    _check(page, axe_source, "job")
    page.goto("/suppressions")
    _check(page, axe_source, "suppressions")
    page.goto("/settings")
    page.get_by_role("button", name="Rotate the Pipelines write key").click()
    page.locator("#new-key").wait_for()
    _check(page, axe_source, "settings")


def _check_settings_changes(page: Any, axe_source: str, ui_db: Any, workspace_id: int) -> None:
    """Settings with every create form open, a refused create, the edit pages of a
    provider (its delete confirmation open), a sender identity and a webhook, and a
    new workspace's keys."""
    from tidings.reporting import webhooks
    from tidings.templates import senders
    from tidings.workspaces import channel_providers

    now = int(time.time())
    smtp = {"host": "smtp.example.test", "username": "me", "password": "secret-pw"}
    with ui_db.writer.begin() as conn:
        channel_providers.create(conn, workspace_id, "email", "smtp", smtp, now)
        sender = senders.create(conn, workspace_id, "Shop", "shop@example.test", now)
        hook_id = webhooks.list_all(conn, workspace_id)[0]["id"]
    page.goto("/settings")
    for summary in page.locator("main summary").all():
        summary.click()
    _check(page, axe_source, "settings-forms")
    page.locator("#new-provider-channel").select_option("email")
    page.locator("#new-provider-kind").select_option("twilio")
    page.get_by_role("button", name="Create provider").click()
    page.get_by_role("alert").wait_for()
    _check(page, axe_source, "settings-refused")
    page.goto("/settings/providers/email")
    page.get_by_text("Delete this provider", exact=True).click()
    _check(page, axe_source, "settings-provider")
    page.goto(f"/settings/senders/{sender['id']}")
    _check(page, axe_source, "settings-sender")
    page.goto(f"/settings/webhooks/{hook_id}")
    _check(page, axe_source, "settings-webhook")
    page.goto("/settings")
    page.get_by_text("New workspace", exact=True).click()
    page.locator("#new-workspace-name").fill("Third shop")
    page.get_by_role("button", name="Create workspace").click()
    page.locator("#new-app-key").wait_for()
    _check(page, axe_source, "settings-workspace-created")


def _check_campaigns(page: Any, axe_source: str, ui_db: Any, workspace_id: int) -> None:
    """Campaigns (a journey with a branch), a broadcast with its audience previewed, and
    a newsletter."""
    from tidings.campaigns import definitions, newsletters, store
    from tidings.campaigns import newsletter_requests as asks

    mail = {"from": "hi@example.test", "subject": "Hi", "body": "<p>Hi</p>"}
    plan = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    campaign = {
        "name": "Onboarding",
        "trigger": {"event": {"name": "signed_up"}},
        "workflow": [
            {"email": mail},
            {"wait_until": {"event": {"name": "purchased"}, "timeout": {"days": 3}}},
            {"branch": {"if": plan, "then": [{"sms": {"body": "Thanks"}}], "else": ["exit"]}},
        ],
    }
    everyone = {"attribute": {"field": "email", "operator": "exists"}}
    broadcast = {"name": "Outage", "kind": "broadcast", "state": "running", "audience": everyone}
    broadcast["workflow"] = [{"email": mail}]
    newsletter = {"name": "News", "type": "email", "recipients": plan, **mail}
    now = int(time.time())
    with ui_db.writer.begin() as conn:
        campaign_id = store.create(conn, workspace_id, definitions.parse(campaign), now)
        broadcast_id = store.create(conn, workspace_id, definitions.parse(broadcast), now)
        made = newsletters.create(conn, workspace_id, asks.parse_new(newsletter, now), now)
    page.goto("/campaigns")
    _check(page, axe_source, "campaigns")
    page.goto(f"/campaigns/{campaign_id}")
    _check(page, axe_source, "campaign")
    page.goto("/broadcasts")
    _check(page, axe_source, "broadcasts")
    page.goto(f"/broadcasts/{broadcast_id}")
    page.get_by_role("button", name="Preview the audience").click()
    page.locator(".preview-count").wait_for()
    _check(page, axe_source, "broadcast")
    page.goto("/newsletters")
    _check(page, axe_source, "newsletters")
    page.goto(f"/newsletters/{made['id']}")
    _check(page, axe_source, "newsletter")


def _check_activity_and_deliveries(page: Any, axe_source: str, ui_server: Any, ws: Any) -> None:
    """Activity (with an entry's payload open), its rejections, Deliveries and a delivery."""
    track = f"{ui_server.url}/api/v1/customers/user-0/events"
    httpx.post(
        track, json={"name": "purchase", "data": {"total": 42}}, auth=(ws.site_id, ws.track_api_key)
    )
    refused = {"type": "track", "event": "no one", "messageId": "m-1"}
    httpx.post(f"{ui_server.url}/v1/track", json=refused, auth=(ws.cdp_write_key, ""))
    body = {
        "identifiers": {"id": "user-0"},
        "to": "ann@example.test",
        "from": "shop@example.test",
        "subject": "Your receipt",
        "body": "<p>Thanks for your order</p>",
    }
    app = {"Authorization": f"Bearer {ws.app_api_key}"}
    delivery_id = httpx.post(f"{ui_server.url}/v1/send/email", json=body, headers=app).json()[
        "delivery_id"
    ]
    page.goto("/activity")
    page.locator("summary").first.click()
    _check(page, axe_source, "activity")
    page.goto("/activity/rejections")
    _check(page, axe_source, "activity-rejections")
    page.goto("/deliveries")
    _check(page, axe_source, "deliveries")
    page.goto(f"/deliveries/{delivery_id}")
    page.frame_locator("iframe.message").locator("p").wait_for()
    _check(page, axe_source, "delivery")


def _check_refusals(page: Any, axe_source: str, ui_db: Any, workspace_id: int) -> None:
    """The ingest log's refusals, with one refused message open."""
    with ui_db.writer.begin() as conn:
        add_ingest_refusal(conn, workspace_id, "user-0", int(time.time()))
    page.goto("/activity/refusals")
    page.locator("table summary").first.click()
    _check(page, axe_source, "activity-refusals")


def _templates(ui_db: Any, workspace_id: int) -> int:
    """A message in a layout, a snippet: what the Templates pages show."""
    from tidings.templates import definitions, layouts, snippets
    from tidings.templates import transactional_messages as messages

    body = "<h1>Welcome</h1><p>{{ customer.email }}</p>{{ snippets.signature }}"
    content = {"from": "hi@example.test", "subject": "Hi", "body": body, "layout": "frame"}
    definition = definitions.parse_definition({"name": "Welcome", "contents": [content]})
    with ui_db.writer.begin() as conn:
        snippets.put(conn, workspace_id, "signature", "<p>The team</p>", 0)
        layouts.save(conn, workspace_id, "frame", "<div>{{ content }}</div>", 0)
        return int(messages.create(conn, workspace_id, definition, 0)["id"])
