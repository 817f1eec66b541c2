"""Email through SendGrid's v3 Mail Send API, and its signed Event Webhook.

Config keys: `api_key` (required), `base_url` (default
https://api.sendgrid.com), `timeout` (seconds, default 30), `verify` (true |
false | path of a CA file); for the Event Webhook: `webhook_public_key` (the
verification key SendGrid shows for signed events: base64 DER, or PEM).

`POST {base_url}/v3/mail/send` with Bearer auth and the JSON SendGrid
documents: one personalization (to, cc, bcc, and `custom_args` naming the
delivery, which SendGrid echoes in every event), from, reply_to, subject,
content (text/plain first, then AMP and HTML), attachments and headers.
SendGrid answers 202 with the message id in `X-Message-Id`. Classification as
`email_api.classify`, with SendGrid's `errors[].message` as the reason.

Signed events: `X-Twilio-Email-Event-Webhook-Signature` is the base64 DER
ECDSA (P-256, SHA-256) signature of `X-Twilio-Email-Event-Webhook-Timestamp`
followed by the raw body (`signed_by`).
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import TYPE_CHECKING, Any

import msgspec

from tidings.providers import email_api, http_client, mime
from tidings.providers.base import Email, Outbound, Outcome, Permanent
from tidings.providers.email_api import DELIVERY_KEY, Event
from tidings.providers.options import parse

if TYPE_CHECKING:  # httpx comes with the first adapter, cryptography with the first key
    import httpx
    from cryptography.hazmat.primitives.asymmetric import ec

SPAM_DROPS = ("spam reporting address",)
BOUNCE_DROPS = ("bounced address", "invalid")


class SendgridConfig(msgspec.Struct, forbid_unknown_fields=True):
    api_key: str
    base_url: str = "https://api.sendgrid.com"
    timeout: float = 30.0
    verify: bool | str = True
    webhook_public_key: str | None = None


def check(config: dict[str, Any]) -> SendgridConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("sendgrid", config, SendgridConfig)
    if not settings.api_key:
        raise ValueError("sendgrid provider config: api_key must not be empty")
    if settings.timeout <= 0:
        raise ValueError("sendgrid provider config: timeout must be positive")
    http_client.check_base_url("sendgrid", settings.base_url)
    if settings.webhook_public_key is not None:
        public_key(settings.webhook_public_key)
    return settings


@functools.lru_cache(maxsize=32)
def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The webhook verification key, from base64 DER or PEM; ValueError if it is not one.
    Kept: each webhook post checks the config and then verifies with its key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("sendgrid provider config: webhook_public_key is not an ECDSA public key")
    return key


def from_config(config: dict[str, Any]) -> SendgridAdapter:
    return SendgridAdapter(check(config))


class SendgridAdapter:
    def __init__(self, settings: SendgridConfig) -> None:
        self.settings = settings
        self.url = http_client.check_base_url("sendgrid", settings.base_url) + "/v3/mail/send"
        self._client = http_client.client(settings.timeout, settings.verify)

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Email):
            return Permanent(f"the sendgrid provider sends email, not {type(message).__name__}")
        try:
            body = request(delivery_id, message)
        except ValueError as exc:
            return Permanent(f"message cannot be built: {exc}")
        if not body["personalizations"][0].get("to"):
            return Permanent("no recipients")
        headers = {"Authorization": f"Bearer {self.settings.api_key}"}
        import httpx

        try:
            response = await self._client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return http_client.unreachable("sendgrid", exc)
        return classify(response)

    async def close(self) -> None:
        await self._client.aclose()


def request(delivery_id: str, email: Email) -> dict[str, Any]:
    """The Mail Send body for one delivery (ValueError for a header or attachment refused)."""
    personalization: dict[str, Any] = {"custom_args": {DELIVERY_KEY: delivery_id}}
    for field, values in (("to", email.to), ("cc", email.cc), ("bcc", email.bcc)):
        if values:
            personalization[field] = [_address(n, a) for n, a in email_api.recipients(values)]
    text, html = mime.bodies(email)
    content = [{"type": "text/plain", "value": text}]
    if email.amp is not None:
        content.append({"type": "text/x-amp-html", "value": email.amp})
    if html is not None:
        content.append({"type": "text/html", "value": html})
    body: dict[str, Any] = {
        "personalizations": [personalization],
        "from": _address(*_one(email.from_)),
        "subject": email.subject,
        "content": content,
    }
    if email.reply_to:
        body["reply_to"] = _address(*_one(email.reply_to))
    headers = email_api.headers(email)
    if headers:
        body["headers"] = headers
    if email.attachments:
        body["attachments"] = [_attachment(a) for a in email.attachments]
    return body


def _one(value: str) -> tuple[str, str]:
    found = email_api.recipients([value])
    if not found:
        raise ValueError(f"{value!r} is not an email address")
    return found[0]


def _address(name: str, address: str) -> dict[str, str]:
    return {"email": address, "name": name} if name else {"email": address}


def _attachment(attachment: Any) -> dict[str, str]:
    email_api.attachment_bytes(attachment)  # refuses bad base64 before SendGrid does
    return {
        "content": attachment.content_b64,
        "filename": attachment.filename,
        "type": mime.content_type_of(attachment),
        "disposition": "attachment",
    }


def classify(response: httpx.Response) -> Outcome:
    body = http_client.json_object(response)
    errors = body.get("errors")
    messages = (
        [e.get("message", "") for e in errors if isinstance(e, dict)]
        if isinstance(errors, list)
        else []
    )
    return email_api.classify(
        "sendgrid",
        response,
        "; ".join(str(m) for m in messages),
        response.headers.get("x-message-id"),
    )


def signed_by(key: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether `signature` (base64 DER ECDSA) signs the timestamp and body with `key`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        der = base64.b64decode(signature, validate=True)
        public_key(key).verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (ValueError, binascii.Error, InvalidSignature):
        return False
    return True


def events(payload: Any) -> list[Event]:
    """The events of a webhook post (a JSON array) that name a delivery: `bounce` (not a
    `blocked` one) is `bounced`, `spamreport` `spammed`, `delivered` `delivered`, and
    `dropped` is `bounced` or `spammed` when SendGrid dropped it for a bounced, invalid or
    complaining address, else `dropped`."""
    found = []
    for item in payload if isinstance(payload, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get(DELIVERY_KEY), str):
            continue
        metric = _metric(item)
        if metric is None:
            continue
        reason = item.get("reason") or item.get("response")
        message_id = item.get("sg_message_id")
        found.append(
            Event(
                item[DELIVERY_KEY],
                metric,
                item.get("email") if isinstance(item.get("email"), str) else None,
                f"sendgrid {item['event']}: {reason}" if reason else None,
                message_id if isinstance(message_id, str) else None,
            )
        )
    return found


def _metric(item: dict[str, Any]) -> str | None:
    event = item.get("event")
    if event == "bounce":
        return None if item.get("type") == "blocked" else "bounced"
    if event == "spamreport":
        return "spammed"
    if event == "delivered":
        return "delivered"
    if event == "dropped":
        reason = str(item.get("reason", "")).lower()
        if any(r in reason for r in SPAM_DROPS):
            return "spammed"
        if any(r in reason for r in BOUNCE_DROPS):
            return "bounced"
        return "dropped"
    return None
