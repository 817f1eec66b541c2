"""The Settings, Jobs and Suppressions pages in a real browser: an admin rotates the App
API key and the old key gets a 401 at once; a viewer sees no key and is refused on
rotate by the server; an export made through the App API is on the Jobs page; an
author lifts a suppression made through the Track API."""

from __future__ import annotations

import re
import time
import uuid

import httpx
from playwright.sync_api import expect

from tests.ui.conftest import create_user, log_in
from tests.ui.test_browser import csrf_token, post_from_page
from tidings import audit
from tidings.jobs import queue
from tidings.reporting import webhooks
from tidings.workspaces import channel_providers, settings_view


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


SECRET = "s3cret-smtp-pw-7f1c"


def _open(page, summary: str) -> None:
    page.locator("summary", has_text=summary).click()


def test_an_admin_creates_edits_and_deletes_senders_providers_and_webhooks(
    page, ui_server, ui_query, ws
):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    log_in(page, admin)
    page.goto("/settings")
    _open(page, "New sender identity")
    page.locator("#new-sender-name").fill("Acme")
    page.locator("#new-sender-email").fill("Hello@Acme.test")
    page.get_by_role("button", name="Create sender identity").click()
    senders_section = page.locator("#senders")
    expect(senders_section).to_contain_text("hello@acme.test")

    _open(page, "New provider")
    page.locator("#new-provider-channel").select_option("email")
    page.locator("#new-provider-kind").select_option("smtp")
    page.locator("#new-provider-settings").fill('{"host": "smtp.acme.test", "port": 2525}')
    page.locator("#new-provider-secrets").fill(f'{{"username": "me", "password": "{SECRET}"}}')
    page.get_by_role("button", name="Create provider").click()
    providers_section = page.locator("#providers")
    expect(providers_section).to_contain_text("smtp.acme.test")
    expect(providers_section).to_contain_text("password")  # named, not shown
    assert SECRET not in page.content()

    _open(page, "New reporting webhook")
    page.locator("#new-webhook-name").fill("Warehouse")
    page.locator("#new-webhook-endpoint").fill("https://hooks.acme.test/in?token=t0k3n")
    page.locator("#new-webhook-events").fill("email_sent, email_bounced")
    page.get_by_role("button", name="Create webhook").click()
    webhooks_section = page.locator("#webhooks")
    expect(webhooks_section).to_contain_text("https://hooks.acme.test/in")
    expect(webhooks_section).to_contain_text("email_sent, email_bounced")
    assert "t0k3n" not in page.content()

    # Edit the provider: its password is never on the page and kept when not given.
    page.locator("#providers").get_by_role("link", name="email").click()
    expect(page.get_by_role("heading", name="The email provider")).to_be_visible()
    assert SECRET not in page.content()
    settings = page.locator("#provider-settings")
    settings.fill(settings.input_value().replace("smtp.acme.test", "mail.acme.test"))
    page.get_by_role("button", name="Save provider").click()
    expect(page.locator("#providers")).to_contain_text("mail.acme.test")
    kind, config = ui_query(channel_providers.stored, ws.workspace_id, "email")
    assert (kind, config["host"], config["password"]) == ("smtp", "mail.acme.test", SECRET)

    # A config the adapter refuses is a 400 on the form, and nothing changes.
    page.locator("#providers").get_by_role("link", name="email").click()
    page.locator("#provider-secrets").fill('{"password": null}')
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save provider").click()
    assert answer.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("username and password")
    assert ui_query(channel_providers.stored, ws.workspace_id, "email")[1] == config

    # Rename the sender identity; delete the webhook after its confirmation.
    page.goto("/settings")
    page.locator("#senders").get_by_role("link", name="hello@acme.test").click()
    page.locator("#sender-name").fill("Acme Ltd")
    page.get_by_role("button", name="Save sender identity").click()
    expect(page.locator("#senders")).to_contain_text("Acme Ltd")
    page.locator("#webhooks").get_by_role("link", name="Edit or delete Warehouse").click()
    [hook] = ui_query(webhooks.list_all, ws.workspace_id)
    expect(page.locator("#webhook-signing-key")).to_be_hidden()  # until asked for
    page.locator("summary", has_text="Signing key").click()
    expect(page.locator("#webhook-signing-key")).to_have_text(hook["signing_key"])
    page.locator("summary", has_text="Delete this webhook").click()
    page.get_by_label("Yes, delete this webhook").check()
    page.get_by_role("button", name="Delete webhook").click()
    expect(page.locator("#webhooks")).to_contain_text("No reporting webhook")

    found = ui_query(audit.browse, ws.workspace_id, audit.AuditQuery(limit=50))["entries"]
    actions = {e["action"] for e in found if e["user_id"] == admin.user_id}
    assert {
        "sender_identity.create",
        "sender_identity.change",
        "provider.create",
        "provider.change",
        "webhook.create",
        "webhook.delete",
    } <= actions
    assert SECRET not in str(found) and "t0k3n" not in str(found)


