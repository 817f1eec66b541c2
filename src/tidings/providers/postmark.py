"""Email through Postmark's `/email` API, and its bounce, spam-complaint and delivery webhooks.

Config keys: `server_token` (required), `message_stream` (default: the
server's default transactional stream), `base_url` (default
https://api.postmarkapp.com), `timeout` (seconds, default 30), `verify`
(true | false | path of a CA file); for the webhooks, which Postmark
authenticates with HTTP basic auth in the URL it posts to:
`webhook_username` and `webhook_password` (both, or no webhook).

`POST {base_url}/email` with `X-Postmark-Server-Token` and Postmark's JSON
(From, To, Cc, Bcc, ReplyTo, Subject, HtmlBody, TextBody, Headers,
Attachments, and `Metadata` naming the delivery, which Postmark echoes in
every webhook). Postmark answers 200 with `MessageID`. Classification as
`email_api.classify` (Postmark's `ErrorCode` and `Message` as the reason),
plus: 422 with ErrorCode 405 (the account may not send now) is `Transient`;
406 (an inactive, suppressed recipient) and the other 422s are `Permanent`.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import msgspec

from tidings.providers import email_api, http_client, mime
from tidings.providers.base import Email, Outbound, Outcome, Permanent
from tidings.providers.email_api import DELIVERY_KEY, Event
from tidings.providers.options import parse

if TYPE_CHECKING:  # httpx is imported with the first adapter made (`http_client.client`)
    import httpx

TRANSIENT_CODES = frozenset({405})


class PostmarkConfig(msgspec.Struct, forbid_unknown_fields=True):
    server_token: str
    message_stream: str | None = None
    base_url: str = "https://api.postmarkapp.com"
    timeout: float = 30.0
    verify: bool | str = True
    webhook_username: str | None = None
    webhook_password: str | None = None


def check(config: dict[str, Any]) -> PostmarkConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("postmark", config, PostmarkConfig)
    if not settings.server_token:
        raise ValueError("postmark provider config: server_token must not be empty")
    if settings.timeout <= 0:
        raise ValueError("postmark provider config: timeout must be positive")
    if bool(settings.webhook_username) != bool(settings.webhook_password):
        raise ValueError(
            "postmark provider config: give both webhook_username and webhook_password, or neither"
        )
    http_client.check_base_url("postmark", settings.base_url)
    return settings


def from_config(config: dict[str, Any]) -> PostmarkAdapter:
    return PostmarkAdapter(check(config))


class PostmarkAdapter:
    def __init__(self, settings: PostmarkConfig) -> None:
        self.settings = settings
        self.url = http_client.check_base_url("postmark", settings.base_url) + "/email"
        self._client = http_client.client(settings.timeout, settings.verify)

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Email):
            return Permanent(f"the postmark provider sends email, not {type(message).__name__}")
        try:
            body = request(delivery_id, message, self.settings.message_stream)
        except ValueError as exc:
            return Permanent(f"message cannot be built: {exc}")
        if not body.get("To"):
            return Permanent("no recipients")
        headers = {
            "X-Postmark-Server-Token": self.settings.server_token,
            "Accept": "application/json",
        }
        import httpx

        try:
            response = await self._client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return http_client.unreachable("postmark", exc)
        return classify(response)

    async def close(self) -> None:
        await self._client.aclose()


def request(delivery_id: str, email: Email, stream: str | None) -> dict[str, Any]:
    text, html = mime.bodies(email)
    body: dict[str, Any] = {"From": email.from_, "Subject": email.subject, "TextBody": text}
    for field, values in (("To", email.to), ("Cc", email.cc), ("Bcc", email.bcc)):
        if email_api.recipients(values):
            body[field] = ", ".join(values)
    if html is not None:
        body["HtmlBody"] = html
    if email.reply_to:
        body["ReplyTo"] = email.reply_to
    headers = email_api.headers(email)
    if headers:
        body["Headers"] = [{"Name": name, "Value": value} for name, value in headers.items()]
    if email.attachments:
        body["Attachments"] = [_attachment(a) for a in email.attachments]
    body["Metadata"] = {DELIVERY_KEY: delivery_id}
    if stream:
        body["MessageStream"] = stream
    return body


def _attachment(attachment: Any) -> dict[str, str]:
    email_api.attachment_bytes(attachment)
    return {
        "Name": attachment.filename,
        "Content": attachment.content_b64,
        "ContentType": mime.content_type_of(attachment),
    }


def classify(response: httpx.Response) -> Outcome:
    body = http_client.json_object(response)
    code = body.get("ErrorCode")
    detail = f"{code} {body.get('Message', '')}".strip() if code is not None else ""
    message_id = body.get("MessageID")
    return email_api.classify(
        "postmark",
        response,
        detail,
        message_id if isinstance(message_id, str) else None,
        transient=response.status_code == 422 and code in TRANSIENT_CODES,
    )


def authorized(username: str, password: str, given: tuple[str, str] | None) -> bool:
    """Whether the basic-auth credentials given are the configured ones (constant time)."""
    if given is None:
        return False
    same_user = hmac.compare_digest(username.encode(), given[0].encode())
    same_password = hmac.compare_digest(password.encode(), given[1].encode())
    return same_user and same_password


def events(payload: Any) -> list[Event]:
    """A webhook post's event, if it names a delivery: a `Bounce` of type `HardBounce` is
    `bounced`, a `SpamComplaint` `spammed`, a `Delivery` `delivered`."""
    if not isinstance(payload, dict):
        return []
    metadata = payload.get("Metadata")
    delivery_id = metadata.get(DELIVERY_KEY) if isinstance(metadata, dict) else None
    if not isinstance(delivery_id, str) or not delivery_id:
        return []
    record, kind = payload.get("RecordType"), payload.get("Type")
    metric = None
    if record == "Bounce" and kind == "HardBounce":
        metric = "bounced"
    elif record == "SpamComplaint":
        metric = "spammed"
    elif record == "Delivery":
        metric = "delivered"
    if metric is None:
        return []
    address = payload.get("Email") or payload.get("Recipient")
    reason = (
        f"postmark {kind}: {payload.get('Description', '')}".strip()
        if metric != "delivered"
        else None
    )
    message_id = payload.get("MessageID")
    return [
        Event(
            delivery_id,
            metric,
            address if isinstance(address, str) else None,
            reason,
            message_id if isinstance(message_id, str) else None,
        )
    ]
