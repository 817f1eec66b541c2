"""`POST /v1/send/*` over HTTP: the official clients, idempotency, errors, the outbox.

Sends are delivered by the test server's own delivery worker (capture
adapter); the captured message is read back through `GET /v1/outbox`,
polled until it arrives.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from customerio import (
    APIClient,
    CustomerIOException,
    SendEmailRequest,
    SendPushRequest,
    SendSMSRequest,
)

from tests.api.node_runner import requires
from tests.support import eventually


def outbox(api, delivery_id: str) -> list[dict[str, Any]]:
    response = api.app("GET", "/v1/outbox", params={"delivery_id": delivery_id})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def captured(api, delivery_id: str) -> dict[str, Any]:
    return eventually(lambda: outbox(api, delivery_id), timeout=15)[0]


def inline(**extra: Any) -> dict[str, Any]:
    return {
        "identifiers": {"id": "u1"},
        "to": "u1@example.com",
        "from": "shop@example.net",
        "subject": "Hi {{ trigger.name }}",
        "body": "<p>Hello</p>",
        "message_data": {"name": "Ann"},
        **extra,
    }


@pytest.fixture
def py_api(api, server, monkeypatch):
    # requests prefers REQUESTS_CA_BUNDLE from the environment over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    client = APIClient(api.creds.app_api_key, url=server.url)
    yield client
    client.http.close()


def test_python_send_email_with_attachment_is_captured(py_api, api):
    request = SendEmailRequest(
        to="Ann <u1@example.com>",
        identifiers={"id": 7},
        _from="Shop <shop@example.net>",
        subject="Receipt",
        body="<p>Thanks {{ trigger.n }}</p>",
        message_data={"n": 3},
        headers={"X-Campaign": "spring"},
    )
    request.attach("hello.txt", "hi there")
    answer = py_api.send_email(request)
    assert set(answer) == {"delivery_id", "queued_at"}
    message = captured(api, answer["delivery_id"])
    assert message["channel"] == "email" and message["subject"] == "Receipt"
    mime = message["message"]["mime"]
    assert "X-Campaign: spring" in mime and 'filename="hello.txt"' in mime
    assert base64.b64encode(b"hi there").decode() in mime
    assert "Thanks 3" in message["message"]["html"]


def create_template(api, channel: str, trigger: str, fields: dict[str, str]) -> int:
    body = {"name": trigger, "channel": channel, "contents": {"": fields}}
    response = api.app("POST", "/v1/transactional", json=body)
    assert response.status_code == 200, response.text
    return response.json()["message"]["id"]


def test_python_send_push_with_a_custom_device(py_api, api):
    create_template(api, "push", "order-shipped", {"title": "Shipped {{ trigger.order }}"})
    request = SendPushRequest(
        transactional_message_id="Order-Shipped",
        identifiers={"id": "pusher"},
        message_data={"order": 12},
        device={"token": "tok-py", "platform": "ios"},
    )
    answer = py_api.send_push(request)
    message = captured(api, answer["delivery_id"])
    assert message["channel"] == "push" and message["recipient"] == "tok-py"
    assert message["message"]["title"] == "Shipped 12"
    devices = api.attributes("pusher").json()["customer"]["devices"]
    assert [d["id"] for d in devices] == ["tok-py"]


def test_python_send_sms_with_a_template_id(py_api, api):
    message_id = create_template(api, "sms", "code", {"body": "Your code: {{ trigger.code }}"})
    request = SendSMSRequest(
        transactional_message_id=message_id,
        identifiers={"id": "texter"},
        to="+15550001111",
        message_data={"code": "1234"},
    )
    answer = py_api.send_sms(request)
    message = captured(api, answer["delivery_id"])
    assert (message["channel"], message["recipient"]) == ("sms", "+15550001111")
    assert message["message"]["body"] == "Your code: 1234"


def test_python_client_errors_carry_the_message(py_api):
    with pytest.raises(CustomerIOException, match="to is required"):
        py_api.send_email(
            {"identifiers": {"id": "u1"}, "from": "a@b.c", "subject": "s", "body": "b"}
        )


def test_idempotency_key_replays_the_first_answer(api):
    headers = {"Idempotency-Key": "order-1"}
    first = api.app("POST", "/v1/send/email", json=inline(), headers=headers)
    again = api.app("POST", "/v1/send/email", json=inline(), headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.app("POST", "/v1/send/email", json=inline(subject="x"), headers=headers)
    assert other.status_code == 422
    assert other.json() == {"meta": {"error": "Idempotency-Key reused with a different request"}}
    captured(api, first.json()["delivery_id"])
    assert len(outbox(api, first.json()["delivery_id"])) == 1


def test_idempotency_keys_belong_to_one_workspace(api, other_api):
    headers = {"Idempotency-Key": "shared-key"}
    mine = api.app("POST", "/v1/send/email", json=inline(), headers=headers).json()
    theirs = other_api.app("POST", "/v1/send/email", json=inline(), headers=headers).json()
    assert mine["delivery_id"] != theirs["delivery_id"]
    assert outbox(other_api, mine["delivery_id"]) == []


def test_a_refused_send_is_not_remembered_under_its_key(api):
    headers = {"Idempotency-Key": "fix-and-retry"}
    bad = api.app("POST", "/v1/send/email", json=inline(to=""), headers=headers)
    assert bad.status_code == 400
    good = api.app("POST", "/v1/send/email", json=inline(), headers=headers)
    assert good.status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"to": "a@b.c"}, "identifiers is required"),
        (inline(identifiers={"id": "1", "email": "a@b.c"}), "exactly one of id, email or cio_id"),
        (inline(headers={"From": "x@y.z"}), "cannot be set"),
        (inline(headers='[{"name": "X-A", "value": "a\\r\\nBcc: x@y.z"}]'), "line break"),
        (inline(attachments={"a.bin": "!!"}), "not valid base64"),
        (
            inline(attachments={"a.bin": base64.b64encode(b"x" * (2 * 1024 * 1024 + 1)).decode()}),
            "2 MB",
        ),
        (inline(send_at=4_000_000_000), "90 days"),
        (inline(queue_draft="yes"), "queue_draft must be a boolean"),
        (inline(transactional_message_id=True), "transactional_message_id"),
    ],
)
def test_invalid_sends_are_400s_in_customerios_body(api, body, error):
    response = api.app("POST", "/v1/send/email", json=body)
    assert response.status_code == 400, response.text
    assert error in response.json()["meta"]["error"]


def test_other_channels_need_a_template(api):
    for route in ("push", "sms", "whatsapp", "inbox_message", "in_app"):
        response = api.app("POST", f"/v1/send/{route}", json={"identifiers": {"id": "u1"}})
        assert response.status_code == 400
        assert response.json()["meta"]["error"] == "transactional_message_id is required"


def test_outbox_is_per_workspace_and_paged(api, other_api):
    ids = [api.app("POST", "/v1/send/email", json=inline()).json()["delivery_id"] for _ in range(3)]
    for delivery_id in ids:
        captured(api, delivery_id)
    first = api.app("GET", "/v1/outbox", params={"limit": 2}).json()
    rest = api.app("GET", "/v1/outbox", params={"limit": 2, "start": first["next"]}).json()
    shown = first["messages"] + rest["messages"]
    assert rest["next"] == "" and len(first["messages"]) == 2
    assert {m["delivery_id"] for m in shown} == set(ids)  # sent concurrently: any order
    assert [m["id"] for m in shown] == sorted((m["id"] for m in shown), reverse=True)
    assert other_api.app("GET", "/v1/outbox").json() == {"messages": [], "next": ""}


# --- customerio-node ---------------------------------------------------------------


NODE_SCRIPT = "send.mjs"  # the `node` fixture (tests/api/conftest.py) runs it


@requires("customerio-node")
def test_node_send_email_is_captured(node, api, server):
    call = {
        "appKey": api.creds.app_api_key,
        "url": server.url + "/v1",
        "kind": "email",
        "options": {
            "to": "node@example.com",
            "identifiers": {"email": "node@example.com"},
            "from": "shop@example.net",
            "subject": "From node",
            "body": "<b>hi</b>",
        },
        "attachments": {"note.txt": "node attachment"},
    }
    [outcome] = node.run([call])
    assert outcome["ok"], outcome
    message = captured(api, outcome["result"]["delivery_id"])
    assert message["recipient"] == "node@example.com" and message["subject"] == "From node"
    assert 'filename="note.txt"' in message["message"]["mime"]


@requires("customerio-node")
def test_node_send_push_and_sms_with_templates(node, api, server):
    create_template(api, "push", "node-push", {"title": "P {{ trigger.n }}"})
    create_template(api, "sms", "node-sms", {"body": "S {{ trigger.n }}"})
    base = {"appKey": api.creds.app_api_key, "url": server.url + "/v1"}
    common = {"identifiers": {"id": "n1"}, "message_data": {"n": 5}}
    calls = [
        {
            **base,
            "kind": "push",
            "options": {
                **common,
                "transactional_message_id": "node-push",
                "device": {"token": "tok-node", "platform": "android"},
            },
        },
        {
            **base,
            "kind": "sms",
            "options": {**common, "transactional_message_id": "node-sms", "to": "+15550002222"},
        },
    ]
    push, sms = node.run(calls)
    assert push["ok"] and sms["ok"], (push, sms)
    assert captured(api, push["result"]["delivery_id"])["message"]["title"] == "P 5"
    assert captured(api, sms["result"]["delivery_id"])["message"]["body"] == "S 5"


@requires("customerio-node")
def test_node_errors_carry_the_message(node, api, server):
    base = {"appKey": api.creds.app_api_key, "url": server.url + "/v1"}
    calls = [
        {
            **base,
            "kind": "push",
            "options": {"identifiers": {"id": "n1"}, "transactional_message_id": "nope"},
        },
        {
            **base,
            "kind": "sms",
            "options": {"identifiers": {"id": "n1"}, "transactional_message_id": 99},
        },
    ]
    for outcome in node.run(calls):
        assert not outcome["ok"] and outcome["error"]["statusCode"] == 400
        assert "no transactional message" in outcome["error"]["message"]


def test_concurrent_retries_with_one_key_make_one_delivery(api):
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Idempotency-Key": "burst"}

    def post(_: int) -> tuple[int, str]:
        response = api.app("POST", "/v1/send/email", json=inline(), headers=headers)
        return response.status_code, response.json()["delivery_id"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert {status for status, _ in answers} == {200}
    [delivery_id] = {d for _, d in answers}
    captured(api, delivery_id)
    assert len(outbox(api, delivery_id)) == 1
