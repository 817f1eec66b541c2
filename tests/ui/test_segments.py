"""The Segments pages in a real browser against a real `tidings serve`: a segment built
in the builder gets the right members, the builder works without JavaScript and shows
errors at their field, manual segments' members are added and removed, and a viewer's
changes are refused by the server; a segment is deleted after a confirmation, unless a
campaign or another segment uses it. Every change is in the audit log."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.ui.conftest import create_user, log_in, settled
from tests.ui.test_browser import csrf_token, post_from_page
from tidings import audit, paging
from tidings.campaigns import service as campaigns
from tidings.segments import membership
from tidings.segments import service as segments

BUILD_DEADLINE = 60.0


def identify(server, creds, customer_id: str, attrs: dict[str, Any]) -> None:
    url = f"{server.url}/api/v1/customers/{customer_id}"
    response = httpx.put(url, json=attrs, auth=(creds.site_id, creds.track_api_key))
    assert response.status_code == 200, response.text


def track(server, creds, customer_id: str, name: str) -> None:
    url = f"{server.url}/api/v1/customers/{customer_id}/events"
    response = httpx.post(url, json={"name": name}, auth=(creds.site_id, creds.track_api_key))
    assert response.status_code == 200, response.text


def condition(page: Any, label: str) -> Any:
    return page.get_by_role("group", name=label, exact=True)


def member_ids(ui_query, workspace_id: int, segment_id: int) -> set[str]:
    found = ui_query(segments.membership, workspace_id, segment_id, paging.PageRequest(1000))
    return set(found["ids"])


def actions(ui_query, workspace_id: int) -> list[tuple[str, int | None]]:
    return [(e["action"], e["user_id"]) for e in ui_query(audit.entries, workspace_id)]


def wait_built(page: Any, deadline: float) -> None:
    """Reload the segment's page until its build is done, or fail at the deadline."""
    while page.locator(".segment-state").inner_text() != "Built":
        assert time.monotonic() < deadline, "the segment's build did not finish in time"
        page.wait_for_timeout(250)
        page.reload()


def test_a_segment_built_in_the_ui_gets_the_right_members(page, ui_server, ws, ui_query):
    people = {
        "fr-pro": {"plan": "pro", "country": "FR"},
        "de-buyer": {"plan": "pro", "country": "DE"},
        "de-once": {"plan": "pro", "country": "DE"},
        "fr-free": {"plan": "free", "country": "FR"},
    }
    for customer_id, attrs in people.items():
        identify(ui_server, ws, customer_id, {"email": f"{customer_id}@x.test", **attrs})
    for customer_id in ("de-buyer", "de-buyer", "de-once", "fr-free", "fr-free"):
        track(ui_server, ws, customer_id, "purchase")
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="New data-driven segment").click()
    page.get_by_label("Name", exact=True).fill("Pro: French or repeat buyers")
    first = condition(page, "Condition 1")
    first.get_by_label("Attribute").fill("plan")
    first.get_by_label("Value").fill("pro")
    page.get_by_role("button", name="Add group to conditions").click()
    group = condition(page, "Condition 2")
    expect(group.get_by_label("Match")).to_have_value("any")
    settled(page)
    condition(page, "Condition 2.1").get_by_label("Attribute").fill("country")
    condition(page, "Condition 2.1").get_by_label("Value").fill("FR")
    page.get_by_role("button", name="Add condition to condition 2").click()
    expect(condition(page, "Condition 2.2")).to_be_visible()
    settled(page)
    condition(page, "Condition 2.2").get_by_label("Kind").select_option("event")
    bought = condition(page, "Condition 2.2")
    expect(bought.get_by_label("Event name")).to_be_visible()
    settled(page)
    bought.get_by_label("Event name").fill("purchase")
    bought.get_by_label("At least (times)").fill("2")
    bought.get_by_label("Within the last").fill("30 days")
    expect(page.locator("#live-count")).to_contain_text("2 people match")
    page.get_by_role("button", name="Save segment").click()
    expect(page).to_have_url(re.compile(r"/segments/[0-9]+$"))
    segment_id = int(page.url.rsplit("/", 1)[1])
    wait_built(page, time.monotonic() + BUILD_DEADLINE)
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("fr-pro")
    expect(rows.nth(1)).to_contain_text("de-buyer")
    assert member_ids(ui_query, ws.workspace_id, segment_id) == {"fr-pro", "de-buyer"}
    stored = ui_query(segments.get, ws.workspace_id, segment_id)["conditions"]
    assert stored["and"][1]["or"][1] == {
        "event": {"name": "purchase", "count": {"gte": 2}, "within_last": {"days": 30}}
    }
    assert ("segment.create", author.user_id) in actions(ui_query, ws.workspace_id)
    cio_id = rows.nth(0).get_by_role("link").inner_text()
    expect(rows.nth(0).get_by_role("link")).to_have_attribute("href", f"/people/{cio_id}")


