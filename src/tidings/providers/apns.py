"""Push to Apple devices through APNs (HTTP/2, token-based authentication).

Config keys: `key_id`, `team_id`, `private_key` (the .p8 PEM), `topic` (the
app's bundle id) (all required), `environment` (`production` (default) |
`sandbox`) or `base_url`, `timeout` (seconds, default 30), `verify`
(true | false | path of a CA file).

The provider token is an ES256 JWT (kid = key_id, iss = team_id) reused for
50 minutes: Apple refuses tokens older than an hour and throttles refreshes
more frequent than every 20 minutes. One HTTP/2 connection carries every
send. Each request's `apns-id` is a UUID derived from the delivery id, so a
re-send of the same delivery is recognisable. Classification:

- 200: `Sent(apns-id)`;
- 410 Unregistered, 400 (BadDeviceToken, DeviceTokenNotForTopic, malformed
  payloads...), 413, other 4xx: `Permanent`;
- 429, 5xx, timeouts: `Transient`;
- 403 (our provider token: expired, invalid, or a key Apple does not
  accept): `Transient`, and the token is replaced before the next send.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import httpx
import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tidings.clock import Clock, SystemClock
from tidings.providers import http_client
from tidings.providers.base import Outbound, Outcome, Permanent, Push, Sent, Transient
from tidings.providers.options import parse

HOSTS = {
    "production": "https://api.push.apple.com",
    "sandbox": "https://api.sandbox.push.apple.com",
}
TOKEN_LIFETIME = 50 * 60.0
_IDS = uuid.UUID("6f1c4a52-2a43-4b8e-9d3c-7c1f0b7b5a10")  # namespace of apns-ids


class ApnsConfig(msgspec.Struct, forbid_unknown_fields=True):
    key_id: str
    team_id: str
    private_key: str
    topic: str
    environment: Literal["production", "sandbox"] = "production"
    base_url: str | None = None
    timeout: float = 30.0
    verify: bool | str = True


def from_config(config: dict[str, Any], *, clock: Clock | None = None) -> ApnsAdapter:
    return ApnsAdapter(check(config), clock or SystemClock())


def check(config: dict[str, Any]) -> ApnsConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("apns", config, ApnsConfig)
    if not (settings.key_id and settings.team_id and settings.topic):
        raise ValueError("apns provider config: key_id, team_id and topic must not be empty")
    try:
        key = load_pem_private_key(settings.private_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"apns provider config: private_key is not a PEM key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("apns provider config: private_key must be an EC (P-256) key")
    return settings


def apns_id(delivery_id: str) -> str:
    """The same UUID for every send of one delivery."""
    return str(uuid.uuid5(_IDS, delivery_id))


class ApnsAdapter:
    def __init__(self, settings: ApnsConfig, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        base = settings.base_url or HOSTS[settings.environment]
        self.base = http_client.check_base_url("apns", base)
        self._client = http_client.client(settings.timeout, settings.verify, http2=True)
        self._token: tuple[str, float] | None = None  # (jwt, issued at)

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Push):
            return Permanent(f"the apns provider sends push, not {type(message).__name__}")
        token = self._provider_token()
        headers = self._headers(delivery_id, message, token)
        url = f"{self.base}/3/device/{message.token}"
        try:
            response = await self._client.post(url, json=build_payload(message), headers=headers)
        except httpx.HTTPError as exc:
            return http_client.unreachable("apns", exc)
        if response.status_code == 403:
            self._drop(token)
        return classify(response)

    async def close(self) -> None:
        await self._client.aclose()

    def _headers(self, delivery_id: str, message: Push, token: str) -> dict[str, str]:
        background = message.title is None and message.message is None
        return {
            "authorization": f"bearer {token}",
            "apns-topic": self.settings.topic,
            "apns-push-type": "background" if background else "alert",
            "apns-priority": "5" if background else "10",
            "apns-id": apns_id(delivery_id),
        }

    def _provider_token(self) -> str:
        now = self.clock.now()
        if self._token is None or now - self._token[1] >= TOKEN_LIFETIME:
            claims = {"iss": self.settings.team_id, "iat": int(now)}
            headers = {"kid": self.settings.key_id}
            encoded = jwt.encode(claims, self.settings.private_key, "ES256", headers=headers)
            self._token = (encoded, now)
        return self._token[0]

    def _drop(self, token: str) -> None:
        if self._token is not None and self._token[0] == token:
            self._token = None


def build_payload(push: Push) -> dict[str, Any]:
    """The APNs JSON: `aps` with the alert and sound, Customer.io's `CIO.push` link and image,
    custom data at the top level; `custom_payload` overrides the rest."""
    aps: dict[str, Any] = {}
    alert = {"title": push.title, "body": push.message}
    if alert := {k: v for k, v in alert.items() if v is not None}:
        aps["alert"] = alert
    else:
        aps["content-available"] = 1
    if push.sound:
        aps["sound"] = push.sound
    if push.image_url:
        aps["mutable-content"] = 1
    payload: dict[str, Any] = {**push.custom_data, "aps": aps}
    cio = {"link": push.link, "image": push.image_url}
    if cio := {k: v for k, v in cio.items() if v is not None}:
        payload["CIO"] = {"push": cio}
    return http_client.merge(payload, push.custom_payload or {})


def classify(response: httpx.Response) -> Outcome:
    if response.status_code == 200:
        return Sent(response.headers.get("apns-id"))
    reason_code = http_client.json_object(response).get("reason") or ""
    reason = f"apns {response.status_code} {reason_code}".rstrip()
    status = response.status_code
    if status in (403, 408, 429) or status >= 500:
        return Transient(reason)
    return Permanent(reason)
