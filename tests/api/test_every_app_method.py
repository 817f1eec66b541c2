"""Every method of the official App API clients, called unchanged against the real
TLS server: the Node `APIClient` (customerio-node 5.2) and the Python
`customerio.APIClient` (customerio 3.2).

The methods are read from the clients themselves, so a client version that adds
one fails here until the table below calls it. Each entry is one method, with
arguments naming what the test made first (through `tidings apply`, the App API
or the Track API), so every one answers 2xx with the envelope key the client's
types or BEHAVIOUR.md name; a failure says whether it was a 404 for an unknown
route, a 405, a 501 or a 5xx, which no call may ever answer.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from customerio import (
    APIClient,
    CustomerIOException,
    SendEmailRequest,
    SendInAppRequest,
    SendInboxMessageRequest,
    SendPushRequest,
    SendSMSRequest,
    SendWhatsAppRequest,
)
from customerio.client_base import ClientBase

from tests.api.node_runner import requires
from tests.api.test_send import captured
from tests.httpserver import Reply, serve
from tests.support import eventually
from tidings.workspaces import apply

NODE_SCRIPT = "every_method.mjs"  # the `node` fixture (tests/api/conftest.py) runs it

GIF = "GIF89a\x01\x00\x01\x00\x00\x00\x00;"
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
TOPICS = {
    "subscription_topics": [{"id": 1, "name": "News"}],
    "subscription_channels": [{"channel": "email", "name": "Email"}],
}
SENDER = "shop@example.net"
EVENTS_JSONL = b'{"id": "ann", "name": "renewed", "event_id": "r-1"}\n'

EMPTY = ""  # the key of a 204's answer: the client gives back an empty body

# Methods of the Node client that make no request of their own.
NOT_CALLS = {"resourceBase": "builds a campaign, broadcast or newsletter path for the others"}


@dataclass
class Call:
    """One method of the table: its arguments and the envelope key its 2xx body holds
    (None where the client's types name none, EMPTY for a 204)."""

    method: str
    args: list[Any] = field(default_factory=list)
    key: str | None = None


def c(method: str, *args: Any, key: str | None = None) -> Call:
    return Call(method, list(args), key)


def request(cls: str, **options: Any) -> dict[str, Any]:
    """An argument the Node runner builds as `new cio[cls](options)`."""
    return {"$request": cls, "options": options}


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def check(call: Call, outcome: dict[str, Any]) -> Any:
    """The assertion every method meets; returns the body of its 2xx.

    Every call in the table is made on what exists, so each must answer 2xx;
    a failure still says which of the never-acceptable answers it was."""
    where = f"{call.method}{tuple(call.args)}"
    if outcome["ok"]:
        body = outcome["result"]
        if call.key == EMPTY:
            assert body in ({}, None, ""), (where, body)
        elif call.key is not None:
            assert isinstance(body, dict) and call.key in body, (where, body)
        return body
    status, raw = outcome["statusCode"], outcome.get("body") or ""
    assert status is not None, (where, outcome["message"])  # a client-side failure
    assert "no_route" not in raw and "no route matches" not in raw, (where, status, raw)
    assert status not in (405, 501) and status < 500, (where, status, raw)
    raise AssertionError((where, "expected 2xx", status, raw))


class Runner:
    """Runs table rows through the Node client, one scenario per batch."""

    def __init__(self, node, server, api) -> None:
        self.node = node
        self.auth = {"appKey": api.creds.app_api_key, "url": server.url + "/v1"}
        self.covered: set[str] = set()

    def __call__(self, *calls: Call) -> dict[str, Any]:
        named = [
            {"name": f"{i}:{call.method}", "method": call.method, "args": call.args}
            for i, call in enumerate(calls)
        ]
        [seen] = self.node.run([{"auth": self.auth, "calls": named}])
        answers: dict[str, Any] = {}
        for i, call in enumerate(calls):
            self.covered.add(call.method)
            assert call.method not in answers, f"{call.method} twice in one batch"
            answers[call.method] = check(call, seen[f"{i}:{call.method}"])
        return answers


@pytest.fixture(scope="module")
def site() -> Iterator[Any]:
    with serve({"/events.jsonl": Reply(body=EVENTS_JSONL)}) as served:
        yield served


def declare_topics(db, ws: int) -> None:
    with db.writer.begin() as conn:
        steps = apply.plan(apply.parse(TOPICS), apply.current(conn, ws))
        apply.apply_plan(conn, ws, steps, 0)


def people_and_objects(api) -> None:
    for person, plan in (("ann", "pro"), ("bob", "free")):
        body = {"email": f"{person}@example.com", "plan": plan, "first_name": person.title()}
        assert api.track("PUT", f"/api/v1/customers/{person}", json=body).status_code == 200
    event = {"name": "signed_up", "data": {"plan": "pro"}}
    assert api.track("POST", "/api/v1/customers/ann/events", json=event).status_code == 200
    entity = {
        "type": "object",
        "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "attributes": {"plan": "pro"},
        "cio_relationships": [{"identifiers": {"id": "ann"}}],
    }
    assert api.track("POST", "/api/v2/entity", json=entity).status_code == 200


def templates(api) -> dict[str, int]:
    """One transactional message per channel; the email's sender is an identity."""
    ok(api.app("POST", "/v1/sender_identities", json={"email": f"Shop <{SENDER}>"}))
    fields = {
        "email": {"from": SENDER, "subject": "Hi {{ trigger.name }}", "body": "<p>Hi</p>"},
        "push": {"title": "Hi"},
        "sms": {"body": "Hi"},
        "whatsapp": {"body": "Hi"},
        "inbox": {"title": "Hi", "body": "Hi"},
        "in_app": {"title": "Hi", "body": "Hi"},
    }
    made = {}
    for channel, content in fields.items():
        body = {"name": f"every-{channel}", "channel": channel, "contents": {"": content}}
        made[channel] = ok(api.app("POST", "/v1/transactional", json=body))["message"]["id"]
    return made


def node_methods(node) -> set[str]:
    [names] = node.run(["methods"])
    return set(names) - set(NOT_CALLS)


@requires("customerio-node")
def test_every_method_of_the_node_api_client_answers(node, server, api, db, site):
    ws = api.creds.workspace_id
    declare_topics(db, ws)
    people_and_objects(api)
    tx = templates(api)
    segment = ok(api.app("POST", "/v1/segments", json={"segment": {"name": "VIPs"}}))["segment"]
    campaign = ok(
        api.app(
            "POST",
            "/v1/campaigns",
            json={
                "name": "Welcome",
                "trigger": {"event": {"name": "signed_up"}},
                "filters": {"segment": {"id": segment["id"]}},
                "workflow": [{"email": {"subject": "Hi", "body": "<p>Welcome</p>"}}],
            },
        )
    )["campaign"]
    broadcast = ok(
        api.app(
            "POST",
            "/v1/broadcasts",
            json={
                "broadcast": {
                    "name": "News",
                    "state": "running",
                    "audience": PRO,
                    "workflow": [{"email": {"subject": "News", "body": "<p>News</p>"}}],
                }
            },
        )
    )["broadcast"]
    sender_id = ok(api.app("GET", "/v1/sender_identities"))["sender_identities"][0]["id"]
    run = Runner(node, server, api)
    cid, caction = campaign["id"], campaign["actions"][0]["id"]
    bid, baction = broadcast["id"], broadcast["actions"][0]["id"]
    mail = {"identifiers": {"id": "ann"}, "message_data": {"name": "Ann"}}
    newsletter = {
        "name": "Weekly",
        "type": "email",
        "recipients": PRO,
        "from": SENDER,
        "subject": "Hi {{ customer.first_name }}",
        "body": "<p>News</p>",
    }

    made = run(
        # Transactional sends.
        c("sendEmail", request("SendEmailRequest", **mail, transactional_message_id=tx["email"],
                                to="ann@example.com"), key="delivery_id"),
        c("sendPush", request("SendPushRequest", **mail, transactional_message_id=tx["push"],
                              device={"token": "tok-1", "platform": "ios"}), key="delivery_id"),
        c("sendSMS", request("SendSMSRequest", **mail, transactional_message_id=tx["sms"],
                             to="+15550001111"), key="delivery_id"),
        c("sendWhatsApp", request("SendWhatsAppRequest", **mail,
                                  transactional_message_id=tx["whatsapp"], to="+15550001111"),
          key="delivery_id"),
        c("sendInboxMessage", request("SendInboxMessageRequest", **mail,
                                      transactional_message_id=tx["inbox"]), key="delivery_id"),
        c("sendInApp", request("SendInAppRequest", **mail, transactional_message_id=tx["in_app"]),
          key="delivery_id"),
        # What the later calls read, update and delete.
        c("createSegment", {"name": "Pros", "description": "who pays"}, key="segment"),
        c("createNewsletter", newsletter, key="newsletter"),
        c("createDesignStudioFolder", {"name": "Onboarding"}, key="folder"),
        c("createDesignStudioEmail", {"name": "Welcome", "content": {"html": "<p>Hi</p>"}},
          key="email"),
        c("createDesignStudioComponent", {"name": "Footer", "tag": "footer",
                                          "content": "<p>f</p>"}, key="component"),
        c("createAssetFolder", {"name": "Logos"}, key="folder"),
        c("createAsset", {"data": GIF, "filename": "logo.gif", "name": "Logo"}, key="asset"),
        c("createCollection", {"name": "events", "data": [{"name": "Launch"}]}, key="collection"),
        c("createReportingWebhook", {"name": "hook", "endpoint": "https://hooks.example.com/x",
                                     "events": ["email_sent"]}, key="id"),
        c("createSnippet", {"name": "sig", "value": "Thanks"}, key="snippet"),
        c("createCustomersExport", PRO, key="export"),
        c("createImport", {"data_file_url": site.url("/events.jsonl"), "type": "event",
                           "identifier": "id", "name": "renewals"}, key="import"),
        c("createSuppression", "bounces", "gone@example.com"),
        c("batchUpdateAttributes", [{"name": "plan", "description": "what they pay for"}],
          key=EMPTY),
        c("batchUpdateEvents", [{"name": "signed_up", "description": "a new account"}],
          key=EMPTY),
        c("triggerBroadcast", bid, {"headline": "Hi"}, {"ids": ["ann"]}, key="id"),
    )  # fmt: skip
    delivery_id = made["sendEmail"]["delivery_id"]
    segment_id = made["createSegment"]["segment"]["id"]
    nid = made["createNewsletter"]["newsletter"]["id"]
    later = {**newsletter, "name": "Later"}  # edited, tested, scheduled, deleted
    later_nid = ok(api.app("POST", "/v1/newsletters", json=later))["newsletter"]["id"]
    [content_id] = made["createNewsletter"]["newsletter"]["content_ids"]
    folder_id = made["createDesignStudioFolder"]["folder"]["id"]
    email_id = made["createDesignStudioEmail"]["email"]["id"]
    component_id = made["createDesignStudioComponent"]["component"]["id"]
    asset_folder_id = made["createAssetFolder"]["folder"]["id"]
    asset_id = made["createAsset"]["asset"]["id"]
    collection_id = made["createCollection"]["collection"]["id"]
    webhook_id = made["createReportingWebhook"]["id"]
    export_id = made["createCustomersExport"]["export"]["id"]
    import_id = made["createImport"]["import"]["id"]
    trigger_id = made["triggerBroadcast"]["id"]
    tx_path = f"/v1/transactional/{tx['email']}/contents"
    tx_content = ok(api.app("GET", tx_path))["contents"][0]["id"]
    export = f"/v1/exports/{export_id}"
    eventually(lambda: ok(api.app("GET", export))["export"]["status"] == "done", timeout=20)
    archived = f"/v1/messages/{delivery_id}/archived_message"
    eventually(lambda: api.app("GET", archived).status_code == 200, timeout=15)
    hour = int(time.time()) // 3600 * 3600
    window = {"start": hour - 86400, "end": hour + 3600, "res": "days"}
    acme = {"object_attribute": {"field": "plan", "operator": "eq", "value": "pro", "type_id": 1}}

    read = run(
        # People.
        c("getCustomersByEmail", "ann@example.com", key="results"),
        c("getAttributes", "ann", key="customer"),
        c("getCustomerActivities", "ann", {"type": "event"}, key="activities"),
        c("getCustomerMessages", "ann", {"limit": 10}, key="messages"),
        # Answered as objects' relationships are, `cio_relationships`; the client's doc
        # comment (and BEHAVIOUR.md from it) say `relationships`: not settled here.
        c("getCustomerRelationships", "ann", key="cio_relationships"),
        c("getCustomerSegments", "ann", key="segments"),
        c("getCustomerSubscriptionPreferences", "ann", key="customer"),
        c("searchCustomers", PRO, {"limit": 10}, key="identifiers"),
        c("getCustomersAttributes", ["ann", "bob"], key="customers"),
        # Objects and activities.
        c("getObjectAttributes", 1, "acme", key="object"),
        c("getObjectRelationships", 1, "acme", {"limit": 10}, key="cio_relationships"),
        c("findObjects", 1, acme, key="ids"),
        c("listObjectTypes", key="types"),
        c("listActivities", {"type": "event"}, key="activities"),
        # Segments.
        c("listSegments", key="segments"),
        c("getSegment", segment_id, key="segment"),
        c("getSegmentCustomerCount", segment["id"], key="count"),
        c("getSegmentMembership", segment["id"], {"limit": 10}, key="identifiers"),
        c("getSegmentUsedBy", segment["id"], key="used_by"),
        # Subscription center.
        c("listSubscriptionTopics", key="topics"),
        c("listSubscriptionChannels", key="channels"),
        c("getSubscriptionCenterToken", "ann", key="token"),
        # Transactional messages.
        c("listTransactionalMessages", key="messages"),
        c("getTransactionalMessage", tx["email"], key="message"),
        c("getTransactionalMessageContents", tx["email"], key="contents"),
        c("updateTransactionalMessageLanguage", tx["email"], "fr", {"subject": "Salut"},
          key="content"),
        c("getTransactionalMessageLanguage", tx["email"], "fr", key="content"),
        c("updateTransactionalMessageContent", tx["email"], tx_content, {"subject": "Hello"},
          key="content"),
        c("getTransactionalMessageDeliveries", tx["email"], {"limit": 10}, key="messages"),
        c("getTransactionalMessageMetrics", tx["email"], {"period": "days"}, key="metric"),
        c("getTransactionalMessageLinkMetrics", tx["email"], {"period": "days"}, key="links"),
        # Campaigns.
        c("listCampaigns", key="campaigns"),
        c("getCampaign", cid, key="campaign"),
        c("getCampaignActions", cid, key="actions"),
        c("getCampaignAction", cid, caction, key="action"),
        c("updateCampaignAction", cid, caction, {"subject": "Hello"}, key="action"),
        c("updateCampaignActionLanguage", cid, caction, "fr", {"subject": "Salut"}, key="action"),
        c("getCampaignActionLanguage", cid, caction, "fr", key="action"),
        c("getCampaignActionMetrics", cid, caction, {"period": "days"}, key="metric"),
        c("getCampaignActionMetricsLinks", cid, caction, {"period": "days"}, key="links"),
        c("getCampaignMetrics", cid, {"period": "days"}, key="metric"),
        c("getCampaignMetricsLinks", cid, {"period": "days"}, key="links"),
        c("getCampaignJourneyMetrics", cid, window, key="journey_metric"),
        c("getCampaignMessages", cid, {"limit": 10}, key="messages"),
        # Broadcasts.
        c("getBroadcastTriggerStatus", bid, trigger_id, key="id"),
        c("getBroadcastTriggerErrors", bid, trigger_id, {"limit": 10}, key="errors"),
        c("listBroadcasts", key="broadcasts"),
        c("getBroadcast", bid, key="broadcast"),
        c("getBroadcastActions", bid, key="actions"),
        c("getBroadcastAction", bid, baction, key="action"),
        c("updateBroadcastAction", bid, baction, {"body": "<p>Newer</p>"}, key="action"),
        c("updateBroadcastActionLanguage", bid, baction, "es", {"subject": "Hola"}, key="action"),
        c("getBroadcastActionLanguage", bid, baction, "es", key="action"),
        c("getBroadcastActionMetrics", bid, baction, {"period": "days"}, key="metric"),
        c("getBroadcastActionMetricsLinks", bid, baction, {"period": "days"}, key="links"),
        c("getBroadcastMetrics", bid, {"period": "days"}, key="metric"),
        c("getBroadcastMetricsLinks", bid, {"period": "days"}, key="links"),
        c("getBroadcastMessages", bid, {"limit": 10}, key="messages"),
        c("getBroadcastTriggers", bid, key="triggers"),
        # Newsletters: the first is sent, the second edited, tested and scheduled.
        c("listNewsletters", {"limit": 10}, key="newsletters"),
        c("getNewsletter", nid, key="newsletter"),
        c("getNewsletterContents", nid, key="contents"),
        c("getNewsletterContent", nid, content_id, key="content"),
        c("updateNewsletterContent", nid, content_id, {"preheader_text": "Read"}, key="content"),
        c("sendNewsletter", nid, {}, key="newsletter"),
        c("getNewsletterMetrics", nid, {"period": "days"}, key="metric"),
        c("getNewsletterMetricsLinks", nid, {"period": "days"}, key="links"),
        c("getNewsletterContentMetrics", nid, content_id, {"period": "days"}, key="metric"),
        c("getNewsletterContentMetricsLinks", nid, content_id, {"period": "days"}, key="links"),
        c("getNewsletterMessages", nid, {"limit": 10}, key="messages"),
        c("createDeliveriesExport", nid, key="export"),
        c("createNewsletterLanguage", later_nid, {"language": "fr", "subject": "Salut"},
          key="content"),
        c("getNewsletterLanguage", later_nid, "fr", key="content"),
        c("updateNewsletterLanguage", later_nid, "fr", {"body": "<p>Bonjour</p>"}, key="content"),
        c("createNewsletterTestGroup", later_nid, key="newsletter"),
        c("getNewsletterTestGroups", later_nid, key="test_groups"),
        # Design Studio.
        c("listDesignStudioFolders", key="folders"),
        c("getDesignStudioFolder", folder_id, key="folder"),
        c("updateDesignStudioFolder", folder_id, {"name": "Start"}, key=EMPTY),
        c("listDesignStudioEmails", {"limit": 10}, key="emails"),
        c("getDesignStudioEmail", email_id, key="email"),
        c("updateDesignStudioEmail", email_id, {"name": "Hello"}, key=EMPTY),
        c("createDesignStudioEmailLanguage", email_id, {"language": "fr"},
          key="email_translation"),
        c("listDesignStudioEmailLanguages", email_id, key="email_translations"),
        c("getDesignStudioEmailLanguage", email_id, "fr", key="email_translation"),
        c("updateDesignStudioEmailLanguage", email_id, "fr", {"content": {"html": "<p>Salut</p>"}},
          key=EMPTY),
        c("listDesignStudioComponents", key="components"),
        c("getDesignStudioComponent", component_id, key="component"),
        c("updateDesignStudioComponent", component_id, {"content": "<p>g</p>"}, key=EMPTY),
        # Assets.
        c("listAssets", key="assets"),
        c("getAsset", asset_id, key="asset"),
        c("updateAsset", asset_id, {"name": "Brand"}, key=EMPTY),
        c("listAssetFolders", key="folders"),
        c("getAssetFolder", asset_folder_id, key="folder"),
        c("updateAssetFolder", asset_folder_id, {"name": "Brand"}, key=EMPTY),
        # Collections.
        c("listCollections", key="collections"),
        c("getCollection", collection_id, key="collection"),
        c("updateCollection", collection_id, {"name": "launches"}, key="collection"),
        c("getCollectionContent", collection_id),
        c("updateCollectionContent", collection_id, [{"name": "Fair"}], key="collection"),
        # ESP suppression.
        c("searchSuppression", "gone@example.com", key="suppressions"),
        c("getSuppressions", "bounces", {"limit": 10}, key="suppressions"),
        c("getDomainSuppressions", "example.com", "bounces", key="suppressions"),
        # Reporting webhooks, snippets, sender identities.
        c("listReportingWebhooks", key="reporting_webhooks"),
        c("getReportingWebhook", webhook_id, key="id"),
        c("updateReportingWebhook", webhook_id, {"full_resolution": False}, key="id"),
        c("getSnippets", key="snippets"),
        c("updateSnippet", {"name": "sig", "value": "Thanks!"}, key="snippet"),
        c("getSenderIdentities", key="sender_identities"),
        c("getSenderIdentity", sender_id, key="sender_identity"),
        c("getSenderIdentityUsedBy", sender_id, key="campaigns"),
        # Messages, exports, imports, the workspace.
        c("getMessages", {"limit": 10}, key="messages"),
        c("getMessage", delivery_id, key="message"),
        c("getArchivedMessage", delivery_id, key="archived_message"),
        c("listExports", key="exports"),
        c("getExport", export_id, key="export"),
        c("downloadExport", export_id, key="url"),
        c("getImport", import_id, key="import"),
        c("listWorkspaces", key="workspaces"),
        c("getIpAddresses", key="ip_addresses"),
    )  # fmt: skip
    assert read["getCollectionContent"] == [{"name": "Launch"}]  # the rows, bare
    assert read["getSegmentUsedBy"]["used_by"]["campaigns"] == [cid]
    used = read["getSenderIdentityUsedBy"]
    assert (used["sent_newsletters"], used["draft_newsletters"]) == ([nid], [later_nid])
    groups = ok(api.app("GET", f"/v1/newsletters/{later_nid}/test_groups"))["test_groups"]
    in_an_hour = int(time.time()) + 3600
    group = groups[1]["id"]
    run(
        c("createNewsletterTestGroupLanguage", later_nid, group, {"language": "it"},
          key="content"),
        c("getNewsletterTestGroupLanguage", later_nid, group, "it", key="content"),
        c("updateNewsletterTestGroupLanguage", later_nid, group, "it", {"subject": "Ciao"},
          key="content"),
        c("deleteNewsletterTestGroupLanguage", later_nid, group, "it"),
        c("deleteNewsletterLanguage", later_nid, "fr"),
        c("scheduleNewsletter", later_nid, {"scheduled_at": in_an_hour, "timezone": "UTC"},
          key="newsletter"),
        c("deleteNewsletter", later_nid),
        c("deleteSegment", segment_id),
        c("deleteDesignStudioEmailLanguage", email_id, "fr", key=EMPTY),
        c("deleteDesignStudioEmail", email_id, key=EMPTY),
        c("deleteDesignStudioComponent", component_id, key=EMPTY),
        c("deleteDesignStudioFolder", folder_id, key=EMPTY),
        c("deleteAsset", asset_id, key=EMPTY),
        c("deleteAssetFolder", asset_folder_id, key=EMPTY),
        c("deleteCollection", collection_id, key=EMPTY),
        c("deleteSuppression", "bounces", "gone@example.com", key=EMPTY),
        c("deleteReportingWebhook", webhook_id, key=EMPTY),
        c("deleteSnippet", "sig", key=EMPTY),
    )  # fmt: skip
    assert sorted(node_methods(node) - run.covered) == []


# Public methods the Python client inherits for its transport, not App API calls.
PY_TRANSPORT = {"close": "closes the session", "send_request": "what every call goes through"}


def python_methods() -> set[str]:
    public = {n for n, _ in inspect.getmembers(APIClient, inspect.isfunction) if n[0] != "_"}
    inherited = {n for n, _ in inspect.getmembers(ClientBase, inspect.isfunction) if n[0] != "_"}
    assert inherited == set(PY_TRANSPORT), inherited  # a new one is a call to cover, or not
    return public - inherited


def test_every_app_api_call_of_the_python_client_answers(api, server, monkeypatch):
    tx = templates(api)
    mail = {"identifiers": {"id": "ann"}, "message_data": {"name": "Ann"}}
    table = {
        "send_email": lambda: SendEmailRequest(
            **mail, transactional_message_id=tx["email"], to="ann@example.com"
        ),
        "send_push": lambda: SendPushRequest(
            **mail, transactional_message_id=tx["push"], device={"token": "t", "platform": "ios"}
        ),
        "send_sms": lambda: SendSMSRequest(
            **mail, transactional_message_id=tx["sms"], to="+15550001111"
        ),
        "send_whatsapp": lambda: SendWhatsAppRequest(
            **mail, transactional_message_id=tx["whatsapp"], to="+15550001111"
        ),
        "send_inbox_message": lambda: SendInboxMessageRequest(
            **mail, transactional_message_id=tx["inbox"]
        ),
        "send_in_app": lambda: SendInAppRequest(**mail, transactional_message_id=tx["in_app"]),
    }
    assert set(table) == python_methods()
    # requests prefers REQUESTS_CA_BUNDLE from the environment over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    client = APIClient(api.creds.app_api_key, url=server.url)
    sent = {}
    try:
        for method, build in table.items():
            try:
                answer = getattr(client, method)(build())
            except CustomerIOException as error:  # carries the status and body
                raise AssertionError((method, str(error))) from None
            assert isinstance(answer.get("delivery_id"), str) and answer["delivery_id"], answer
            sent[method] = answer["delivery_id"]
    finally:
        client.close()
    for method in ("send_email", "send_push", "send_sms", "send_whatsapp"):  # delivered
        assert captured(api, sent[method])["channel"] in method, method
