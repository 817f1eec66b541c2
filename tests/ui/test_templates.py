"""The Templates pages in a real browser: a syntax error shown at its line as one types
(htmx) and by the plain Preview button, the preview rendered as a chosen person in a
sandboxed frame, a test send that arrives in the outbox, messages, snippets and layouts
created and deleted (a sent message kept), snippets and layouts previewed as one
types, and a viewer refused."""

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


def test_typing_then_saving_at_once_saves_once(page, ui_server, ui_db, ws, ui_query):
    """The live preview goes to the preview URL even right after a click on Save: htmx
    sends a form's own requests to the last clicked button's formaction, so a preview
    due while a slow save is still on its way used to save a second time."""
    message_id = _message(ui_db, ws.workspace_id, "welcome", "<p>Hello</p>")
    log_in(page, create_user(ui_server, ws.workspace_id, "author"))
    page.goto(f"/templates/{message_id}")
    save_url = f"{ui_server.url}/templates/{message_id}"
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)

    held: list[Any] = []
    page.route(save_url, lambda route: held.append(route))  # saved once the preview went
    page.get_by_label("Body (HTML)").fill("<p>Bye</p>")  # a preview is due in 500 ms
    with page.expect_event("request", lambda r: r.resource_type in ("xhr", "fetch")):
        page.get_by_role("button", name="Save").click(no_wait_after=True)
    for route in held:
        route.continue_()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert posted.count(save_url) == 1
    saves = [e for e in ui_query(audit.entries, ws.workspace_id) if e["action"] == "template.save"]
    assert len(saves) == 1


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
            outbox.list_captured,
            ws.workspace_id,
            page_request,
            outbox.Filters(recipient="qa@example.test"),
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
    assert post_from_page(page, "/snippets", {**snippet, "name": "new"}) == 403
    assert post_from_page(page, "/templates", {"csrf_token": token, "name": "new"}) == 403
    confirmed = {"csrf_token": token, "confirm": "yes"}
    assert post_from_page(page, "/snippets/footer/delete", confirmed) == 403
    assert post_from_page(page, f"/templates/{message_id}/delete", confirmed) == 403
    assert post_from_page(page, "/snippets/footer/preview", snippet) == 200  # reads only
    page.goto("/templates")
    expect(page.get_by_text("New snippet")).to_have_count(0)
    assert post_from_page(page, f"/templates/{message_id}/preview", form) == 200  # reads only
    [content] = ui_query(messages.contents_of, ws.workspace_id, message_id)
    assert content["body"] == "<p>Notice</p>"
    assert ui_query(snippets.get, ws.workspace_id, "footer")["value"] == "bye"
    actions = {e["action"] for e in ui_query(audit.entries, ws.workspace_id)}
    assert not actions & {"template.save", "template.test_send", "snippet.save"}


def _actions(ui_query: Any, workspace_id: int, user_id: int) -> list[str]:
    entries = ui_query(audit.entries, workspace_id)
    return sorted(e["action"] for e in entries if e["user_id"] == user_id)


def _delete(page: Any, noun: str) -> None:
    page.get_by_text(f"Delete this {noun}", exact=True).click()
    page.get_by_label(f"Yes, delete this {noun}").check()
    page.get_by_role("button", name=f"Delete {noun}").click()


