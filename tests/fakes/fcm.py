"""A fake FCM: Google's OAuth2 token endpoint and the HTTP v1 send endpoint, on one server.

    with FakeFcm.running() as fcm:
        config = fcm.service_account()      # a real RSA key; token_uri points here
        fcm.sent                            # accepted `message` objects
        fcm.token_requests                  # decoded JWT assertions, in order
        fcm.unregister("tok")               # that device token now answers UNREGISTERED
        fcm.fail_next(2, 503, "UNAVAILABLE")
        fcm.revoke_access_tokens()          # issued tokens now answer 401

The token endpoint checks the assertion's RS256 signature with the service
account's public key, its audience (this token_uri), issuer and scope.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.asgi import Reply, Request, serve

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
CLIENT_EMAIL = "tidings@fake-project.iam.gserviceaccount.com"


def _key_pem() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode(), key.public_key()


@dataclass
class FakeFcm:
    project_id: str = "fake-project"
    expires_in: int = 3600
    base_url: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _key: tuple[str, Any] = field(default_factory=_key_pem)
    _issued: set[str] = field(default_factory=set)
    _unregistered: set[str] = field(default_factory=set)
    _failures: list[Reply] = field(default_factory=list)
    _token_failures: list[Reply] = field(default_factory=list)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    @contextmanager
    def running(cls, **options: Any) -> Iterator[FakeFcm]:
        fake = cls(**options)
        with serve(fake.handle) as url:
            fake.base_url = url
            yield fake

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def service_account(self) -> dict[str, Any]:
        """A provider config: the service account JSON and base_url, both pointing here."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "key-1",
            "private_key": self._key[0],
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
            "base_url": self.base_url,
        }

    def unregister(self, device_token: str) -> None:
        self._unregistered.add(device_token)

    def fail_next(self, count: int, status: int, code: str) -> None:
        self._failures.extend(_error(status, code) for _ in range(count))

    def fail_token_requests(self, count: int, status: int = 400) -> None:
        body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        self._token_failures.extend(Reply(status, body) for _ in range(count))

    def revoke_access_tokens(self) -> None:
        self._issued.clear()

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.method == "POST" and request.path == "/token":
            return self._token(dict(parse_qsl(request.body.decode())))
        if (
            request.method == "POST"
            and request.path == f"/v1/projects/{self.project_id}/messages:send"
        ):
            return self._send(request)
        return Reply(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})

    def _token(self, form: dict[str, str]) -> Reply:
        if self._token_failures:
            return self._token_failures.pop(0)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply(400, {"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self._key[1],
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=CLIENT_EMAIL,
                # Times are the adapter's (tests move its clock): only their span is checked.
                options={"require": ["iat", "exp"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError as exc:
            return Reply(400, {"error": "invalid_grant", "error_description": str(exc)})
        if not 0 < claims["exp"] - claims["iat"] <= 3600:
            return Reply(400, {"error": "invalid_grant", "error_description": "bad lifetime"})
        if claims.get("scope") != SCOPE:
            return Reply(400, {"error": "invalid_scope"})
        self.token_requests.append(claims)
        token = f"ya29.fake-{next(self._counter)}"
        self._issued.add(token)
        return Reply(
            200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def _send(self, request: Request) -> Reply:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self._issued:
            return _error(401, "UNAUTHENTICATED", fcm_code=False)
        if self._failures:
            return self._failures.pop(0)
        message = request.json().get("message") or {}
        problem = _invalid(message)
        if problem:
            return _error(400, "INVALID_ARGUMENT", message=problem)
        if message["token"] in self._unregistered:
            return _error(404, "UNREGISTERED", message="Requested entity was not found.")
        self.sent.append(message)
        return Reply(200, {"name": f"projects/{self.project_id}/messages/0:{next(self._counter)}"})


def _invalid(message: dict[str, Any]) -> str | None:
    if not message.get("token"):
        return "message.token is required"
    data = message.get("data", {})
    if not all(isinstance(v, str) for v in data.values()):
        return "Invalid value at 'message.data': values must be strings"
    return None


_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
_STATUS |= {404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def _error(status: int, code: str, *, message: str = "scripted", fcm_code: bool = True) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS[status]}
    if fcm_code:
        fcm_type = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
        error["details"] = [{"@type": fcm_type, "errorCode": code}]
    return Reply(status, {"error": error})
