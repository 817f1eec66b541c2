"""Campaigns, broadcasts and segment usage through the official Node client
(`customerio-node@5.2.0`): every method of those routes, against the real TLS server.
`node/campaigns.mjs` asserts the shapes as it calls; this checks what came back."""

from __future__ import annotations

from tests.api.node_runner import requires

pytestmark = requires("customerio-node")

NODE_SCRIPT = "campaigns.mjs"  # the `node` fixture (tests/api/conftest.py) runs it


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def test_the_node_client_reads_and_edits_campaigns_and_broadcasts(node, server, api, other_api):
    segment = ok(api.app("POST", "/v1/segments", json={"segment": {"name": "VIPs"}}))["segment"]
    campaign = ok(
        api.app(
            "POST",
            "/v1/campaigns",
            json={
                "name": "Welcome",
                "trigger": {"event": {"name": "signed_up"}},
                "filters": {"segment": {"id": segment["id"]}},
                "workflow": [
                    {"email": {"subject": "Hi", "body": "<p>Welcome</p>"}},
                    {"delay": {"hours": 1}},
                    {"sms": {"body": "Hello"}},
                ],
            },
        )
    )["campaign"]
    broadcast = ok(
        api.app(
            "POST",
            "/v1/broadcasts",
            json={"broadcast": {"name": "News", "workflow": [{"email": {"subject": "News"}}]}},
        )
    )["broadcast"]
    path = f"/v1/campaigns/{campaign['id']}/actions"
    first = ok(api.app("GET", path, params={"limit": 1}))
    scenario = {
        "auth": {"appKey": api.creds.app_api_key, "url": server.url + "/v1"},
        "campaignId": campaign["id"],
        "actionId": campaign["actions"][0]["id"],
        "cursor": first["next"],
        "broadcastId": broadcast["id"],
        "broadcastActionId": broadcast["actions"][0]["id"],
        "segmentId": segment["id"],
    }
    [outcome] = node.run([scenario])
    assert outcome["ok"], outcome["error"]
    seen = outcome["result"]
    assert seen["listCampaigns"] == {"campaigns": [seen["getCampaign"]["campaign"]]}
    assert [a["type"] for a in seen["getCampaignActions"]["actions"]] == [
        "email",
        "delay",
        "twilio",
    ]
    assert [a["type"] for a in seen["getCampaignActionsFrom"]["actions"]] == ["delay", "twilio"]
    action = seen["updateCampaignAction"]["action"]
    assert (action["subject"], action["body"], action["language"]) == (
        "From Node",
        "<p>Welcome</p>",
        "",
    )
    french = seen["getCampaignActionLanguage"]["action"]
    assert (french["subject"], french["body"]) == ("Depuis Node", "<p>Welcome</p>")
    assert seen["getBroadcast"]["broadcast"]["actions"] == broadcast["actions"]
    assert seen["updateBroadcastAction"]["action"]["body"] == "From Node"
    assert seen["getBroadcastActionLanguage"]["action"]["subject"] == "Desde Node"
    assert seen["getSegmentUsedBy"] == {
        "used_by": {
            "campaigns": [campaign["id"]],
            "broadcasts": [],
            "sent_newsletters": [],
            "draft_newsletters": [],
        }
    }
    assert seen["getCampaignOfABroadcast"] == {
        "statusCode": 404,
        "message": "campaign not found",
    }
    assert seen["getCampaignActionLanguageMissing"] == {"statusCode": 404}
    shown = ok(api.app("GET", f"/v1/campaigns/{campaign['id']}"))["campaign"]
    assert shown["workflow"][0]["email"]["languages"] == {
        "fr": {"subject": "Depuis Node", "body": "<p>Welcome</p>"}
    }
    assert other_api.app("GET", f"/v1/campaigns/{campaign['id']}").status_code == 404
