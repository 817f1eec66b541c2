"""SMS and WhatsApp through Twilio's Messages API (or any server that speaks it).

Config keys: `account_sid` and `auth_token` (required), `from` (a number or
sender id) or `messaging_service_sid` (one of them, unless every message
names its sender), `base_url` (default https://api.twilio.com), `timeout`
(seconds, default 30), `status_callback` (a URL Twilio posts status changes
to), `verify` (true | false | path of a CA file).

`POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, form
encoded `To`, `From` or `MessagingServiceSid`, `Body`, `StatusCallback`, with
Basic auth. `StatusCallback` is the config's `status_callback` when set (the
operator's own receiver), else the message's `status_url`: this server's
`/webhooks/twilio/{delivery_id}`, where Twilio's status posts, signed with
the auth token (`signature`), become the delivery's metrics
(`reporting/sms_status.py`).
WhatsApp messages get the `whatsapp:` prefix on To and From. Classification:

- 2xx: `Sent(sid)` (`Permanent` if the answer already says failed);
- 429, 5xx, timeouts, connection failures, 401 (our credentials): `Transient`;
- any other 4xx (21211 invalid To, 21610 unsubscribed recipient,
  21408 region not enabled...): `Permanent`, with Twilio's code and message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from tidings.providers import http_client
from tidings.providers.base import Outbound, Outcome, Permanent, Sent, Sms, Transient
from tidings.providers.options import parse

if TYPE_CHECKING:  # httpx is imported with the first adapter made (`http_client.client`)
    import httpx


class TwilioConfig(msgspec.Struct, forbid_unknown_fields=True):
    account_sid: str
    auth_token: str
    from_: str | None = msgspec.field(default=None, name="from")
    messaging_service_sid: str | None = None
    base_url: str = "https://api.twilio.com"
    timeout: float = 30.0
    status_callback: str | None = None
    verify: bool | str = True


def check(config: dict[str, Any]) -> TwilioConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("twilio", config, TwilioConfig)
    if not settings.account_sid or not settings.auth_token:
        raise ValueError("twilio provider config: account_sid and auth_token must not be empty")
    if settings.timeout <= 0:
        raise ValueError("twilio provider config: timeout must be positive")
    http_client.check_base_url("twilio", settings.base_url)
    return settings


def from_config(config: dict[str, Any]) -> TwilioAdapter:
    return TwilioAdapter(check(config))


class TwilioAdapter:
    def __init__(self, settings: TwilioConfig) -> None:
        self.settings = settings
        base = http_client.check_base_url("twilio", settings.base_url)
        self.url = f"{base}/2010-04-01/Accounts/{settings.account_sid}/Messages.json"
        self._client = http_client.client(settings.timeout, settings.verify)

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Sms):
            return Permanent(f"the twilio provider sends sms, not {type(message).__name__}")
        form = self._form(message)
        if isinstance(form, Permanent):
            return form
        auth = (self.settings.account_sid, self.settings.auth_token)
        import httpx

        try:
            response = await self._client.post(self.url, data=form, auth=auth)
        except httpx.HTTPError as exc:
            return http_client.unreachable("twilio", exc)
        return classify(response)

    async def close(self) -> None:
        await self._client.aclose()

    def _form(self, message: Sms) -> dict[str, str] | Permanent:
        form = {"To": _channel(message.to, message.whatsapp), "Body": message.body}
        sender = message.from_ or self.settings.from_
        if sender:
            form["From"] = _channel(sender, message.whatsapp)
        elif self.settings.messaging_service_sid:
            form["MessagingServiceSid"] = self.settings.messaging_service_sid
        else:
            return Permanent("no sender: the message and the provider config name none")
        callback = self.settings.status_callback or message.status_url
        if callback:
            form["StatusCallback"] = callback
        return form


def _channel(address: str, whatsapp: bool) -> str:
    if whatsapp and not address.startswith("whatsapp:"):
        return f"whatsapp:{address}"
    return address


def classify(response: httpx.Response) -> Outcome:
    body = http_client.json_object(response)
    if response.is_success:
        if body.get("status") in ("failed", "undelivered"):
            return Permanent(f"twilio: {body.get('error_code')} {body.get('error_message')}")
        sid = body.get("sid")
        return Sent(sid if isinstance(sid, str) else None)
    reason = f"twilio {response.status_code}: {body.get('code')} {body.get('message')}"
    if response.status_code in (401, 429) or response.status_code >= 500:
        return Transient(reason)
    return Permanent(reason)


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's `X-Twilio-Signature` of a POST to `url`: base64 of the HMAC-SHA1, keyed
    with the auth token, of the full URL followed by every form parameter's name and
    value, sorted by name (then value)."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_by(auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str) -> bool:
    """Whether `given` is the signature of this POST (compared in constant time)."""
    return hmac.compare_digest(signature(auth_token, url, params).encode(), given.encode())
