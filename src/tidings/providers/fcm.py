"""Push through Firebase Cloud Messaging's HTTP v1 API, with a service account.

Config: the service account JSON as Firebase gives it (`project_id`,
`client_email`, `private_key`, optional `private_key_id` and `token_uri`,
default https://oauth2.googleapis.com/token; other keys of the file are
ignored), plus optional `base_url` (default https://fcm.googleapis.com),
`timeout` (seconds, default 30) and `verify` (true | false | CA file).

Access tokens come from the OAuth2 JWT-bearer grant: an RS256 assertion
signed with the private key, exchanged at `token_uri`. One token serves
every send until a minute before it expires; concurrent sends wait for the
same refresh. Classification of `POST /v1/projects/{project_id}/messages:send`:

- 200: `Sent(name)` ("projects/p/messages/0:...");
- FCM error code UNREGISTERED, INVALID_ARGUMENT or SENDER_ID_MISMATCH, and
  any other 4xx: `Permanent`;
- 429 (QUOTA_EXCEEDED), 5xx (UNAVAILABLE, INTERNAL), timeouts: `Transient`;
- 401/403 (our token or credentials, THIRD_PARTY_AUTH_ERROR): `Transient`;
  a 401 also drops the cached token. A token endpoint that refuses the
  assertion is `Transient` too: the message is fine, the configuration is not.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jwt
import msgspec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tidings.clock import Clock, SystemClock
from tidings.providers import http_client
from tidings.providers.base import Outbound, Outcome, Permanent, Push, Sent, Transient
from tidings.providers.options import parse

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_PERMANENT_CODES = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"})
_REFRESH_MARGIN = 60.0  # seconds before expiry when a token is replaced


class FcmConfig(msgspec.Struct):
    project_id: str
    client_email: str
    private_key: str
    private_key_id: str | None = None
    token_uri: str = "https://oauth2.googleapis.com/token"
    base_url: str = "https://fcm.googleapis.com"
    timeout: float = 30.0
    verify: bool | str = True


def from_config(config: dict[str, Any], *, clock: Clock | None = None) -> FcmAdapter:
    return FcmAdapter(check(config), clock or SystemClock())


def check(config: dict[str, Any]) -> FcmConfig:
    """The config's settings; ValueError naming what is wrong."""
    settings = parse("fcm", config, FcmConfig)
    if not settings.project_id or not settings.client_email:
        raise ValueError("fcm provider config: project_id and client_email must not be empty")
    try:
        load_pem_private_key(settings.private_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"fcm provider config: private_key is not a PEM key ({exc})") from None
    http_client.check_base_url("fcm", settings.token_uri)
    http_client.check_base_url("fcm", settings.base_url)
    return settings


class _TokenRefused(Exception):
    pass


class FcmAdapter:
    def __init__(self, settings: FcmConfig, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        base = http_client.check_base_url("fcm", settings.base_url)
        self.url = f"{base}/v1/projects/{settings.project_id}/messages:send"
        self._client = http_client.client(settings.timeout, settings.verify)
        self._token: tuple[str, float] | None = None  # (access token, refresh after)
        self._refreshing = asyncio.Lock()

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Push):
            return Permanent(f"the fcm provider sends push, not {type(message).__name__}")
        try:
            token = await self._access_token()
            headers = {"Authorization": f"Bearer {token}"}
            body = {"message": build_message(message)}
            response = await self._client.post(self.url, json=body, headers=headers)
        except _TokenRefused as exc:
            return Transient(str(exc))
        except httpx.HTTPError as exc:
            return http_client.unreachable("fcm", exc)
        if response.status_code == 401:
            self._token = None
        return classify(response)

    async def close(self) -> None:
        await self._client.aclose()

    async def _access_token(self) -> str:
        async with self._refreshing:
            if self._token is None or self.clock.now() >= self._token[1]:
                self._token = await self._fetch_token()
            return self._token[0]

    async def _fetch_token(self) -> tuple[str, float]:
        now = self.clock.now()
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        form = {"grant_type": grant, "assertion": self._assertion(now)}
        response = await self._client.post(self.settings.token_uri, data=form)
        body = http_client.json_object(response)
        token, expires_in = body.get("access_token"), body.get("expires_in", 3600)
        if not response.is_success or not isinstance(token, str):
            detail = body.get("error_description") or body.get("error") or response.text[:200]
            raise _TokenRefused(f"fcm token refused ({response.status_code}): {detail}")
        return token, now + float(expires_in) - _REFRESH_MARGIN

    def _assertion(self, now: float) -> str:
        s = self.settings
        claims = {
            "iss": s.client_email,
            "scope": SCOPE,
            "aud": s.token_uri,
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        headers = {"kid": s.private_key_id} if s.private_key_id else None
        return jwt.encode(claims, s.private_key, algorithm="RS256", headers=headers)


def build_message(push: Push) -> dict[str, Any]:
    """FCM's `message` for one device; `custom_payload` (or its `message`) overrides the rest."""
    message: dict[str, Any] = {"token": push.token}
    notification = {"title": push.title, "body": push.message, "image": push.image_url}
    if notification := {k: v for k, v in notification.items() if v is not None}:
        message["notification"] = notification
    data = dict(push.custom_data)
    if push.link:
        data.setdefault("link", push.link)
    if data:
        message["data"] = data
    if push.sound:
        message["android"] = {"notification": {"sound": push.sound}}
        message["apns"] = {"payload": {"aps": {"sound": push.sound}}}
    overlay = push.custom_payload or {}
    inner = overlay.get("message")
    merged = http_client.merge(message, inner if isinstance(inner, dict) else overlay)
    merged["token"] = push.token
    if isinstance(merged.get("data"), dict):
        merged["data"] = {k: _string(v) for k, v in merged["data"].items()}
    return merged


def _string(value: object) -> str:
    """FCM data values must be strings: others are sent as their JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def classify(response: httpx.Response) -> Outcome:
    body = http_client.json_object(response)
    if response.is_success:
        name = body.get("name")
        return Sent(name if isinstance(name, str) else None)
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = _fcm_error_code(error) or error.get("status") or ""
    reason = f"fcm {response.status_code} {code}: {error.get('message', '')}".rstrip(": ")
    if code in _PERMANENT_CODES:
        return Permanent(reason)
    status = response.status_code
    if status in (401, 403, 408, 429) or status >= 500:
        return Transient(reason)
    return Permanent(reason)


def _fcm_error_code(error: dict[str, Any]) -> str | None:
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("FcmError"):
            code = detail.get("errorCode")
            return code if isinstance(code, str) else None
    return None
