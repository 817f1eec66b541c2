"""Email through Mailgun's `/v3/{domain}/messages`, and its signed event webhooks.

Config keys: `api_key` and `domain` (required), `base_url` (default
https://api.mailgun.net; https://api.eu.mailgun.net for the EU region),
`timeout` (seconds, default 30), `verify` (true | false | path of a CA file);
for the webhooks: `webhook_signing_key` (Mailgun's HTTP webhook signing key)
and `webhook_max_age` (seconds a signature's timestamp may be from now,
default 900).

`POST {base_url}/v3/{domain}/messages`, multipart form with Basic auth
(`api` and the key): from, to, cc, bcc, subject, text, html, amp-html,
`h:` headers, attachments, and `v:tidings_delivery_id`, which Mailgun
returns in every event's `user-variables`. Mailgun answers 200 with the
message's `id`. Classification as `email_api.classify`.

Webhook posts carry `signature.timestamp`, `.token` and `.signature`: the
hex HMAC-SHA256, keyed with the signing key, of timestamp followed by token
(`signed_by`); a timestamp further than `webhook_max_age` from now is
refused as a possible replay. The signature does not cover the body, so a
token is remembered with the body it came with (`Tokens`, per process, for
`webhook_max_age`): the same token with another body is a forgery.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import TYPE_CHECKING, Any

import msgspec

from tidings.providers import email_api, http_client, mime
from tidings.providers.base import Email, Outbound, Outcome, Permanent
from tidings.providers.email_api import DELIVERY_KEY, Event
from tidings.providers.options import parse

if TYPE_CHECKING:  # httpx is imported with the first adapter made (`http_client.client`)
    import httpx


class MailgunConfig(msgspec.Struct, forbid_unknown_fields=True):
    api_key: str
    domain: str
    base_url: str = "https://api.mailgun.net"
    timeout: float = 30.0
    verify: bool | str = True
    webhook_signing_key: str | None = None
    webhook_max_age: int = 900


def check(config: dict[str, Any]) -> MailgunConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("mailgun", config, MailgunConfig)
    if not settings.api_key or not settings.domain:
        raise ValueError("mailgun provider config: api_key and domain must not be empty")
    if "/" in settings.domain or any(c.isspace() for c in settings.domain):
        raise ValueError("mailgun provider config: domain must be a domain name")
    if settings.timeout <= 0:
        raise ValueError("mailgun provider config: timeout must be positive")
    if settings.webhook_max_age <= 0:
        raise ValueError("mailgun provider config: webhook_max_age must be positive")
    http_client.check_base_url("mailgun", settings.base_url)
    return settings


def from_config(config: dict[str, Any]) -> MailgunAdapter:
    return MailgunAdapter(check(config))


class MailgunAdapter:
    def __init__(self, settings: MailgunConfig) -> None:
        self.settings = settings
        base = http_client.check_base_url("mailgun", settings.base_url)
        self.url = f"{base}/v3/{settings.domain}/messages"
        self._client = http_client.client(settings.timeout, settings.verify)

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Email):
            return Permanent(f"the mailgun provider sends email, not {type(message).__name__}")
        try:
            form, files = request(delivery_id, message)
        except ValueError as exc:
            return Permanent(f"message cannot be built: {exc}")
        if not form.get("to"):
            return Permanent("no recipients")
        auth = ("api", self.settings.api_key)
        import httpx

        try:
            response = await self._client.post(self.url, data=form, files=files or None, auth=auth)
        except httpx.HTTPError as exc:
            return http_client.unreachable("mailgun", exc)
        return classify(response)

    async def close(self) -> None:
        await self._client.aclose()


def request(
    delivery_id: str, email: Email
) -> tuple[dict[str, list[str]], list[tuple[str, tuple[str, bytes, str]]]]:
    """The form fields (each name with its values: a recipient field repeats) and the
    attachment files of one message."""
    text, html = mime.bodies(email)
    form = {"from": [email.from_], "subject": [email.subject], "text": [text]}
    for field, values in (("to", email.to), ("cc", email.cc), ("bcc", email.bcc)):
        kept = [value for value in values if email_api.recipients([value])]
        if kept:
            form[field] = kept
    if html is not None:
        form["html"] = [html]
    if email.amp is not None:
        form["amp-html"] = [email.amp]
    headers = email_api.headers(email)
    if email.reply_to:
        headers = {"Reply-To": email.reply_to, **headers}
    form |= {f"h:{name}": [value] for name, value in headers.items()}
    form[f"v:{DELIVERY_KEY}"] = [delivery_id]
    files = [
        ("attachment", (a.filename, email_api.attachment_bytes(a), mime.content_type_of(a)))
        for a in email.attachments
    ]
    return form, files


def classify(response: httpx.Response) -> Outcome:
    body = http_client.json_object(response)
    detail = str(body.get("message", "")) if not response.is_success else ""
    message_id = body.get("id")
    return email_api.classify(
        "mailgun", response, detail, message_id if isinstance(message_id, str) else None
    )


def signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def signed_by(signing_key: str, signed: Any, now: int, max_age: int) -> bool:
    """Whether a post's `signature` object is Mailgun's, made within `max_age` of now."""
    if not isinstance(signed, dict):
        return False
    timestamp, token, given = (str(signed.get(k, "")) for k in ("timestamp", "token", "signature"))
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > max_age:
        return False
    return hmac.compare_digest(signature(signing_key, timestamp, token).encode(), given.encode())


class Tokens:
    """The signature tokens seen lately, each with the digest of the body it came with."""

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: dict[str, tuple[int, bytes]] = {}  # token -> (expires at, body digest)
        self._limit = limit
        self._lock = threading.Lock()

    def same_body(self, token: str, body: bytes, now: int, max_age: int) -> bool:
        """Whether `token` is new, or came before with this very body (a retry)."""
        digest = hashlib.sha256(body).digest()
        with self._lock:
            if len(self._seen) >= self._limit:
                self._seen = {t: v for t, v in self._seen.items() if v[0] > now}
            if len(self._seen) >= self._limit:
                self._seen.pop(next(iter(self._seen)))
            known = self._seen.setdefault(token, (now + 2 * max_age, digest))
        return hmac.compare_digest(known[1], digest)


def events(payload: Any) -> list[Event]:
    """A webhook post's event, if it names a delivery: `failed` with severity `permanent`
    is `bounced`, `complained` `spammed`, `delivered` `delivered`."""
    data = payload.get("event-data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return []
    variables = data.get("user-variables")
    delivery_id = variables.get(DELIVERY_KEY) if isinstance(variables, dict) else None
    if not isinstance(delivery_id, str) or not delivery_id:
        return []
    event = data.get("event")
    metric = {"complained": "spammed", "delivered": "delivered"}.get(str(event))
    if event == "failed" and data.get("severity") == "permanent":
        metric = "bounced"
    if metric is None:
        return []
    status = data.get("delivery-status")
    detail = status.get("description") or status.get("message") if isinstance(status, dict) else ""
    reason = (
        f"mailgun {event}: {data.get('reason', '')} {detail or ''}".strip()
        if metric == "bounced"
        else None
    )
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = headers.get("message-id") if isinstance(headers, dict) else None
    recipient = data.get("recipient")
    return [
        Event(
            delivery_id,
            metric,
            recipient if isinstance(recipient, str) else None,
            reason,
            message_id if isinstance(message_id, str) else None,
        )
    ]
