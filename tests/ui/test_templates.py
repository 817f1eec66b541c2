"""The Templates pages in a real browser: a syntax error shown at its line as one types
(htmx) and by the plain Preview button, the preview rendered as a chosen person in a
sandboxed frame, a test send that arrives in the outbox, and a viewer refused."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.support import eventually
from tests.ui.conftest import create_user, log_in
from tests.ui.test_browser import csrf_token, post_from_page
from tidings import audit, paging
from tidings.providers import outbox
from tidings.templates import definitions, snippets
from tidings.templates import transactional_messages as messages


def _message(ui_db: Any, workspace_id: int, name: str, body: str) -> int:
    definition = definitions.parse_definition(
        {
            "name": name,
            "contents": {
                "default": {
                    "from": "hello@acme.test",
                    "subject": "Hi {{ customer.id }}",
                    "body": body,
                }
            },
        }
    )
    with ui_db.writer.begin() as conn:
        return int(messages.create(conn, workspace_id, definition, 0)["id"])


def _identify(ui_server: Any, creds: Any, customer_id: str, attributes: dict[str, Any]) -> None:
    auth = (creds.site_id, creds.track_api_key)
    url = f"{ui_server.url}/api/v1/customers/{customer_id}"
    response = httpx.put(url, json=attributes, auth=auth)
    assert response.status_code == 200, response.text


def test_a_template_edited_with_a_syntax_error_shows_the_line(page, ui_server, ui_db, ws, ui_query):
    _identify(ui_server, ws, "ada", {"email": "ada@example.test", "first_name": "Ada"})
    message_id = _message(ui_db, ws.workspace_id, "welcome", "<p>Hello</p>")
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="welcome").click()
    expect(page).to_have_url(re.compile(rf"/templates/{message_id}$"))

    page.get_by_label("Person (id or email)").fill("ada@example.test")
    page.get_by_label("Body (HTML)").fill("<p>Hello</p>\n<p>{{ customer.first_name | }}</p>")
    alert = page.locator("#preview").get_by_role("alert")
    expect(alert).to_contain_text("body, line 2")  # as one types, through htmx

    styled = '<p style="color: rgb(1, 2, 3)">Hello {{ customer.first_name }}</p>'
    script = "<script>document.body.textContent = 'script ran'</script>"
    page.get_by_label("Body (HTML)").fill(styled + script)
    expect(alert).to_have_count(0)
    frame = page.frame_locator("#preview iframe")
    expect(frame.locator("p")).to_have_text("Hello Ada")  # the sandboxed srcdoc frame:
    expect(frame.locator("p")).to_have_css("color", "rgb(1, 2, 3)")  # inline styles apply,
    expect(frame.locator("body")).not_to_contain_text("script ran")  # scripts do not run
    assert page.locator("#preview iframe").get_attribute("sandbox") == ""

    # Without htmx, the Preview button posts the form and answers the whole page.
    page.get_by_label("Subject").fill("Hi\n{% if x %}")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("alert")).to_contain_text("subject, line 1")
    # Saving a syntax error is refused by the same check as the App API, naming the line.
    page.get_by_label("Body (HTML)").fill("ok\n\n{{ customer.first_name | }}")
    page.get_by_label("Subject").fill("Fine")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("p.error")).to_contain_text("Not saved: body, line 3")
    [content] = ui_query(messages.contents_of, ws.workspace_id, message_id)
    assert content["body"] == "<p>Hello</p>"  # nothing saved
    page.get_by_label("Body (HTML)").fill("<p>Bye {{ customer.first_name }}</p>")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    [content] = ui_query(messages.contents_of, ws.workspace_id, message_id)
    assert (content["subject"], content["body"]) == ("Fine", "<p>Bye {{ customer.first_name }}</p>")
    [entry] = [
        e for e in ui_query(audit.entries, ws.workspace_id) if e["action"] == "template.save"
    ]
    assert (entry["user_id"], entry["target_id"]) == (author.user_id, str(message_id))


def test_a_test_send_arrives_in_the_outbox(page, ui_server, ui_db, ws, ui_query):
    _identify(ui_server, ws, "bob", {"email": "bob@example.test"})
    message_id = _message(ui_db, ws.workspace_id, "receipt", "<p>Order {{ trigger.order }}</p>")
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.goto(f"/templates/{message_id}")
    page.get_by_label("Person (id or email)").fill("bob")
    page.get_by_label("Trigger data (JSON object)").fill('{"order": 42}')
    page.get_by_label("Subject").fill("Draft receipt for {{ customer.email }}")
    page.get_by_label("Send to address").fill("qa@example.test")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test sent to qa@example.test")

    def captured() -> dict[str, Any]:
        page_request = paging.PageRequest(10)
        found = ui_query(
            outbox.list_captured, ws.workspace_id, page_request, None, "qa@example.test"
        )
        assert found["messages"]
        return found["messages"][0]

    sent = eventually(captured, timeout=20)
    text = str(sent)
    assert "Draft receipt for bob@example.test" in text and "Order 42" in text
    [entry] = [
        e for e in ui_query(audit.entries, ws.workspace_id) if e["action"] == "template.test_send"
    ]
    assert (entry["user_id"], entry["target_id"]) == (author.user_id, str(message_id))
    assert entry["details"]["to"] == "qa@example.test"
    # A test send does not save the draft.
    [content] = ui_query(messages.contents_of, ws.workspace_id, message_id)
    assert content["subject"] == "Hi {{ customer.id }}"


def test_a_viewer_sees_templates_read_only_and_the_server_refuses_changes(
    page, ui_server, ui_db, ws, ui_query
):
    message_id = _message(ui_db, ws.workspace_id, "notice", "<p>Notice</p>")
    with ui_db.writer.begin() as conn:
        snippets.put(conn, ws.workspace_id, "footer", "bye", 0)
    viewer = create_user(ui_server, ws.workspace_id, "viewer")
    log_in(page, viewer)
    page.goto(f"/templates/{message_id}")
    expect(page.get_by_label("Body (HTML)")).not_to_be_editable()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Send test")).to_have_count(0)
    token = csrf_token(page)
    form = {"csrf_token": token, "body": "<p>changed</p>", "lang": ""}
    assert post_from_page(page, f"/templates/{message_id}", form) == 403
    to = {**form, "person": "x", "to": "v@example.test"}
    assert post_from_page(page, f"/templates/{message_id}/test", to) == 403
    snippet = {"csrf_token": token, "source": "changed"}
    assert post_from_page(page, "/snippets/footer", snippet) == 403
    assert post_from_page(page, f"/templates/{message_id}/preview", form) == 200  # reads only
    [content] = ui_query(messages.contents_of, ws.workspace_id, message_id)
    assert content["body"] == "<p>Notice</p>"
    assert ui_query(snippets.get, ws.workspace_id, "footer")["value"] == "bye"
    actions = {e["action"] for e in ui_query(audit.entries, ws.workspace_id)}
    assert not actions & {"template.save", "template.test_send", "snippet.save"}
