"""A Design Studio email as a campaign's and a newsletter's content, through the official
Node client (`customerio-node@5.2.0`), unchanged, against the real TLS server, whose own
workers send the messages; the test polls for them with a deadline."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk
from tests.support import eventually
from tidings.db.schema import captured_messages

pytestmark = requires("customerio-node")

FIELD = "design_studio_email_id"
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


def test_campaign_and_newsletter_contents_send_a_design_studio_email(
    node, server, api, db, workspace
):
    sdk = Sdk(node, server, api.creds)
    email = {
        "name": "Welcome",
        "content": {
            "subject": "Hi {{ customer.first_name }}",
            "html": "<p>Designed for {{ customer.first_name }}</p>",
        },
    }
    made, folder = sdk.ok(
        sdk.app("createDesignStudioEmail", email),
        sdk.app("createDesignStudioFolder", {"name": "Drafts"}),
    )
    email_id, folder_id = made["email"]["id"], folder["folder"]["id"]
    french = {"language": "fr", "content": {"subject": "Salut {{ customer.first_name }}"}}
    sdk.ok(sdk.app("createDesignStudioEmailLanguage", email_id, french))

    created = api.app(
        "POST",
        "/v1/campaigns",
        json={
            "name": "Welcome",
            "state": "running",
            "trigger": {"event": {"name": "signed_up"}},
            "workflow": [{"email": {"from": "team@example.com", FIELD: email_id}}],
        },
    )
    assert created.status_code == 200, created.text
    campaign = created.json()["campaign"]
    action_id = campaign["actions"][0]["id"]
    unknown = api.app(
        "POST",
        "/v1/campaigns",
        json={
            "name": "Bad",
            "trigger": {"event": {"name": "signed_up"}},
            "workflow": [{"email": {FIELD: "no-such-email"}}],
        },
    )
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["meta"]["error"] == f"{FIELD} names no Design Studio email"
    refused = sdk.run(
        sdk.app("updateCampaignAction", campaign["id"], action_id, {FIELD: folder_id}),
        sdk.app("createNewsletter", {"name": "N", "type": "email", "recipients": PRO, FIELD: "x"}),
    )
    assert [r["error"]["statusCode"] for r in refused] == [400, 400]
    assert all(FIELD in r["error"]["body"] for r in refused)
    (shown,) = sdk.ok(sdk.app("getCampaignAction", campaign["id"], action_id))
    assert shown["action"][FIELD] == email_id

    sdk.ok(
        sdk.track("identify", "ann", {"email": "ann@example.com", "first_name": "Ann"}),
        sdk.track("identify", "cy", {"email": "cy@example.com", "first_name": "Cy"}),
        sdk.track("identify", "cy", {"language": "fr", "plan": "pro"}),
        sdk.track("track", "ann", {"name": "signed_up"}),
        sdk.track("track", "cy", {"name": "signed_up"}),
    )

    def sent(count: int) -> list[dict[str, Any]]:
        with db.reader.connect() as conn:
            rows = conn.execute(
                select(captured_messages.c.message)
                .where(captured_messages.c.workspace_id == workspace.workspace_id)
                .order_by(captured_messages.c.id)
            ).all()
        assert len(rows) == count
        return [json.loads(row.message) for row in rows]

    by_recipient = {m["to"][0]: m for m in eventually(lambda: sent(2), timeout=30)}
    assert by_recipient["ann@example.com"]["subject"] == "Hi Ann"
    assert by_recipient["cy@example.com"]["subject"] == "Salut Cy"
    assert by_recipient["cy@example.com"]["html"].startswith("<p>Designed for Cy</p>")

    news = {
        "name": "News",
        "type": "email",
        "recipients": PRO,
        "from": "news@example.com",
        FIELD: email_id,
        "subject": "Own {{ customer.first_name }}",
    }
    (newsletter,) = sdk.ok(sdk.app("createNewsletter", news))
    nid = newsletter["newsletter"]["id"]
    linked = sdk.ok(sdk.app("listDesignStudioEmails", {"isLinked": "true"}))[0]
    assert [e["id"] for e in linked["emails"]] == [email_id]
    sdk.ok(sdk.app("sendNewsletter", nid))
    last = eventually(lambda: sent(3), timeout=30)[-1]
    assert (last["to"], last["subject"]) == (["cy@example.com"], "Own Cy")  # its own field wins
    assert last["html"].startswith("<p>Designed for Cy</p>")
