"""Message resources over HTTP: transactional messages and contents, snippets, sender
identities, layouts; shapes, errors, isolation between workspaces, customerio-node."""

from __future__ import annotations

import pytest

from tests.api.node_runner import requires
from tests.api.test_node_sdk import Sdk


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


def error(response, status=400):
    assert response.status_code == status, response.text
    return response.json()["meta"]["error"]


def create_message(api, **body):
    body = {"name": "Welcome", **body}
    return ok(api.app("POST", "/v1/transactional", json=body))["message"]


def test_transactional_messages_create_list_get_contents_delete(api) -> None:
    contents = {"": {"subject": "Hi {{ customer.first_name }}"}, "fr": {"subject": "Salut"}}
    made = create_message(api, trigger_name="Welcome", contents=contents, tracked=False)
    assert made["trigger_name"] == "welcome" and made["type"] == "email"
    assert (made["open_tracking"], made["send_to_unsubscribed"]) == (False, True)
    listed = ok(api.app("GET", "/v1/transactional"))["messages"]
    assert listed == [made]
    assert ok(api.app("GET", f"/v1/transactional/{made['id']}")) == {"message": made}
    found = ok(api.app("GET", f"/v1/transactional/{made['id']}/contents"))["contents"]
    assert [(c["language"], c["subject"]) for c in found] == [
        ("", "Hi {{ customer.first_name }}"),
        ("fr", "Salut"),
    ]
    ok(api.app("DELETE", f"/v1/transactional/{made['id']}"), 204)
    error(api.app("GET", f"/v1/transactional/{made['id']}"), 404)


def test_update_one_content_and_a_language(api) -> None:
    made = create_message(api, contents={"": {"subject": "a", "body": "b"}})
    (content,) = ok(api.app("GET", f"/v1/transactional/{made['id']}/contents"))["contents"]
    path = f"/v1/transactional/{made['id']}/content/{content['id']}"
    updated = ok(api.app("PUT", path, json={"body": "<p>new</p>", "subject": None}))["content"]
    assert updated["body"] == "<p>new</p>" and "subject" not in updated
    assert (
        error(api.app("PUT", path, json={"title": "x"})) == "title is not a field of email messages"
    )
    error(api.app("PUT", f"/v1/transactional/{made['id']}/content/999999", json={}), 404)
    lang = f"/v1/transactional/{made['id']}/language/de"
    error(api.app("GET", lang), 404)
    ok(api.app("PUT", lang, json={"subject": "Hallo"}))
    assert ok(api.app("GET", lang))["content"]["subject"] == "Hallo"


def test_a_content_is_checked_when_it_is_put(api) -> None:
    made = create_message(api, contents={"": {"subject": "a", "body": "b"}})
    (content,) = ok(api.app("GET", f"/v1/transactional/{made['id']}/contents"))["contents"]
    path = f"/v1/transactional/{made['id']}/content/{content['id']}"
    broken = {"body": "<p>Hi</p>\n{% if customer.vip %}\n<b>VIP</b>"}
    assert error(api.app("PUT", path, json=broken)) == (
        "body, line 2: expected tag endif, found end of expression"
    )
    assert error(api.app("PUT", path, json={"subject": "{{ x | }}"})) == (
        "subject, line 1: expected word, found end of expression"
    )
    ok(api.app("POST", "/v1/sender_identities", json={"email": "shop@acme.test"}))
    assert error(api.app("PUT", path, json={"from": "Shop <other@acme.test>"})) == (
        "from: other@acme.test is not a sender identity of this workspace"
    )
    ok(api.app("PUT", path, json={"from": "Shop <SHOP@acme.test>"}))
    ok(api.app("PUT", path, json={"from": "{{ customer.rep }}"}))  # checked when rendered
    shown = ok(api.app("GET", f"/v1/transactional/{made['id']}/contents"))["contents"][0]
    assert (shown["body"], shown["from"]) == ("b", "{{ customer.rep }}")  # the refused kept none