def test_the_builder_works_without_javascript_and_shows_errors_at_their_field(
    browser, ui_server, ws, ui_query
):
    identify(ui_server, ws, "nojs-1", {"plan": "pro", "seats": 12})
    identify(ui_server, ws, "nojs-2", {"plan": "pro", "seats": 3})
    author = create_user(ui_server, ws.workspace_id, "author")
    context = browser.new_context(base_url=ui_server.url, java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, author)
        page.goto("/segments/new")
        page.get_by_label("Name", exact=True).fill("Big pro teams")
        condition(page, "Condition 1").get_by_label("Attribute").fill("plan")
        condition(page, "Condition 1").get_by_label("Value").fill("pro")
        page.get_by_role("button", name="Add group to conditions").click()  # a plain POST
        seats = condition(page, "Condition 2.1")
        seats.get_by_label("Operator").select_option("gte")
        seats.get_by_label("Value").fill("10")
        page.get_by_role("button", name="Save segment").click()
        field = condition(page, "Condition 2.1").get_by_label("Attribute")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_role("alert")).to_contain_text("Condition 2.1, field")
        field.fill("seats")
        page.get_by_role("button", name="Count matching people").click()
        expect(page.locator("#live-count")).to_contain_text("1 person matches")
        page.get_by_role("button", name="Save segment").click()
        expect(page).to_have_url(re.compile(r"/segments/[0-9]+$"))
        expect(page.locator(".segment-definition")).to_contain_text("seats")
        page.get_by_role("link", name="Edit this segment").click()
        expect(condition(page, "Condition 2.1").get_by_label("Value")).to_have_value("10")
        condition(page, "Condition 2.1").get_by_label("Value").fill("3")
        page.get_by_role("button", name="Save segment").click()
        expect(page.locator(".segment-definition")).to_contain_text(re.compile(r"seats\s+gte\s+3"))
    finally:
        context.close()
    [made] = [s for s in ui_query(segments.list_all, ws.workspace_id)]
    assert made["conditions"] == {
        "and": [
            {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
            {"or": [{"attribute": {"field": "seats", "operator": "gte", "value": 3}}]},
        ]
    }
    done = [a for a, user in actions(ui_query, ws.workspace_id) if user == author.user_id]
    assert sorted(done) == ["segment.create", "segment.update"]


def test_a_manual_segment_gets_people_added_and_removed(page, ui_server, ws, ui_query):
    identify(ui_server, ws, "hand-1", {"email": "hand1@x.test"})
    identify(ui_server, ws, "hand-2", {"email": "hand2@x.test"})
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.goto("/segments")
    page.get_by_text("New manual segment").click()
    page.get_by_label("Name").fill("Hand-picked")
    page.get_by_role("button", name="Create manual segment").click()
    expect(page.get_by_role("heading", name="Hand-picked")).to_be_visible()
    segment_id = int(page.url.rsplit("/", 1)[1])
    page.get_by_label("People to add").fill("hand-1, nobody-known")
    page.get_by_role("button", name="Add people").click()
    page.get_by_label("Identify them by").select_option("email")
    page.get_by_label("People to add").fill("hand2@x.test")
    page.get_by_role("button", name="Add people").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    assert member_ids(ui_query, ws.workspace_id, segment_id) == {"hand-1", "hand-2"}
    page.get_by_role("button", name="Remove hand1@x.test").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("hand-2")
    assert member_ids(ui_query, ws.workspace_id, segment_id) == {"hand-2"}
    done = [a for a, user in actions(ui_query, ws.workspace_id) if user == author.user_id]
    assert sorted(done) == [
        "segment.add_members",
        "segment.add_members",
        "segment.create",
        "segment.remove_members",
    ]


def test_a_viewer_cannot_change_segments(page, ui_server, ws, ui_db, ui_query):
    identify(ui_server, ws, "seen-1", {"plan": "pro"})
    with ui_db.writer.begin() as conn:
        body = {"segment": {"name": "Kept as is"}}
        segment_id = membership.create_segment(conn, ws.workspace_id, body, int(time.time()))["id"]
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, viewer)
    page.goto("/segments")
    expect(page.get_by_role("link", name="Kept as is")).to_be_visible()
    expect(page.get_by_role("link", name="New data-driven segment")).to_have_count(0)
    page.get_by_role("link", name="Kept as is").click()
    expect(page.get_by_role("button", name="Add people")).to_have_count(0)
    token = csrf_token(page)
    made = {"csrf_token": token, "name": "Sneaky", "action": "save", "c.kind": "all"}
    made |= {"c.0.kind": "attribute", "c.0.field": "plan", "c.0.operator": "exists"}
    assert post_from_page(page, "/segments/new", made) == 403
    assert post_from_page(page, "/segments/manual", {"csrf_token": token, "name": "x"}) == 403
    added = {"csrf_token": token, "id_type": "id", "people": "seen-1"}
    assert post_from_page(page, f"/segments/{segment_id}/members", added) == 403
    edited = {"csrf_token": token, "name": "Renamed", "action": "save"}
    assert post_from_page(page, f"/segments/{segment_id}/edit", edited) == 403
    assert post_from_page(page, f"/segments/{segment_id}/delete", {"csrf_token": token}) == 403
    assert page.goto(f"/segments/{segment_id}/delete").status == 403
    assert page.goto("/segments/new").status == 403
    assert [s["name"] for s in ui_query(segments.list_all, ws.workspace_id)] == ["Kept as is"]
    assert member_ids(ui_query, ws.workspace_id, segment_id) == set()
    assert not [a for a, _ in actions(ui_query, ws.workspace_id) if a.startswith("segment.")]


