"""The HTTP email providers' webhooks (`reporting.email_webhooks`), on both stores: a post
that authenticates records its metric once and blocks the address (so a later send is
skipped); one that does not is refused and records nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import insert, select

from tests.factories import add_delivery, recorded_metrics
from tests.fakes.esp import FakeMailgun, FakeSendgrid, SnsSigner, postmark_event, ses_event
from tests.fakes.tls import TestCA
from tests.httpserver import Reply, serve
from tidings.db.schema import people, providers
from tidings.errors import ApiError
from tidings.fetch import Allowlist
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.reporting import email_webhooks
from tidings.reporting.email_webhooks import Post, Services
from tidings.sending import suppression

pytestmark = pytest.mark.anyio
NOW = int(time.time())
ADDRESS = "ann@example.org"
SENDGRID = FakeSendgrid()
MAILGUN = FakeMailgun()
SNS = SnsSigner()
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem"
SES_KEYS = {"region": "eu-west-1", "access_key_id": "AKID", "secret_access_key": "s"}
CONFIGS: dict[str, dict[str, Any]] = {
    "ses": {**SES_KEYS, "sns_certificate": SNS.certificate_pem},
    "sendgrid": {"api_key": "SG.k", "webhook_public_key": SENDGRID.public_key},
    "postmark": {"server_token": "t", "webhook_username": "hook", "webhook_password": "pw"},
    "mailgun": {"api_key": "k", "domain": "mg.example.com", "webhook_signing_key": "mg-key"},
}
WITHOUT_SECRETS: dict[str, dict[str, Any]] = {
    "ses": {**SES_KEYS, "sns_cert_hosts": ["sns.example.invalid"]},  # not the message's host
    "sendgrid": {"api_key": "SG.k"},
    "postmark": {"server_token": "t"},
    "mailgun": {"api_key": "k", "domain": "mg.example.com"},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def services(tx: Any, query: Any) -> Services:
    async def read(fn: Any, *args: Any) -> Any:
        return query(fn, *args)

    async def write(fn: Any, *args: Any) -> Any:
        return tx(fn, *args)

    return Services(read, write, Allowlist.parse("127.0.0.1/32"), lambda: NOW)


def email_delivery(tx: Any, ws: int, kind: str, config: dict[str, Any] | None = None) -> str:
    """A sent email to ADDRESS, in a workspace whose email goes through `kind`."""
    delivery_id = f"w{ws}-d1"
    person = tx(service.identify, ws, classify("p1"), service.parse_identify({}, NOW), NOW)
    row = {
        "workspace_id": ws,
        "channel": "email",
        "kind": kind,
        "config": msgspec.json.encode(config or CONFIGS[kind]).decode(),
        "updated_at": 0,
    }
    tx(lambda conn: conn.execute(insert(providers).values(row)))
    tx(lambda conn: add_delivery(conn, ws, delivery_id, person.pk, recipient=f"Ann <{ADDRESS}>"))
    return delivery_id


def signed(kind: str, metric: str, delivery_id: str, *, address: str = ADDRESS) -> Post:
    """A post each provider would make reporting `metric`, authenticated as it does."""
    if kind == "ses":
        event_type = {"bounced": "Bounce", "spammed": "Complaint", "delivered": "Delivery"}[metric]
        message = SNS.notification(ses_event(event_type, delivery_id, address), CERT_URL)
        return Post(json.dumps(message).encode(), {}, None)
    if kind == "sendgrid":
        event = {"bounced": "bounce", "spammed": "spamreport", "delivered": "delivered"}[metric]
        item = {"email": address, "event": event, "tidings_delivery_id": delivery_id}
        body, headers = SENDGRID.webhook([item, {"event": "open", "email": address}])
        return Post(body, {k.lower(): v for k, v in headers.items()}, None)
    if kind == "postmark":
        record = {"bounced": "Bounce", "spammed": "SpamComplaint", "delivered": "Delivery"}[metric]
        body = json.dumps(postmark_event(record, delivery_id, address)).encode()
        return Post(body, {}, ("hook", "pw"))
    event = {"bounced": "failed", "spammed": "complained", "delivered": "delivered"}[metric]
    post = MAILGUN.webhook(event, delivery_id, address, timestamp=NOW, key="mg-key")
    return Post(json.dumps(post).encode(), {}, None)


def tampered(kind: str, post: Post) -> Post:
    if kind == "postmark":
        return post._replace(basic_auth=("hook", "wrong"))
    if kind == "mailgun":  # the signature covers the timestamp and token only
        body = json.loads(post.body)
        body["signature"]["signature"] = "0" * 64
        return post._replace(body=json.dumps(body).encode())
    return post._replace(body=post.body.replace(b"ann@", b"bob@"))


def metrics_of(query: Any, ws: int) -> list[tuple[str, str]]:
    return [(d, m) for d, m, _, _ in query(recorded_metrics, ws)]


@pytest.mark.parametrize("kind", email_webhooks.KINDS)
@pytest.mark.parametrize("metric", ["bounced", "spammed"])
async def test_a_bounce_or_complaint_is_recorded_once_and_blocks_the_address(
    tx: Any, query: Any, workspace: Any, services: Services, kind: str, metric: str
) -> None:
    ws = workspace.workspace_id
    delivery_id = email_delivery(tx, ws, kind)
    post = signed(kind, metric, delivery_id)
    assert await email_webhooks.receive(services, kind, str(ws), post) == [metric]
    assert await email_webhooks.receive(services, kind, str(ws), post) == []  # replayed
    assert metrics_of(query, ws) == [(delivery_id, metric)]
    [(_, _, _, data)] = query(recorded_metrics, ws)
    assert data.get("reason", "") == "" or kind in data["reason"]
    assert query(suppression.blocked_reason, ws, ADDRESS) == metric
    person = query(
        lambda conn: conn.execute(select(people.c.id).where(people.c.workspace_id == ws)).scalar()
    )
    [skip] = query(suppression.reasons_to_skip, [(ws, person, f"Ann <{ADDRESS}>", False, None)])
    assert skip == f"the address {ADDRESS} is blocked ({metric})"


@pytest.mark.parametrize("kind", email_webhooks.KINDS)
async def test_a_delivery_is_recorded_without_blocking(
    tx: Any, query: Any, workspace: Any, services: Services, kind: str
) -> None:
    ws = workspace.workspace_id
    delivery_id = email_delivery(tx, ws, kind)
    assert await email_webhooks.receive(
        services, kind, str(ws), signed(kind, "delivered", delivery_id)
    ) == ["delivered"]
    assert metrics_of(query, ws) == [(delivery_id, "delivered")]
    assert query(suppression.blocked_reason, ws, ADDRESS) is None


@pytest.mark.parametrize("kind", email_webhooks.KINDS)
async def test_a_post_that_does_not_authenticate_is_refused(
    tx: Any, query: Any, workspace: Any, services: Services, kind: str
) -> None:
    ws = workspace.workspace_id
    delivery_id = email_delivery(tx, ws, kind)
    with pytest.raises(ApiError) as refused:
        await email_webhooks.receive(
            services, kind, str(ws), tampered(kind, signed(kind, "bounced", delivery_id))
        )
    assert refused.value.status == (401 if kind == "postmark" else 403)
    assert metrics_of(query, ws) == []
    assert query(suppression.blocked_reason, ws, ADDRESS) is None


@pytest.mark.parametrize("kind", email_webhooks.KINDS)
async def test_a_workspace_without_that_provider_or_its_webhook_secret_refuses(
    tx: Any, query: Any, workspace: Any, other_workspace: Any, services: Services, kind: str
) -> None:
    ws = workspace.workspace_id
    other = "sendgrid" if kind != "sendgrid" else "mailgun"
    delivery_id = email_delivery(tx, ws, other)
    for workspace_id in (str(ws), "999999", "not-a-number"):
        with pytest.raises(ApiError) as refused:
            await email_webhooks.receive(
                services, kind, workspace_id, signed(kind, "bounced", delivery_id)
            )
        assert refused.value.status == 403
    ws2 = other_workspace.workspace_id  # the provider, without what checks its webhook
    theirs = email_delivery(tx, ws2, kind, WITHOUT_SECRETS[kind])
    with pytest.raises(ApiError) as refused:
        await email_webhooks.receive(services, kind, str(ws2), signed(kind, "bounced", theirs))
    assert refused.value.status == (401 if kind == "postmark" else 403)
    assert metrics_of(query, ws) == []


async def test_unknown_deliveries_and_other_workspaces_deliveries_are_ignored(
    tx: Any, query: Any, workspace: Any, other_workspace: Any, services: Services
) -> None:
    ws, theirs = workspace.workspace_id, other_workspace.workspace_id
    email_delivery(tx, ws, "mailgun")
    their_delivery = email_delivery(tx, theirs, "mailgun")
    for delivery_id in ("no-such-delivery", their_delivery):
        assert (
            await email_webhooks.receive(
                services, "mailgun", str(ws), signed("mailgun", "bounced", delivery_id)
            )
            == []
        )
    assert metrics_of(query, ws) == [] and metrics_of(query, theirs) == []


async def test_a_stale_mailgun_signature_is_refused(
    tx: Any, workspace: Any, services: Services
) -> None:
    ws = workspace.workspace_id
    delivery_id = email_delivery(tx, ws, "mailgun")
    old = MAILGUN.webhook("failed", delivery_id, ADDRESS, timestamp=NOW - 3600, key="mg-key")
    with pytest.raises(ApiError) as refused:
        await email_webhooks.receive(
            services, "mailgun", str(ws), Post(json.dumps(old).encode(), {}, None)
        )
    assert refused.value.status == 403


async def test_soft_bounces_and_a_copys_bounce(
    tx: Any, query: Any, workspace: Any, services: Services
) -> None:
    ws = workspace.workspace_id
    delivery_id = email_delivery(tx, ws, "mailgun")
    soft = MAILGUN.webhook(
        "failed", delivery_id, ADDRESS, severity="temporary", timestamp=NOW, key="mg-key"
    )
    assert (
        await email_webhooks.receive(
            services, "mailgun", str(ws), Post(json.dumps(soft).encode(), {}, None)
        )
        == []
    )
    copy = signed("mailgun", "bounced", delivery_id, address="cc@example.org")
    assert await email_webhooks.receive(services, "mailgun", str(ws), copy) == []
    assert metrics_of(query, ws) == []
    assert query(suppression.blocked_reason, ws, "cc@example.org") == "bounced"
    assert query(suppression.blocked_reason, ws, ADDRESS) is None


async def test_sns_certificates_are_fetched_from_allowed_hosts_only_and_subscriptions_confirmed(
    tx: Any, query: Any, workspace: Any, services: Services, tmp_path: Path
) -> None:
    ca = TestCA(tmp_path)
    routes = {
        "/cert.pem": Reply(body=SNS.certificate_pem.encode(), content_type="text/plain"),
        "/confirm?Token=t1": Reply(body=b"<ConfirmSubscriptionResponse/>"),
    }
    with serve(routes, tls=ca.server_context()) as site:
        ws = workspace.workspace_id
        config = {**SES_KEYS, "sns_cert_hosts": ["127.0.0.1"], "verify": ca.ca_file}
        delivery_id = email_delivery(tx, ws, "ses", config)
        event = ses_event("Bounce", delivery_id, ADDRESS)
        post = Post(json.dumps(SNS.notification(event, site.url("/cert.pem"))).encode(), {}, None)
        assert await email_webhooks.receive(services, "ses", str(ws), post) == ["bounced"]
        elsewhere = SNS.notification(event, site.url("/cert.pem", host="localhost"))
        with pytest.raises(ApiError) as refused:
            await email_webhooks.receive(
                services, "ses", str(ws), Post(json.dumps(elsewhere).encode(), {}, None)
            )
        assert refused.value.status == 403
        fields = {
            "Message": "You have chosen to subscribe",
            "Token": "t1",
            "SubscribeURL": site.url("/confirm?Token=t1"),
        }
        confirm = SNS.message(
            "SubscriptionConfirmation", fields, site.url("/cert.pem"), version="1"
        )
        assert (
            await email_webhooks.receive(
                services, "ses", str(ws), Post(json.dumps(confirm).encode(), {}, None)
            )
            == []
        )
        assert [path for path, _ in site.requests].count("/confirm?Token=t1") == 1
        forged = {**fields, "SubscribeURL": "https://attacker.example/x"}
        with pytest.raises(ApiError) as refused:
            message = SNS.message("SubscriptionConfirmation", forged, site.url("/cert.pem"))
            await email_webhooks.receive(
                services, "ses", str(ws), Post(json.dumps(message).encode(), {}, None)
            )
        assert refused.value.status == 403
    assert metrics_of(query, ws) == [(delivery_id, "bounced")]


async def test_an_sns_topic_not_configured_is_refused(
    tx: Any, workspace: Any, services: Services
) -> None:
    ws = workspace.workspace_id
    config = {**CONFIGS["ses"], "sns_topic_arns": ["arn:aws:sns:eu-west-1:1:other"]}
    delivery_id = email_delivery(tx, ws, "ses", config)
    with pytest.raises(ApiError) as refused:
        await email_webhooks.receive(
            services, "ses", str(ws), signed("ses", "bounced", delivery_id)
        )
    assert refused.value.status == 403


async def test_a_mailgun_token_reused_with_another_body_is_refused(
    tx: Any, query: Any, workspace: Any, services: Services
) -> None:
    ws = workspace.workspace_id
    delivery_id = email_delivery(tx, ws, "mailgun")
    post = signed("mailgun", "delivered", delivery_id)
    assert await email_webhooks.receive(services, "mailgun", str(ws), post) == ["delivered"]
    assert await email_webhooks.receive(services, "mailgun", str(ws), post) == []  # a retry
    forged = json.loads(post.body)
    forged["event-data"].update(event="failed", severity="permanent")
    with pytest.raises(ApiError) as refused:
        await email_webhooks.receive(
            services, "mailgun", str(ws), Post(json.dumps(forged).encode(), {}, None)
        )
    assert refused.value.status == 403
    assert metrics_of(query, ws) == [(delivery_id, "delivered")]
    assert query(suppression.blocked_reason, ws, ADDRESS) is None


async def test_an_ses_bounce_of_the_recipient_and_a_copy(
    tx: Any, query: Any, workspace: Any, services: Services
) -> None:
    ws = workspace.workspace_id
    delivery_id = email_delivery(tx, ws, "ses")
    event = ses_event("Bounce", delivery_id, ADDRESS)
    event["bounce"]["bouncedRecipients"] += [
        {"emailAddress": "CC@example.org"},
        {"emailAddress": ADDRESS},
    ]
    post = Post(json.dumps(SNS.notification(event, CERT_URL)).encode(), {}, None)
    assert await email_webhooks.receive(services, "ses", str(ws), post) == ["bounced"]
    assert metrics_of(query, ws) == [(delivery_id, "bounced")]
    assert query(suppression.blocked_reason, ws, ADDRESS) == "bounced"
    assert query(suppression.blocked_reason, ws, "cc@example.org") == "bounced"
