"""Bounce, complaint and delivery reports from the HTTP email providers, as metrics.

    POST /webhooks/{kind}/{workspace_id}    kind: ses | sendgrid | postmark | mailgun

Each workspace points its provider's webhook at its own URL; the workspace's
email provider must be of that kind, and its config holds what authenticates
the post (a 403 otherwise, and for a workspace that does not exist):

- `ses`: Amazon SNS messages (`providers.sns`), signed with the certificate
  at `SigningCertURL`, fetched (and kept) only from an https host matching
  `sns_cert_hosts`, or the configured `sns_certificate`; a topic outside
  `sns_topic_arns` (when set) is refused. A `SubscriptionConfirmation` is
  confirmed by fetching its `SubscribeURL`, under the same host rule.
  A certificate or confirmation that cannot be fetched is a 502, so SNS
  retries.
- `sendgrid`: the signed Event Webhook, checked with `webhook_public_key`.
- `postmark`: HTTP basic auth with `webhook_username`/`webhook_password`
  (401 with a challenge when missing or wrong).
- `mailgun`: the HMAC signature with `webhook_signing_key`, its timestamp
  within `webhook_max_age` of now; as the signature does not cover the body,
  a token seen before with another body is refused (`mailgun.Tokens`).

Each provider module reads the post into `Event`s, found by the delivery id
its adapter put in the message's metadata. An event for a delivery this
workspace did not send as email is ignored (the provider would only retry a
refusal), as are event types without a metric. The first report of a metric
for a delivery is recorded through `metrics.record_metrics`, so `bounced` and
`spammed` put the recipient in `blocked_addresses` (the ESP suppression list,
checked before every send) and the reporting webhooks hear of it; a report
already recorded (a provider's retry, a replayed post) adds nothing. A
bounce or complaint naming a copy's address (cc, bcc), not the delivery's
recipient, blocks that address and records no metric for the delivery.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Connection, select

from tidings import fetch
from tidings.db.schema import deliveries, providers
from tidings.errors import ApiError, bad_request
from tidings.providers import addresses, mailgun, postmark, sendgrid, ses, sns
from tidings.providers.email_api import Event
from tidings.providers.options import tls_context
from tidings.reporting import fanout, metrics

KINDS = ("ses", "sendgrid", "postmark", "mailgun")
MAX_CERTIFICATE_BYTES = 64 * 1024
FETCH_TIMEOUT = 10.0
_MAILGUN_TOKENS = mailgun.Tokens()
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


class Post(NamedTuple):
    """A webhook post as received."""

    body: bytes
    headers: dict[str, str]  # lower-cased names
    basic_auth: tuple[str, str] | None  # (username, password) of an Authorization: Basic


class Services(NamedTuple):
    read: Callable[..., Awaitable[Any]]  # fn(conn, *args) in a read transaction
    write: Callable[..., Awaitable[Any]]  # fn(conn, *args) in a write transaction
    allow: fetch.Allowlist  # private addresses fetches may reach
    now: Callable[[], int]


def url_path(kind: str, workspace_id: int) -> str:
    return f"/webhooks/{kind}/{workspace_id}"


async def receive(services: Services, kind: str, workspace: str, post: Post) -> list[str]:
    """Authenticate a post, then record what it reports; the metrics recorded."""
    if kind not in KINDS:
        raise ApiError(404, f"no webhook for {kind!r}", code="not_found")
    workspace_id = int(workspace) if workspace.isascii() and workspace.isdigit() else 0
    config = await services.read(provider_config, workspace_id, kind)
    if config is None:
        raise _forbidden(f"this workspace does not send email through {kind}")
    events = await _authenticated_events(services, kind, config, post)
    if not events:
        return []
    recorded: list[str] = await services.write(record_events, workspace_id, events, services.now())
    return recorded


def provider_config(conn: Connection, workspace_id: int, kind: str) -> dict[str, Any] | None:
    """The workspace's email provider config, if that provider is of `kind`."""
    found = conn.execute(
        select(providers.c.kind, providers.c.config).where(
            providers.c.workspace_id == workspace_id, providers.c.channel == "email"
        )
    ).first()
    if found is None or found.kind != kind:
        return None
    config: dict[str, Any] = msgspec.json.decode(found.config)
    return config