def _campaign_using(ui_db, workspace_id: int, segment_id: int) -> int:
    document = {"name": "Uses it", "trigger": {"segment": {"id": segment_id}}}
    document["workflow"] = [{"delay": {"days": 1}}]
    parsed = campaigns.parse_document(document, "campaign")
    with ui_db.writer.begin() as conn:
        return campaigns.create(conn, workspace_id, parsed, int(time.time()))["id"]


def _segment(ui_db, workspace_id: int, body: dict[str, Any]) -> int:
    with ui_db.writer.begin() as conn:
        return membership.create_segment(conn, workspace_id, {"segment": body}, 0)["id"]


def test_a_segment_is_deleted_after_a_confirmation_unless_something_uses_it(
    page, ui_server, ws, ui_db, ui_query
):
    used = _segment(ui_db, ws.workspace_id, {"name": "Used"})
    campaign_id = _campaign_using(ui_db, ws.workspace_id, used)
    pro = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    dynamic = _segment(ui_db, ws.workspace_id, {"name": "Pros", "conditions": pro})
    manual = _segment(ui_db, ws.workspace_id, {"name": "Picked"})
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)

    page.goto(f"/segments/{used}")
    page.get_by_role("link", name="Delete this segment").click()
    expect(page.get_by_text("This segment is in use")).to_be_visible()
    expect(page.get_by_role("link", name=f"Campaign {campaign_id}")).to_be_visible()
    expect(page.get_by_role("button", name="Delete segment")).to_have_count(0)
    token = csrf_token(page)
    assert post_from_page(page, f"/segments/{used}/delete", {"csrf_token": token}) == 409

    # Data-driven: confirmed, deleted, and gone from the list.
    page.goto(f"/segments/{dynamic}")
    page.get_by_role("link", name="Delete this segment").click()
    expect(page.get_by_text("data-driven segment Pros")).to_be_visible()
    page.get_by_role("button", name="Delete segment").click()
    expect(page).to_have_url(re.compile(r"/segments\?deleted=1$"))
    expect(page.get_by_role("status")).to_have_text("Deleted the segment.")
    expect(page.get_by_role("link", name="Pros")).to_have_count(0)

    # Manual: a campaign starts using it while the confirmation is open: refused, kept.
    page.goto(f"/segments/{manual}/delete")
    second = _campaign_using(ui_db, ws.workspace_id, manual)
    page.get_by_role("button", name="Delete segment").click()
    expect(page.get_by_role("alert")).to_contain_text(
        f"Not deleted: segment {manual} is in use by campaign {second}"
    )
    expect(page.get_by_role("link", name=f"Campaign {second}")).to_be_visible()

    left = {s["id"] for s in ui_query(segments.list_all, ws.workspace_id)}
    assert left == {used, manual}
    deleted = [
        e for e in ui_query(audit.entries, ws.workspace_id) if e["action"] == "segment.delete"
    ]
    assert [(e["target_id"], e["user_id"], e["details"]) for e in deleted] == [
        (str(dynamic), author.user_id, {"name": "Pros", "type": "dynamic"})
    ]