def test_an_author_creates_and_deletes_messages_snippets_and_layouts(page, ui_server, ws, ui_query):
    _identify(ui_server, ws, "ada", {"email": "ada@example.test", "first_name": "Ada"})
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.goto("/templates")
    page.get_by_text("New transactional message").click()
    page.get_by_label("Name", exact=True).fill("Order shipped")
    page.get_by_label("Channel").select_option("sms")
    page.get_by_role("button", name="Create message").click()
    expect(page.get_by_role("heading", name="Order shipped")).to_be_visible()
    message_id = int(page.url.rsplit("/", 1)[1])
    assert ui_query(messages.get, ws.workspace_id, message_id)["trigger_name"] == "order shipped"

    # A snippet: Liquid checked on create, previewed as a person as one types.
    page.goto("/templates")
    page.get_by_text("New snippet").click()
    page.get_by_label("Snippet name").fill("sign-off")
    page.get_by_label("Value (Liquid)").fill("Bye\n{{ customer.first_name | }}")
    page.get_by_role("button", name="Create snippet").click()
    expect(page.get_by_role("alert")).to_contain_text("Not created: value, line 2")
    page.get_by_label("Value (Liquid)").fill("Bye {{ customer.first_name }}")
    page.get_by_role("button", name="Create snippet").click()
    expect(page).to_have_url(re.compile(r"/snippets/sign-off$"))
    page.get_by_label("Person (id or email)").fill("ada@example.test")
    expect(page.locator("#preview")).to_contain_text("Bye Ada")
    page.get_by_label("Value").fill("Bye\n{{ customer.first_name | nope }}")
    expect(page.locator("#preview").get_by_role("alert")).to_contain_text("source, line 2")
    page.goto("/templates")
    page.get_by_text("New snippet").click()
    page.get_by_label("Snippet name").fill("sign-off")
    page.get_by_role("button", name="Create snippet").click()  # the name is taken
    expect(page.get_by_role("alert")).to_contain_text("a snippet named 'sign-off' exists")
    assert ui_query(snippets.get, ws.workspace_id, "sign-off")["value"] == (
        "Bye {{ customer.first_name }}"
    )

    # A layout, previewed around a sample body as the person.
    page.get_by_text("New layout").click()
    page.get_by_label("Layout name").fill("boxed")
    body = "<main>{{ content }}</main>\n<footer>{{ snippets.sign-off }}</footer>"
    page.get_by_label("Body (Liquid", exact=False).fill(body)
    page.get_by_role("button", name="Create layout").click()
    expect(page).to_have_url(re.compile(r"/layouts/boxed$"))
    page.get_by_label("Person (id or email)").fill("ada")
    frame = page.frame_locator("#preview iframe")
    expect(frame.locator("main h1")).to_have_text("Hello Ada")
    expect(frame.locator("footer")).to_have_text("Bye Ada")
    page.get_by_label("Sample body").fill("<p>Shipped</p>\n{% if x %}")
    expect(page.locator("#preview").get_by_role("alert")).to_contain_text("sample_body, line 2")

    _delete(page, "layout")
    expect(page.get_by_role("status")).to_have_text("Deleted the layout.")
    page.goto("/snippets/sign-off")
    _delete(page, "snippet")
    expect(page.get_by_role("status")).to_have_text("Deleted the snippet.")
    page.goto(f"/templates/{message_id}")
    _delete(page, "message")
    expect(page.get_by_role("status")).to_have_text("Deleted the message.")
    assert ui_query(messages.list_all, ws.workspace_id) == []
    assert ui_query(snippets.list_all, ws.workspace_id) == []
    assert _actions(ui_query, ws.workspace_id, author.user_id) == [
        "layout.create",
        "layout.delete",
        "snippet.create",
        "snippet.delete",
        "template.create",
        "template.delete",
    ]


def test_a_sent_message_is_not_deleted(page, ui_server, ui_db, ws, ui_query):
    _identify(ui_server, ws, "cy", {"email": "cy@example.test"})
    message_id = _message(ui_db, ws.workspace_id, "sent once", "<p>Hi</p>")
    author = create_user(ui_server, ws.workspace_id, "author")
    log_in(page, author)
    page.goto(f"/templates/{message_id}")
    token = csrf_token(page)
    unconfirmed = post_from_page(page, f"/templates/{message_id}/delete", {"csrf_token": token})
    assert unconfirmed == 400
    page.get_by_label("Person (id or email)").fill("cy")
    page.get_by_label("Send to address").fill("qa@example.test")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test sent to qa@example.test")
    _delete(page, "message")
    expect(page.get_by_role("alert")).to_contain_text(
        f"Not deleted: message {message_id} has deliveries"
    )
    assert ui_query(messages.get, ws.workspace_id, message_id)["name"] == "sent once"
    assert "template.delete" not in _actions(ui_query, ws.workspace_id, author.user_id)
