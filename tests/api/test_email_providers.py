"""End to end, against the running server: email sent through each HTTP provider's fake
(tests/fakes/esp.py) carries its delivery id; the provider's signed bounce post to
`/webhooks/{kind}/{workspace_id}` is recorded once and suppresses the address, so the
next send to it is skipped; a post that does not authenticate is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_esp_suppression import outcome
from tests.fakes.esp import (
    FakeMailgun,
    FakePostmark,
    FakeSendgrid,
    FakeSes,
    SnsSigner,
    postmark_event,
    ses_event,
)
from tidings.workspaces import channel_providers

SNS = SnsSigner()


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(params=["ses", "sendgrid", "postmark", "mailgun"])
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(kind, running fake, provider config with the webhook's secret)."""
    kind = request.param
    if kind == "ses":
        with FakeSes.running() as fake:
            keys = {"region": fake.region, "access_key_id": fake.access_key_id}
            keys |= {"secret_access_key": fake.secret_access_key, "base_url": fake.base_url}
            yield kind, fake, {**keys, "sns_certificate": SNS.certificate_pem}
    elif kind == "sendgrid":
        with FakeSendgrid.running() as fake:
            config = {"api_key": fake.api_key, "base_url": fake.base_url}
            yield kind, fake, {**config, "webhook_public_key": fake.public_key}
    elif kind == "postmark":
        with FakePostmark.running() as fake:
            config = {"server_token": fake.server_token, "base_url": fake.base_url}
            yield kind, fake, {**config, "webhook_username": "hook", "webhook_password": "pw"}
    else:
        with FakeMailgun.running() as fake:
            config = {"api_key": fake.api_key, "domain": fake.domain, "base_url": fake.base_url}
            yield kind, fake, {**config, "webhook_signing_key": fake.signing_key}


def send(api: Any, address: str) -> str:
    body = {
        "to": f"Ann <{address}>",
        "identifiers": {"id": address},
        "from": "shop@example.com",
        "subject": "Hi",
        "body": "<p>Hi</p>",
    }
    return str(ok(api.app("POST", "/v1/send/email", json=body))["delivery_id"])


def bounce(kind: str, fake: Any, delivery_id: str, address: str) -> tuple[bytes, dict[str, str]]:
    """The provider's signed post reporting a hard bounce."""
    if kind == "ses":
        url = "https://sns.eu-west-1.amazonaws.com/cert.pem"
        return json.dumps(
            SNS.notification(ses_event("Bounce", delivery_id, address), url)
        ).encode(), {}
    if kind == "sendgrid":
        return fake.webhook(
            [{"event": "bounce", "email": address, "tidings_delivery_id": delivery_id}]
        )
    if kind == "postmark":
        body = json.dumps(postmark_event("Bounce", delivery_id, address)).encode()
        return body, {"Authorization": "Basic aG9vazpwdw=="}  # hook:pw
    return json.dumps(fake.webhook("failed", delivery_id, address)).encode(), {}


def forged(kind: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    if kind == "postmark":
        return body, {"Authorization": "Basic aG9vazpub3Bl"}  # hook:nope
    if kind == "mailgun":
        post = json.loads(body)
        post["signature"]["signature"] = "0" * 64
        return json.dumps(post).encode(), headers
    return body.replace(b"ann-", b"bob-"), headers  # signed as it was, edited since


def test_a_bounce_reported_by_the_provider_suppresses_the_next_send(api, db, provider) -> None:
    kind, fake, config = provider
    workspace_id = api.creds.workspace_id
    with db.writer.begin() as conn:
        channel_providers.put(conn, workspace_id, "email", kind, config, 0)
    address = f"ann-{kind}@example.org"
    delivery_id = send(api, address)
    assert "sent" in outcome(api, delivery_id)["metrics"]
    assert len(fake.messages) == 1
    url = f"/webhooks/{kind}/{workspace_id}"
    body, headers = bounce(kind, fake, delivery_id, address)
    bad_body, bad_headers = forged(kind, body, headers)
    assert api.http.post(url, content=bad_body, headers=bad_headers).status_code in (401, 403)
    for _ in range(2):  # the provider retries: recorded once
        assert api.http.post(url, content=body, headers=headers).status_code == 204
    message = ok(api.app("GET", f"/v1/messages/{delivery_id}"))["message"]
    assert "bounced" in message["metrics"]
    found = ok(api.app("GET", f"/v1/esp/search_suppression/{address}"))
    assert found["category"] == "bounces"
    again = outcome(api, send(api, address))
    assert "sent" not in again["metrics"]
    assert again["failure_message"] == f"the address {address} is blocked (bounced)"
    assert len(fake.messages) == 1


def test_a_webhook_of_another_provider_kind_is_refused(api, db) -> None:
    with db.writer.begin() as conn:
        channel_providers.put(
            conn, api.creds.workspace_id, "email", "postmark", {"server_token": "t"}, 0
        )
    url = f"/webhooks/sendgrid/{api.creds.workspace_id}"
    assert api.http.post(url, content=b"[]").status_code == 403
    assert (
        api.http.post(f"/webhooks/postmark/{api.creds.workspace_id}", content=b"{}").status_code
        == 401
    )
