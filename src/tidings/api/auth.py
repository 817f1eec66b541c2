"""Credentials per surface, with a short-lived cache of successful lookups.

The cache holds a successful lookup for `CACHE_SECONDS`. A rotation through the
web UI calls `forget` on this process's cache, so the old key is refused at
once; a rotation from elsewhere (`tidings workspace rotate-keys`, or another
process of `tidings serve --workers N`) reaches this process's cache only when
its entry expires, at most `CACHE_SECONDS` later.

Track: HTTP Basic `site_id:track_api_key` (Go encodes with the URL-safe base64
alphabet, so both alphabets are accepted). App: `Bearer <app key>`.
Pipelines: Basic `write_key:` or Bearer, or `writeKey` in the body.

Every 401 says which scheme and key its surface expects, and carries the
matching `WWW-Authenticate` challenge; the body keeps Customer.io's shape.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tidings.api.http import Request
from tidings.errors import ApiError, unauthorized
from tidings.workspaces import service as workspaces

CACHE_SECONDS = 10.0
CACHE_LIMIT = 10_000

Reader = Callable[..., Awaitable[Any]]

# What each surface expects: said in its 401s, with the challenge to answer them.
EXPECTED = {
    "track": (
        "the Track API expects HTTP Basic auth with site_id:track_api_key",
        'Basic realm="Track API"',
    ),
    "app": (
        "the App API expects the header Authorization: Bearer <App API key>",
        'Bearer realm="App API"',
    ),
    "cdp": (
        "the Pipelines API expects the workspace's write key as the HTTP Basic user"
        " (write_key:), as a Bearer token, or as writeKey in the JSON body",
        'Basic realm="Pipelines API"',
    ),
}


def refused(kind: str) -> ApiError:
    """The 401 of surface `kind` (track | app | cdp)."""
    return unauthorized(*EXPECTED[kind])


class Authenticator:
    def __init__(self, read: Reader) -> None:
        self._read = read
        self._cache: dict[tuple[str, str], tuple[float, workspaces.Workspace]] = {}

    async def track(self, request: Request) -> workspaces.Workspace:
        header = request.header("authorization") or ""
        hit = self._cached("track", header)
        if hit is not None:
            return hit
        pair = basic_credentials(header)
        if pair is None:
            raise refused("track")
        found = await self._read(workspaces.by_track_credentials, pair[0], pair[1])
        return self._remember("track", header, found)

    async def app(self, request: Request) -> workspaces.Workspace:
        header = request.header("authorization") or ""
        hit = self._cached("app", header)
        if hit is not None:
            return hit
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise refused("app")
        found = await self._read(workspaces.by_app_key, token.strip())
        return self._remember("app", header, found)

    async def cdp(self, request: Request, body_key: str | None = None) -> workspaces.Workspace:
        header = request.header("authorization") or ""
        key = body_key if not header else _cdp_key(header)
        if not key:
            raise refused("cdp")
        hit = self._cached("cdp", key)
        if hit is not None:
            return hit
        found = await self._read(workspaces.by_cdp_key, key)
        return self._remember("cdp", key, found)

    def forget(self, workspace_id: int) -> None:
        """Drop every remembered lookup of this workspace: called when its keys are
        rotated, so an old key is refused by this process at once."""
        stale = [key for key, (_, ws) in self._cache.items() if ws.id == workspace_id]
        for key in stale:
            self._cache.pop(key, None)

    def _cached(self, kind: str, credential: str) -> workspaces.Workspace | None:
        entry = self._cache.get((kind, credential))
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    def _remember(
        self, kind: str, credential: str, found: workspaces.Workspace | None
    ) -> workspaces.Workspace:
        if found is None:
            raise refused(kind)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[(kind, credential)] = (time.monotonic() + CACHE_SECONDS, found)
        return found


def basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    encoded = encoded.strip()
    padded = encoded + "=" * (-len(encoded) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            text = decode(padded.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        user, sep, password = text.partition(":")
        if sep:
            return user, password
    return None


def _cdp_key(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    pair = basic_credentials(header)
    return pair[0] if pair else None