async def _authenticated_events(
    services: Services, kind: str, config: dict[str, Any], post: Post
) -> list[Event]:
    if kind == "ses":
        return await _ses(services, ses.check(config), post)
    if kind == "sendgrid":
        return _sendgrid(sendgrid.check(config), post)
    if kind == "postmark":
        return _postmark(postmark.check(config), post)
    return _mailgun(mailgun.check(config), post, services.now())


def _sendgrid(settings: sendgrid.SendgridConfig, post: Post) -> list[Event]:
    key = settings.webhook_public_key
    signature = post.headers.get(SIGNATURE_HEADER, "")
    timestamp = post.headers.get(TIMESTAMP_HEADER, "")
    if key is None or not sendgrid.signed_by(key, timestamp, post.body, signature):
        raise _forbidden("the event webhook signature does not verify")
    return sendgrid.events(_json(post.body))


def _postmark(settings: postmark.PostmarkConfig, post: Post) -> list[Event]:
    username, password = settings.webhook_username, settings.webhook_password
    if not (username and password and postmark.authorized(username, password, post.basic_auth)):
        raise ApiError(
            401,
            "the webhook's basic auth credentials are missing or wrong",
            code="unauthorized",
            headers={"WWW-Authenticate": 'Basic realm="tidings"'},
        )
    return postmark.events(_json(post.body))


def _mailgun(settings: mailgun.MailgunConfig, post: Post, now: int) -> list[Event]:
    payload = _json(post.body)
    signed = payload.get("signature") if isinstance(payload, dict) else None
    key = settings.webhook_signing_key
    if key is None or not mailgun.signed_by(key, signed, now, settings.webhook_max_age):
        raise _forbidden("the webhook signature does not verify, or its timestamp is stale")
    token = str(signed.get("token", "")) if isinstance(signed, dict) else ""
    if not _MAILGUN_TOKENS.same_body(token, post.body, now, settings.webhook_max_age):
        raise _forbidden("the webhook signature's token came before with another body")
    return mailgun.events(payload)


async def _ses(services: Services, settings: ses.SesConfig, post: Post) -> list[Event]:
    message = _json(post.body)
    if not isinstance(message, dict):
        raise bad_request("the body must be an SNS message")
    certificate = await _certificate(services, settings, str(message.get("SigningCertURL", "")))
    if not sns.verify(message, certificate):
        raise _forbidden("the SNS message signature does not verify")
    if settings.sns_topic_arns and message.get("TopicArn") not in settings.sns_topic_arns:
        raise _forbidden("the SNS topic is not one this workspace accepts")
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        await _confirm(services, settings, str(message.get("SubscribeURL", "")))
        return []
    if kind != "Notification":
        return []
    try:
        notification = msgspec.json.decode(str(message.get("Message", "")))
    except msgspec.DecodeError:
        return []
    return ses.events(notification) if isinstance(notification, dict) else []


async def _certificate(services: Services, settings: ses.SesConfig, url: str) -> bytes:
    if settings.sns_certificate is not None:
        return settings.sns_certificate.encode()
    if not sns.allowed(url, settings.sns_cert_hosts):
        raise _forbidden("the SNS signing certificate URL is not on an allowed host")
    try:
        return await asyncio.to_thread(_fetch_certificate, url, services.allow, settings.verify)
    except (fetch.FetchFailed, fetch.FetchRefused, ValueError) as exc:
        raise ApiError(
            502, f"cannot fetch the SNS signing certificate: {exc}", code="bad_gateway"
        ) from exc


