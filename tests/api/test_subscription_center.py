"""The subscription center over HTTP: the official Node client's four methods, the
hosted preferences page (GET shows, POST saves, forged tokens are 404s), the
`{% manage_subscription_preferences_url %}` tag in a sent email, a broadcast in a
topic skipping the person who left it, and its one-click unsubscribe leaving that
topic only."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.api.node_runner import requires
from tests.api.test_app_objects_node import call, ok, run
from tests.api.test_broadcast_triggers import delivered, people
from tests.api.test_tracking_pages import send
from tests.support import eventually
from tidings.campaigns import definitions, store
from tidings.subscriptions import center
from tidings.workspaces import apply

NODE_SCRIPT = "calls.mjs"  # the `node` fixture (tests/api/conftest.py) runs it
TOPICS = {
    "subscription_topics": [
        {"id": 1, "name": "News <b>&</b>", "description": "Weekly \"notes\"",
         "subscribed_by_default": True},
        {"id": 2, "name": "Offers"},
    ],
    "subscription_channels": [{"channel": "email", "name": "Email"}],
}  # fmt: skip


def declare(db, ws: int) -> None:
    with db.writer.begin() as conn:
        steps = apply.plan(apply.parse(TOPICS), apply.current(conn, ws))
        apply.apply_plan(conn, ws, steps, 0)


def identify(api, person: str, **attributes: Any) -> None:
    body = {"email": f"{person}@example.com", **attributes}
    response = api.track("PUT", f"/api/v1/customers/{person}", json=body)
    assert response.status_code == 200, response.text


def preferences(api, person: str) -> tuple[dict[int, bool], bool]:
    path = f"/v1/customers/{person}/subscription_preferences"
    customer = api.app("GET", path).json()["customer"]
    return {t["id"]: t["subscribed"] for t in customer["topics"]}, customer["unsubscribed"]


def page_url(api, person: str) -> str:
    token = api.app("GET", f"/v1/subscription_center/{person}/token").json()["token"]
    return f"{api.server.url}/t/p/{token}"


@requires("customerio-node")
def test_the_node_client_reads_topics_channels_preferences_and_the_token(
    node, server, api, db, other_api
):
    declare(db, api.creds.workspace_id)
    identify(api, "ann", **{"cio_subscription_preferences.topics.topic_2": True})
    seen = run(
        node,
        server,
        api,
        call("topics", "listSubscriptionTopics"),
        call("channels", "listSubscriptionChannels"),
        call("prefs", "getCustomerSubscriptionPreferences", "ann"),
        call("attributes", "getAttributes", "ann"),
        call("byEmail", "getCustomerSubscriptionPreferences", "ann@example.com",
             {"idType": "email", "language": "fr"}),
        call("token", "getSubscriptionCenterToken", "ann"),
        call("nobody", "getSubscriptionCenterToken", "nobody"),
        call("nobodyPrefs", "getCustomerSubscriptionPreferences", "nobody"),
    )  # fmt: skip
    assert ok(seen, "topics") == {
        "topics": [
            {"id": 1, "identifier": "topic_1", "name": "News <b>&</b>",
             "description": 'Weekly "notes"', "subscribed_by_default": True},
            {"id": 2, "identifier": "topic_2", "name": "Offers", "description": "",
             "subscribed_by_default": False},
        ]
    }  # fmt: skip
    assert ok(seen, "channels") == {
        "channels": [
            {
                "id": 1,
                "type": "email",
                "channel": "email",
                "name": "Email",
                "description": "",
                "subscribed_by_default": True,
            }
        ]
    }
    customer = ok(seen, "prefs")["customer"]
    assert [(t["id"], t["subscribed"]) for t in customer["topics"]] == [(1, True), (2, True)]
    assert customer["identifiers"]["id"] == "ann" and customer["unsubscribed"] is False
    assert ok(seen, "byEmail") == ok(seen, "prefs")
    computed = ok(seen, "attributes")["customer"]["attributes"][center.COMPUTED]
    assert json.loads(computed)["topics"] == {"topic_1": True, "topic_2": True}
    token, url = ok(seen, "token")["token"], ok(seen, "token")["url"]
    assert url.endswith(f"/t/p/{token}")
    assert api.http.get(f"/t/p/{token}").status_code == 200
    for missing in ("nobody", "nobodyPrefs"):
        assert seen[missing]["statusCode"] == 404, seen[missing]
    # Another workspace sees none of it.
    [other] = node.run(
        [{"auth": {"appKey": other_api.creds.app_api_key, "url": server.url + "/v1"},
          "calls": [call("topics", "listSubscriptionTopics"),
                    call("prefs", "getCustomerSubscriptionPreferences", "ann")]}]
    )  # fmt: skip
    assert ok(other, "topics") == {"topics": []}
    assert other["prefs"]["statusCode"] == 404


def test_the_page_shows_escaped_topics_and_saves_the_choices(api, db):
    declare(db, api.creds.workspace_id)
    identify(api, "bea")
    url = page_url(api, "bea")
    page = api.http.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "News &lt;b&gt;&amp;&lt;/b&gt;" in page.text and "<b>&</b>" not in page.text
    assert "Weekly &quot;notes&quot;" in page.text
    assert re.findall(r'name="topic" value="(\d)"( checked)?', page.text) == [
        ("1", " checked"),
        ("2", ""),
    ]
    saved = api.http.post(url, data={"topic": "2"})
    assert saved.status_code == 200 and "saved" in saved.text
    assert re.findall(r'name="topic" value="(\d)"( checked)?', saved.text) == [
        ("1", ""),
        ("2", " checked"),
    ]
    assert preferences(api, "bea") == ({1: False, 2: True}, False)
    attributes = api.app("GET", "/v1/customers/bea/attributes").json()["customer"]["attributes"]
    assert attributes["cio_subscription_preferences"].replace(" ", "") == (
        '{"topics":{"topic_1":false,"topic_2":true}}'
    )
    api.http.post(url, data={"topic": ["1", "2"], "unsubscribed": "1"})
    assert preferences(api, "bea") == ({1: True, 2: True}, True)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_forged_or_wrong_kind_token_is_a_404(api, method):
    identify(api, "cat")
    url = page_url(api, "cat")
    forged = url[:-2] + ("AA" if not url.endswith("AA") else "BB")
    for bad in (forged, f"{api.server.url}/t/p/1.e30.x", f"{api.server.url}/t/p/nothing"):
        response = api.http.request(method, bad, data={"topic": "1"})
        assert response.status_code == 404, bad
        assert "not valid" in response.text
    assert preferences(api, "cat") == ({}, False)


def test_a_form_with_anything_else_is_a_400_and_changes_nothing(api, db):
    declare(db, api.creds.workspace_id)
    identify(api, "dan")
    url = page_url(api, "dan")
    too_many = {"topic": [str(n) for n in range(1, 1_002)]}  # MAX_TOPICS_CHOSEN is 1,000
    for form in ({"topic": "x"}, {"topic": "1", "other": "y"}, {"unsubscribed": "yes"}, too_many):
        response = api.http.post(url, data=form)
        assert response.status_code == 400, form
    assert preferences(api, "dan") == ({1: True, 2: False}, False)


def test_the_tag_links_the_email_to_the_persons_page(api, db):
    declare(db, api.creds.workspace_id)
    body = (
        "<p>{% manage_subscription_preferences_url %} {{ manage_subscription_preferences_url }}</p>"  # noqa: E501
    )
    _, message = send(api, body, person="eve", tracked=False)
    links = re.findall(r"https://[^\s\"<]+/t/p/[\w.-]+", message["html"])
    assert len(links) == 2 and links[0] == links[1]
    assert links[0].rsplit("/", 1)[1] == page_url(api, "eve").rsplit("/", 1)[1]
    assert api.http.get(links[0]).status_code == 200


def topic_broadcast(db, ws: int) -> int:
    document = {
        "name": "Offers",
        "state": "running",
        "subscription_topic_id": 1,
        "audience": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        "workflow": [{"email": {"from": "news@example.com", "subject": "Hi", "body": "<p>x</p>"}}],
    }
    with db.writer.begin() as conn:
        return store.create(conn, ws, definitions.parse(document, kind="broadcast"), 0)


def test_a_topic_broadcast_skips_who_left_and_its_unsubscribe_leaves_the_topic_only(api, db):
    ws = api.creds.workspace_id
    declare(db, ws)
    people(db, ws, "in1", "out1")
    identify(api, "out1", **{"cio_subscription_preferences.topics.topic_1": False})
    broadcast_id = topic_broadcast(db, ws)
    response = api.app("POST", f"/v1/campaigns/{broadcast_id}/triggers", json={})
    assert response.status_code == 200, response.text

    def suppressed() -> list[dict[str, Any]]:
        messages = api.app("GET", f"/v1/broadcasts/{broadcast_id}/messages").json()["messages"]
        found = [m for m in messages if "suppressed" in m["metrics"]]
        assert found, messages
        return found

    [skipped] = eventually(suppressed, timeout=60)
    assert skipped["customer_id"] == "out1"
    assert list(delivered(api, 1)) == ["in1@example.com"]
    [sent] = api.app("GET", "/v1/outbox", params={"limit": 10}).json()["messages"]
    # The worker signs links for its own base URL; the token is what matters.
    token = sent["message"]["unsubscribe_url"].rsplit("/t/u/", 1)[1]
    one_click = api.http.post(f"/t/u/{token}", content=b"List-Unsubscribe=One-Click")
    assert one_click.status_code == 200 and "News &lt;b&gt;" in one_click.text
    assert preferences(api, "in1") == ({1: False, 2: False}, False)  # global flag untouched


def test_a_transactional_message_in_a_topic_is_suppressed_for_who_is_not_in_it(api, db):
    document = {
        **TOPICS,
        "sender_identities": [{"email": "shop@example.net"}],
        "transactional_messages": [
            {
                "name": "Deal",
                "subscription_topic_id": 2,
                "contents": {"": {"from": "shop@example.net", "subject": "Deal", "body": "x"}},
            }
        ],
    }
    with db.writer.begin() as conn:
        ws = api.creds.workspace_id
        apply.apply_plan(conn, ws, apply.plan(apply.parse(document), apply.current(conn, ws)), 0)
    shown = api.app("GET", "/v1/transactional").json()["messages"]
    assert [m["subscription_topic_id"] for m in shown] == [2]
    identify(api, "opted", **{"cio_subscription_preferences.topics.topic_2": True})
    identify(api, "never")
    sent = {}
    for person in ("opted", "never"):
        body = {"transactional_message_id": "deal", "identifiers": {"id": person}}
        response = api.app("POST", "/v1/send/email", json={**body, "to": f"{person}@example.com"})
        assert response.status_code == 200, response.text
        sent[person] = response.json()["delivery_id"]

    def metrics(person: str) -> dict[str, Any]:
        found = api.app("GET", f"/v1/messages/{sent[person]}").json()["message"]["metrics"]
        assert "sent" in found or "suppressed" in found, found
        return found

    assert "sent" in eventually(lambda: metrics("opted"), timeout=30)
    assert "suppressed" in eventually(lambda: metrics("never"), timeout=30)