def test_snippets_and_layouts_are_checked_when_they_are_put(api) -> None:
    refused = api.app("POST", "/v1/snippets", json={"name": "s", "value": "a\n{% for %}"})
    assert error(refused) == "value, line 2: missing expression"
    refused = api.app("PUT", "/v1/layouts/l", json={"body": "<html>{{ content }</html>"})
    assert error(refused).startswith("body, line 1: ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name must be a non-empty string"),
        ({"name": "x", "channel": "fax"}, "channel must be one of"),
        ({"name": "x", "tracked": "yes"}, "tracked must be a boolean"),
        ({"name": "x", "contents": {"": {"subject": 5}}}, "subject must be a string"),
        ({"name": "x", "channel": "sms", "contents": [{"subject": "s"}]}, "not a field of sms"),
    ],
)
def test_create_errors(api, body, message) -> None:
    assert message in error(api.app("POST", "/v1/transactional", json=body))


def test_trigger_name_taken_is_a_409(api) -> None:
    create_message(api, trigger_name="dup")
    assert "exists" in error(api.app("POST", "/v1/transactional", json={"name": "DUP"}), 409)


def test_snippets_put_upserts_and_delete_is_204(api) -> None:
    first = ok(api.app("PUT", "/v1/snippets", json={"name": "footer", "value": "v1"}))["snippet"]
    assert (first["name"], first["value"]) == ("footer", "v1")
    ok(api.app("POST", "/v1/snippets", json={"name": "footer", "value": "v2"}))
    listed = ok(api.app("GET", "/v1/snippets"))["snippets"]
    assert [(s["name"], s["value"]) for s in listed] == [("footer", "v2")]
    assert ok(api.app("GET", "/v1/snippets/footer"))["snippet"]["value"] == "v2"
    ok(api.app("DELETE", "/v1/snippets/footer"), 204)
    error(api.app("DELETE", "/v1/snippets/footer"), 404)
    assert "value must be a string" in error(api.app("PUT", "/v1/snippets", json={"name": "x"}))


def test_sender_identities_page(api) -> None:
    made = [
        ok(api.app("POST", "/v1/sender_identities", json={"email": f"Team {i} <t{i}@ex.com>"}))[
            "sender_identity"
        ]
        for i in range(3)
    ]
    assert made[0]["name"] == "Team 0" and made[0]["email"] == "t0@ex.com"
    first = ok(api.app("GET", "/v1/sender_identities", params={"limit": 2}))
    assert [s["id"] for s in first["sender_identities"]] == [made[0]["id"], made[1]["id"]]
    rest = ok(api.app("GET", "/v1/sender_identities", params={"start": first["next"]}))
    assert [s["id"] for s in rest["sender_identities"]] == [made[2]["id"]]
    assert rest["next"] == ""
    got = ok(api.app("GET", f"/v1/sender_identities/{made[1]['id']}"))
    assert got == {"sender_identity": made[1]}
    error(api.app("POST", "/v1/sender_identities", json={"email": "t0@EX.com"}), 409)
    ok(api.app("DELETE", f"/v1/sender_identities/{made[1]['id']}"), 204)
    error(api.app("GET", f"/v1/sender_identities/{made[1]['id']}"), 404)


def test_layouts(api) -> None:
    body = {"name": "base", "body": "<html>{{ content }}</html>"}
    assert ok(api.app("POST", "/v1/layouts", json=body))["layout"]["name"] == "base"
    ok(api.app("PUT", "/v1/layouts/base", json={"body": "<div>{{ content }}</div>"}))
    assert ok(api.app("GET", "/v1/layouts"))["layouts"][0]["body"] == "<div>{{ content }}</div>"
    ok(api.app("DELETE", "/v1/layouts/base"), 204)
    error(api.app("GET", "/v1/layouts/base"), 404)