@functools.lru_cache(maxsize=32)
def _fetch_certificate(url: str, allow: fetch.Allowlist, verify: bool | str) -> bytes:
    """The certificate at `url`, kept: SNS signs with few, long-lived certificates."""
    fetched = fetch.fetch(
        url,
        allow=allow,
        max_bytes=MAX_CERTIFICATE_BYTES,
        timeout=FETCH_TIMEOUT,
        verify=tls_context(verify),
    )
    return fetched.body


async def _confirm(services: Services, settings: ses.SesConfig, url: str) -> None:
    """Confirm a subscription by fetching its SubscribeURL (an allowed host only)."""
    if not sns.allowed(url, settings.sns_cert_hosts):
        raise _forbidden("the SNS SubscribeURL is not on an allowed host")
    try:
        status = await asyncio.to_thread(
            fetch.request,
            "GET",
            url,
            None,
            {},
            allow=services.allow,
            timeout=FETCH_TIMEOUT,
            verify=tls_context(settings.verify),
        )
    except (fetch.FetchFailed, fetch.FetchRefused, ValueError) as exc:
        raise ApiError(
            502, f"cannot confirm the SNS subscription: {exc}", code="bad_gateway"
        ) from exc
    if not 200 <= status < 300:
        raise ApiError(
            502, f"confirming the SNS subscription answered {status}", code="bad_gateway"
        )


def record_events(conn: Connection, workspace_id: int, events: list[Event], now: int) -> list[str]:
    """Record each event's metric once per delivery (see the module's docstring).

    A post may report many deliveries (SendGrid batches its events): their recipients,
    and which metrics they already reached, are each read at once, and the metrics are
    recorded together (`metrics.record_metrics`), those before a copy's block first, so
    everything happens in the events' order."""
    recipients = _recipients(conn, workspace_id, sorted({e.delivery_id for e in events}))
    events = [e for e in events if e.delivery_id in recipients]
    reached = metrics.reached_many(conn, [_recorded(workspace_id, e, now) for e in events])
    batch: list[metrics.Recorded] = []
    recorded: list[str] = []
    for event in events:
        if _a_copy(event, recipients[event.delivery_id]):
            metrics.record_metrics(conn, batch, now)
            batch = []
            address = event.recipient or ""
            fanout.block(conn, workspace_id, address, event.metric, event.delivery_id, now)
            continue
        if (event.delivery_id, event.metric) in reached:
            continue
        reached.add((event.delivery_id, event.metric))
        batch.append(_recorded(workspace_id, event, now))
        recorded.append(event.metric)
    metrics.record_metrics(conn, batch, now)
    return recorded


def _recorded(workspace_id: int, event: Event, now: int) -> metrics.Recorded:
    extra = {"reason": event.reason, "provider_message_id": event.provider_message_id}
    extra = {k: v for k, v in extra.items() if v}
    return metrics.Recorded(workspace_id, event.delivery_id, event.metric, now, extra)


def _recipients(conn: Connection, workspace_id: int, delivery_ids: list[str]) -> dict[str, str]:
    """The recipient of each of the workspace's email deliveries among `delivery_ids`."""
    found: dict[str, str] = {}
    for start in range(0, len(delivery_ids), metrics.METRICS_PER_INSERT):
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.recipient).where(
                deliveries.c.workspace_id == workspace_id,
                deliveries.c.id.in_(delivery_ids[start : start + metrics.METRICS_PER_INSERT]),
                deliveries.c.channel == "email",
            )
        )
        found.update((row.id, str(row.recipient or "")) for row in rows)
    return found


def _a_copy(event: Event, recipient: str | None) -> bool:
    """A bounce or complaint of an address other than the delivery's recipient."""
    if event.metric not in fanout.BLOCKING or not event.recipient or not recipient:
        return False
    ours = (addresses.parse(recipient)[1] or recipient).strip().lower()
    return event.recipient.strip().lower() != ours


def _json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise bad_request("the body must be JSON") from None


def _forbidden(message: str) -> ApiError:
    return ApiError(403, message, code="forbidden")
