"""A fake APNs: HTTP/2 only, over TLS, with ES256 provider-token authentication.

    with FakeApns.running(ca) as apns:
        config = apns.config(ca)            # key_id, team_id, private_key, topic, base_url, verify
        apns.sent                           # (device token, headers, payload) accepted
        apns.unregister(token)              # that device now answers 410 Unregistered
        apns.fail_next(2, 503, "ServiceUnavailable")
        apns.expire_provider_tokens()       # tokens seen so far answer 403 ExpiredProviderToken

Requests over HTTP/1.1 are refused (505), as Apple does. The bearer token's
signature, `kid` and `iss` are checked against the key this fake generated.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.asgi import Reply, Request, serve
from tests.fakes.tls import TestCA

_DEVICE = re.compile(r"^[0-9a-fA-F]{64}$")


def _key() -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode(), key.public_key()


@dataclass(frozen=True)
class Notification:
    device: str
    headers: dict[str, str]
    payload: dict[str, Any]


@dataclass
class FakeApns:
    key_id: str = "KEY123"
    team_id: str = "TEAM456"
    topic: str = "com.example.app"
    base_url: str = ""
    sent: list[Notification] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    provider_tokens: list[str] = field(default_factory=list)  # distinct, in order of first use
    _key: tuple[str, Any] = field(default_factory=_key)
    _expired: set[str] = field(default_factory=set)
    _unregistered: set[str] = field(default_factory=set)
    _failures: list[Reply] = field(default_factory=list)

    @classmethod
    @contextmanager
    def running(cls, ca: TestCA, **options: Any) -> Iterator[FakeApns]:
        fake = cls(**options)
        with serve(fake.handle, ca=ca) as url:
            fake.base_url = url
            yield fake

    def config(self, ca: TestCA) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "team_id": self.team_id,
            "private_key": self._key[0],
            "topic": self.topic,
            "base_url": self.base_url,
            "verify": ca.ca_file,
        }

    def unregister(self, device: str) -> None:
        self._unregistered.add(device)

    def fail_next(self, count: int, status: int, reason: str) -> None:
        self._failures.extend(Reply(status, {"reason": reason}) for _ in range(count))

    def expire_provider_tokens(self) -> None:
        self._expired.update(self.provider_tokens)

    @property
    def connections(self) -> int:
        return len({r.client for r in self.requests})

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.http_version != "2":
            return Reply(505, {"reason": "HTTP/2 required"})
        if request.method != "POST" or not request.path.startswith("/3/device/"):
            return Reply(404, {"reason": "BadPath"})
        refusal = self._authenticate(request.headers.get("authorization", ""))
        if refusal is None and self._failures:
            refusal = self._failures.pop(0)
        return refusal or self._deliver(request, request.path.removeprefix("/3/device/"))

    def _authenticate(self, header: str) -> Reply | None:
        token = header.removeprefix("bearer ")
        if not header.startswith("bearer "):
            return Reply(403, {"reason": "MissingProviderToken"})
        try:
            if jwt.get_unverified_header(token).get("kid") != self.key_id:
                return Reply(403, {"reason": "InvalidProviderToken"})
            # iat is the adapter's clock (tests move it): only its type is checked.
            options = {"verify_iat": False}
            claims = jwt.decode(token, self._key[1], algorithms=["ES256"], options=options)
        except jwt.InvalidTokenError:
            return Reply(403, {"reason": "InvalidProviderToken"})
        if claims.get("iss") != self.team_id or not isinstance(claims.get("iat"), int):
            return Reply(403, {"reason": "InvalidProviderToken"})
        if token in self._expired:
            return Reply(403, {"reason": "ExpiredProviderToken"})
        if token not in self.provider_tokens:
            self.provider_tokens.append(token)
        return None

    def _deliver(self, request: Request, device: str) -> Reply:
        if request.headers.get("apns-topic") != self.topic:
            return Reply(400, {"reason": "DeviceTokenNotForTopic"})
        if not _DEVICE.match(device):
            return Reply(400, {"reason": "BadDeviceToken"})
        if device in self._unregistered:
            return Reply(410, {"reason": "Unregistered", "timestamp": 1700000000000})
        apns_id = request.headers.get("apns-id") or str(uuid.uuid4())
        self.sent.append(Notification(device, dict(request.headers), request.json()))
        return Reply(200, headers={"apns-id": apns_id})