def test_another_workspaces_resources_are_404(api, other_api) -> None:
    made = create_message(api, contents={"": {"body": "x"}})
    (content,) = ok(api.app("GET", f"/v1/transactional/{made['id']}/contents"))["contents"]
    sender = ok(api.app("POST", "/v1/sender_identities", json={"email": "a@ex.com"}))
    sender_id = sender["sender_identity"]["id"]
    ok(api.app("PUT", "/v1/snippets", json={"name": "s", "value": "v"}))
    ok(api.app("POST", "/v1/layouts", json={"name": "l", "body": "b"}))
    path = f"/v1/transactional/{made['id']}"
    for method, url in [
        ("GET", path),
        ("GET", path + "/contents"),
        ("PUT", f"{path}/content/{content['id']}"),
        ("DELETE", path),
        ("GET", f"/v1/sender_identities/{sender_id}"),
        ("DELETE", f"/v1/sender_identities/{sender_id}"),
        ("GET", "/v1/snippets/s"),
        ("DELETE", "/v1/snippets/s"),
        ("GET", "/v1/layouts/l"),
    ]:
        error(other_api.app(method, url, json={} if method == "PUT" else None), 404)
    assert ok(other_api.app("GET", "/v1/transactional"))["messages"] == []
    assert ok(other_api.app("GET", "/v1/snippets"))["snippets"] == []
    assert ok(other_api.app("GET", "/v1/sender_identities"))["sender_identities"] == []
    assert ok(api.app("GET", "/v1/snippets/s"))["snippet"]["value"] == "v"


needs_node = requires("customerio-node")


@needs_node
def test_the_node_api_client_reads_messages_snippets_and_senders(node, server, api) -> None:
    made = create_message(api, trigger_name="node", contents={"": {"subject": "s"}})
    sender = ok(api.app("POST", "/v1/sender_identities", json={"email": "n@ex.com"}))
    sdk = Sdk(node, server, api.creds)
    listed, got, contents, senders, one_sender = sdk.ok(
        sdk.app("listTransactionalMessages"),
        sdk.app("getTransactionalMessage", made["id"]),
        sdk.app("getTransactionalMessageContents", made["id"]),
        sdk.app("getSenderIdentities", {"limit": 10}),
        sdk.app("getSenderIdentity", sender["sender_identity"]["id"]),
    )
    assert listed["messages"] == [made] and got["message"] == made
    assert contents["contents"][0]["subject"] == "s"
    assert senders["sender_identities"] == [sender["sender_identity"]]
    assert one_sender == sender
    content_id = contents["contents"][0]["id"]
    created, updated, snippets, language = sdk.ok(
        sdk.app("createSnippet", {"name": "sig", "value": "v1"}),
        sdk.app("updateSnippet", {"name": "sig", "value": "v2"}),
        sdk.app("getSnippets"),
        sdk.app("updateTransactionalMessageLanguage", made["id"], "fr", {"subject": "fr"}),
    )
    assert created["snippet"]["value"] == "v1" and updated["snippet"]["value"] == "v2"
    assert [s["value"] for s in snippets["snippets"]] == ["v2"]
    assert language["content"]["language"] == "fr" and content_id != language["content"]["id"]
    sdk.ok(sdk.app("deleteSnippet", "sig"))
    assert ok(api.app("GET", "/v1/snippets"))["snippets"] == []


@needs_node
def test_the_node_api_client_reads_what_uses_a_sender_identity(node, server, api) -> None:
    sender = ok(api.app("POST", "/v1/sender_identities", json={"email": "Ops <ops@ex.com>"}))
    sender_id = sender["sender_identity"]["id"]
    mail = {"from": "ops@ex.com", "subject": "s", "body": "b"}
    made = create_message(api, trigger_name="ops", contents={"": mail})
    letter = {"name": "N", "type": "email", "recipients": {"segment": {"id": 1}}, **mail}
    newsletter = ok(api.app("POST", "/v1/newsletters", json=letter))["newsletter"]
    sdk = Sdk(node, server, api.creds)
    (used,) = sdk.ok(sdk.app("getSenderIdentityUsedBy", sender_id))
    assert used == {
        "campaigns": [],
        "sent_newsletters": [],
        "draft_newsletters": [newsletter["id"]],
        "broadcasts": [],
        "transactional_messages": [made["id"]],
    }
    [missing] = sdk.run(sdk.app("getSenderIdentityUsedBy", 999_999_999))
    assert missing["error"]["statusCode"] == 404
