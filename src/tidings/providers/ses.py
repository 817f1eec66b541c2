"""Email through Amazon SES (API v2 `SendEmail`, raw MIME content), signed with SigV4.

Config keys: `region`, `access_key_id` and `secret_access_key` (required),
`session_token` (temporary credentials), `base_url` (default
`https://email.{region}.amazonaws.com`), `configuration_set`, `timeout`
(seconds, default 30), `verify` (true | false | path of a CA file); for the
SNS notifications of bounces and complaints (`reporting/email_webhooks.py`):
`sns_cert_hosts` (host patterns the signing certificate may be fetched from,
default `*.amazonaws.com`, https only), `sns_certificate` (a PEM used instead
of fetching), `sns_topic_arns` (accept only these topics; default any).

`POST {base_url}/v2/email/outbound-emails` with JSON `Content.Raw.Data` (the
message `mime.build` makes, as SMTP would send it, with an
`X-Tidings-Delivery-Id` header), `Destination` (to, cc and bcc, so Bcc is
never a header), `FromEmailAddress`, `EmailTags` naming the delivery
(`tidings_delivery_id`) and `ConfigurationSetName`. Classification as
`email_api.classify`, plus: a 400 whose error type says the account is
throttled or paused (`TRANSIENT_TYPES`) is `Transient`.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import msgspec

from tidings.providers import email_api, http_client, mime
from tidings.providers.base import Email, Outbound, Outcome, Permanent
from tidings.providers.email_api import DELIVERY_HEADER, DELIVERY_KEY, Event
from tidings.providers.options import parse

if TYPE_CHECKING:  # httpx is imported with the first adapter made (`http_client.client`)
    import httpx

TRANSIENT_TYPES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "SendingPausedException",
        "AccountSuspendedException",
        "ThrottlingException",
    }
)


class SesConfig(msgspec.Struct, forbid_unknown_fields=True):
    region: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    base_url: str | None = None
    configuration_set: str | None = None
    timeout: float = 30.0
    verify: bool | str = True
    sns_cert_hosts: list[str] = msgspec.field(default_factory=lambda: ["*.amazonaws.com"])
    sns_certificate: str | None = None
    sns_topic_arns: list[str] = []


def check(config: dict[str, Any]) -> SesConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("ses", config, SesConfig)
    if not (settings.region and settings.access_key_id and settings.secret_access_key):
        raise ValueError(
            "ses provider config: region, access_key_id and secret_access_key must not be empty"
        )
    if settings.timeout <= 0:
        raise ValueError("ses provider config: timeout must be positive")
    http_client.check_base_url("ses", base_url(settings))
    if settings.sns_certificate is not None and "BEGIN CERTIFICATE" not in settings.sns_certificate:
        raise ValueError("ses provider config: sns_certificate must be a PEM certificate")
    return settings


def base_url(settings: SesConfig) -> str:
    return settings.base_url or f"https://email.{settings.region}.amazonaws.com"


def from_config(config: dict[str, Any]) -> SesAdapter:
    return SesAdapter(check(config))


class SesAdapter:
    def __init__(self, settings: SesConfig) -> None:
        self.settings = settings
        self.url = (
            http_client.check_base_url("ses", base_url(settings)) + "/v2/email/outbound-emails"
        )
        from tidings.aws_sigv4 import Credentials, Scope, SigV4Auth  # an httpx.Auth

        credentials = Credentials(
            settings.access_key_id, settings.secret_access_key, settings.session_token
        )
        self._auth = SigV4Auth(Scope(credentials, settings.region, "ses"))
        self._client = http_client.client(settings.timeout, settings.verify)

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Email):
            return Permanent(f"the ses provider sends email, not {type(message).__name__}")
        try:
            body = self.request(delivery_id, message)
        except ValueError as exc:
            return Permanent(f"message cannot be built: {exc}")
        if not body["Destination"]["ToAddresses"] + body["Destination"]["BccAddresses"]:
            return Permanent("no recipients")
        import httpx

        try:
            response = await self._client.post(self.url, json=body, auth=self._auth)
        except httpx.HTTPError as exc:
            return http_client.unreachable("ses", exc)
        return classify(response)

    def request(self, delivery_id: str, email: Email) -> dict[str, Any]:
        tagged = msgspec.structs.replace(
            email, headers={**email.headers, DELIVERY_HEADER: delivery_id}
        )
        raw = mime.build(delivery_id, tagged)
        body: dict[str, Any] = {
            "FromEmailAddress": mime.envelope_sender(email),
            "Destination": {
                "ToAddresses": [a for _, a in email_api.recipients(email.to)],
                "CcAddresses": [a for _, a in email_api.recipients(email.cc)],
                "BccAddresses": [a for _, a in email_api.recipients(email.bcc)],
            },
            "Content": {"Raw": {"Data": base64.b64encode(raw).decode()}},
            "EmailTags": [{"Name": DELIVERY_KEY, "Value": delivery_id}],
        }
        if self.settings.configuration_set:
            body["ConfigurationSetName"] = self.settings.configuration_set
        return body

    async def close(self) -> None:
        await self._client.aclose()


def classify(response: httpx.Response) -> Outcome:
    body = http_client.json_object(response)
    error_type = response.headers.get("x-amzn-errortype", "").split(":")[0]
    error_type = error_type or str(body.get("__type", "")).rpartition("#")[2]
    detail = f"{error_type} {body.get('message') or body.get('Message') or ''}".strip()
    message_id = body.get("MessageId")
    return email_api.classify(
        "ses",
        response,
        detail,
        message_id if isinstance(message_id, str) else None,
        transient=error_type in TRANSIENT_TYPES,
    )


def events(notification: dict[str, Any]) -> list[Event]:
    """The events of an SES notification (the `Message` of an SNS notification, from
    identity notifications or a configuration set's event destination): a permanent
    bounce is `bounced` for each bounced recipient, a complaint `spammed`, a delivery
    `delivered`; transient bounces and other types are none."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = notification.get("mail")
    if not isinstance(mail, dict) or (delivery_id := _delivery_id(mail)) is None:
        return []
    message_id = mail.get("messageId")
    provider_id = message_id if isinstance(message_id, str) else None
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        reason = f"ses bounce: {bounce.get('bounceType')} {bounce.get('bounceSubType', '')}".strip()
        people = bounce.get("bouncedRecipients") or []
        return [
            Event(delivery_id, "bounced", _address(r), reason, provider_id) for r in people
        ] or [Event(delivery_id, "bounced", None, reason, provider_id)]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        people = complaint.get("complainedRecipients") or [{}]
        return [Event(delivery_id, "spammed", _address(r), None, provider_id) for r in people]
    if kind == "Delivery":
        return [Event(delivery_id, "delivered", None, None, provider_id)]
    return []


def _delivery_id(mail: dict[str, Any]) -> str | None:
    """From the delivery's tag, else from its header (identity notifications with the
    original headers included)."""
    tags = mail.get("tags")
    if isinstance(tags, dict):
        values = tags.get(DELIVERY_KEY)
        if isinstance(values, list) and values and isinstance(values[0], str):
            return values[0]
    for header in mail.get("headers") or []:
        if (
            isinstance(header, dict)
            and str(header.get("name", "")).lower() == DELIVERY_HEADER.lower()
        ):
            value = header.get("value")
            return value if isinstance(value, str) and value else None
    return None


def _address(recipient: Any) -> str | None:
    address = recipient.get("emailAddress") if isinstance(recipient, dict) else None
    return address if isinstance(address, str) and address else None