def test_a_refused_create_shows_its_message_and_never_the_secrets_typed(page, ui_server, ws):
    log_in(page, create_user(ui_server, ws.workspace_id, "admin"))
    page.goto("/settings")
    _open(page, "New provider")
    page.locator("#new-provider-channel").select_option("sms")
    page.locator("#new-provider-kind").select_option("twilio")
    page.locator("#new-provider-settings").fill('{"account_sid": "AC1", "timeout": -1}')
    page.locator("#new-provider-secrets").fill(f'{{"auth_token": "{SECRET}"}}')
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Create provider").click()
    assert answer.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("timeout must be positive")
    expect(page.locator("#new-provider-settings")).to_have_value(re.compile("AC1"))
    assert SECRET not in page.content()
    expect(page.locator("#providers")).to_contain_text("No provider is configured")


def test_viewers_and_authors_are_refused_every_settings_change_by_the_server(
    page, ui_server, ui_query, ws
):
    changes = {
        "/settings/senders": {"name": "X", "email": "x@acme.test"},
        "/settings/providers": {"channel": "email", "kind": "capture", "settings": ""},
        "/settings/webhooks": {"endpoint": "https://hooks.acme.test/", "events": "email_sent"},
        "/settings/workspaces": {"name": "Mine"},
        "/settings/providers/email/delete": {"confirm": "yes"},
    }
    for role in ("viewer", "author"):
        log_in(page, create_user(ui_server, ws.workspace_id, role))
        page.goto("/settings")
        expect(page.get_by_role("button", name=re.compile("Create"))).to_have_count(0)
        token = csrf_token(page)
        for path, fields in changes.items():
            assert post_from_page(page, path, {"csrf_token": token, **fields}) == 403, path
        assert page.goto("/settings/providers/email").status == 403
    settings = ui_query(settings_view.overview, ws.workspace_id)
    assert (settings["senders"], settings["providers"], settings["webhooks"]) == ([], [], [])


def test_an_admin_creates_a_workspace_becomes_its_admin_and_sees_its_keys_once(page, ui_server, ws):
    admin = create_user(ui_server, ws.workspace_id, "admin")
    log_in(page, admin)
    page.goto("/settings")
    _open(page, "New workspace")
    name = f"Shop {uuid.uuid4().hex[:6]}"
    page.locator("#new-workspace-name").fill(name)
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", name=f"Workspace {name} created")).to_be_visible()
    app_key = page.locator("#new-app-key").inner_text()
    with app_api(ui_server, app_key) as app:
        assert app.get("/segments").status_code == 200
    workspace_id = page.locator("#new-workspace dd code").first.inner_text()
    page.get_by_role("button", name=f"Open {name}").click()
    expect(page).to_have_url(re.compile("/people$"))
    page.goto("/settings")
    facts = page.locator("#h-workspace + dl.facts")
    expect(facts).to_contain_text(name)
    expect(facts).to_contain_text(workspace_id)
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()  # its admin
    expect(page.locator("main")).not_to_contain_text(app_key)
