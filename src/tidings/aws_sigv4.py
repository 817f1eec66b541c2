"""AWS Signature Version 4: signing HTTP requests with an access key (the Authorization header).

Used by the SES adapter and by S3-compatible storage (path-style URLs). `sign` is the pure
core (method, URL, headers, body and a time in; the headers to add out), checked against AWS's
published examples; `SigV4Auth` applies it to an httpx request just before it is sent, so the
signed headers are the ones on the wire.

Canonical form, per AWS's specification: the path is normalised (dot segments removed) and each
segment percent-encoded twice, except for S3, which encodes once and keeps the path as is; query
parameters are decoded, re-encoded and sorted; header values are trimmed with inner runs of spaces
collapsed; the payload is represented by its SHA-256 (S3 also receives it as
`x-amz-content-sha256`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

import httpx

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None  # temporary credentials (STS): sent as x-amz-security-token


@dataclass(frozen=True)
class Scope:
    """Who signs for what: the credentials, the region and the service (`ses`, `s3`)."""

    credentials: Credentials
    region: str
    service: str


def amz_date(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def signing_key(secret_access_key: str, day: str, region: str, service: str) -> bytes:
    """The key for one day, region and service, derived from the secret by a chain of HMACs."""
    key = ("AWS4" + secret_access_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def encode(text: str) -> str:
    """Percent-encode everything but AWS's unreserved characters (A-Z a-z 0-9 - _ . ~)."""
    return quote(text, safe="-_.~")


def canonical_path(raw_path: str, service: str) -> str:
    segments = [unquote(segment) for segment in (raw_path or "/").split("/")]
    once = "/".join(encode(segment) for segment in segments)
    if service == "s3":
        return once if once.startswith("/") else "/" + once
    return "/".join(encode(segment) for segment in _normalised(once).split("/"))


def _normalised(path: str) -> str:
    """The path without empty, `.` and `..` segments; a trailing slash is kept."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            kept = kept[:-1]
        elif segment not in ("", "."):
            kept.append(segment)
    trailing = "/" if kept and path.endswith("/") else ""
    return "/" + "/".join(kept) + trailing


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((encode(unquote(name)), encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The canonical header block and the signed-header list; repeated names join with commas."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.strip().lower(), []).append(" ".join(value.split()))
    names = sorted(merged)
    block = "".join(f"{name}:{','.join(merged[name])}\n" for name in names)
    return block, ";".join(names)


def canonical_request(
    method: str, url: str, headers: Iterable[tuple[str, str]], payload_hash: str, service: str
) -> tuple[str, str]:
    """The canonical request and its signed-header list."""
    parts = urlsplit(url)
    block, signed = canonical_headers(headers)
    lines = [
        method.upper(),
        canonical_path(parts.path, service),
        canonical_query(parts.query),
        block,
        signed,
        payload_hash,
    ]
    return "\n".join(lines), signed


def string_to_sign(request: str, stamp: str, scope: str) -> str:
    digest = hashlib.sha256(request.encode()).hexdigest()
    return "\n".join([ALGORITHM, stamp, scope, digest])


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    scope: Scope,
    at: datetime,
    *,
    unsigned_payload: bool = False,
) -> dict[str, str]:
    """The headers to add to the request: x-amz-date, Authorization and, as they apply,
    x-amz-security-token and x-amz-content-sha256 (always for S3).

    Every header in `headers` is signed, so pass only those sent unchanged (Host included);
    the added x-amz-* headers are signed as well.
    """
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    payload_hash = UNSIGNED_PAYLOAD if unsigned_payload else hashlib.sha256(body).hexdigest()
    stamp = amz_date(at)
    added = {"x-amz-date": stamp}
    if scope.credentials.session_token:
        added["x-amz-security-token"] = scope.credentials.session_token
    if scope.service == "s3" or unsigned_payload:
        added["x-amz-content-sha256"] = payload_hash
    names = {name.lower() for name, _ in pairs}
    pairs += [(name, value) for name, value in added.items() if name not in names]
    request, signed = canonical_request(method, url, pairs, payload_hash, scope.service)
    day = stamp[:8]
    credential_scope = f"{day}/{scope.region}/{scope.service}/aws4_request"
    key = signing_key(scope.credentials.secret_access_key, day, scope.region, scope.service)
    signature = hmac.new(
        key, string_to_sign(request, stamp, credential_scope).encode(), hashlib.sha256
    ).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={scope.credentials.access_key_id}/{credential_scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return added


class SigV4Auth(httpx.Auth):
    """Signs each httpx request as sent: Host, Content-Type and the x-amz-* headers are signed.

    `now` (seconds since the epoch) is taken per request, so a retried request is signed anew.
    """

    requires_request_body = True

    def __init__(self, scope: Scope, now: Callable[[], float] = time.time) -> None:
        self.scope = scope
        self.now = now

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        at = datetime.fromtimestamp(self.now(), UTC)
        signed = [(name, value) for name, value in request.headers.multi_items() if _signed(name)]
        url = str(request.url.copy_with(fragment=None))
        for name, value in sign(
            request.method, url, signed, request.content, self.scope, at
        ).items():
            request.headers[name] = value
        yield request


def _signed(name: str) -> bool:
    """Only headers sent as they are: not those an intermediary may add or rewrite
    (User-Agent, Accept-Encoding, Connection, Content-Length...), which would break the
    signature in transit."""
    lower = name.lower()
    return lower in ("host", "content-type", "content-md5", "range") or lower.startswith("x-amz-")
