"""The dashboard in a browser: events sent through the Track API show in its events
per minute, a transactional email in its messages per day, and uPlot draws the charts
under the pages' CSP (the tables say the same without JavaScript)."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import expect

from tests.support import eventually
from tests.ui.conftest import create_user, log_in
from tidings.reporting import event_rate as rate
from tidings.templates import definitions
from tidings.templates import transactional_messages as messages


def test_track_events_and_a_transactional_email_show_on_the_dashboard(
    page, ui_server, ws, ui_db, ui_query
):
    track = (ws.site_id, ws.track_api_key)
    for n in range(3):
        person = f"{ui_server.url}/api/v1/customers/dash-{n}"
        httpx.put(person, json={"email": f"dash-{n}@example.test"}, auth=track)
        sent = httpx.post(f"{person}/events", json={"name": "viewed"}, auth=track)
        assert sent.status_code == 200, sent.text
    eventually(
        lambda: sum(ui_query(rate.counts, ws.workspace_id, rate.window("hour", int(time.time()))))
        == 3,
        timeout=15,
    )
    content = {"from": "shop@example.test", "subject": "Receipt", "body": "<p>Thanks</p>"}
    definition = definitions.parse_definition({"name": "Receipt", "contents": [content]})
    with ui_db.writer.begin() as conn:
        message_id = int(messages.create(conn, ws.workspace_id, definition, 0)["id"])
    body = {
        "transactional_message_id": message_id,
        "identifiers": {"id": "dash-0"},
        "to": "ann@example.test",
    }
    app = {"Authorization": f"Bearer {ws.app_api_key}"}
    answer = httpx.post(f"{ui_server.url}/v1/send/email", json=body, headers=app)
    assert answer.status_code == 200, answer.text

    log_in(page, create_user(ui_server, ws.workspace_id, "viewer"))
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator("main")).to_contain_text("3 events in the last hour")
    expect(page.locator("[data-chart=events] canvas")).to_have_count(1)  # uPlot drew it
    page.get_by_text("Events as a table").click()
    counts = page.locator("#events-table tbody td:nth-child(2)").all_inner_texts()
    assert len(counts) == 60 and sum(int(c) for c in counts) == 3

    page.get_by_label("Messages of").select_option(label=f"Receipt ({message_id})")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{ui_server.url}/?events=hour&messages=transactional%3A{message_id}")

    def sent_today() -> str:
        page.reload()
        page.get_by_text("Messages per day as a table").click()
        return page.locator("#messages-table tbody tr").last.locator("td").nth(1).inner_text()

    eventually(lambda: sent_today() == "1", timeout=15)  # the sender records "sent"
    page.get_by_role("link", name="Last week, per hour").click()
    expect(page.locator("main")).to_contain_text("3 events in the last week")
    expect(page.get_by_label("Messages of")).to_have_value(f"transactional:{message_id}")
