"""The web UI's requests and pages: forms, cookies, HTML answers and their headers.

Every page goes out with headers that keep it to itself: a Content-Security-
Policy allowing only this server's own scripts and styles (no inline script,
no eval, no framing, forms posting only here), `nosniff`, a same-origin
referrer, and `no-store`, since pages show people's data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from tidings import audit
from tidings.users.accounts import Grant
from tidings.users.sessions import Session

MAX_FORM = 64 * 1024

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class UiRequest:
    """One request to the UI: what the handlers read, and the session it carries."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: str = scope.get("query_string", b"").decode("latin-1")
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
        }
        self.scheme: str = scope.get("scheme", "http")
        client = scope.get("client")
        self.client_address: str = client[0] if client else "unknown"
        self.params: dict[str, str] = {}
        self.body = b""
        self.session: Session | None = None
        self.grants: list[Grant] = []  # the workspaces the session's user may open

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def audit_entry(
        self, action: str, target_type: str, target: str, **details: Any
    ) -> audit.Entry:
        """The audit entry of a change the signed-in user makes in their workspace."""
        assert self.session is not None
        session = self.session
        return audit.Entry(
            action, target_type, target, session.workspace_id, session.user_id, details
        )

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def form(self) -> dict[str, str]:
        """The urlencoded form body (the last value of a repeated field)."""
        try:
            text = self.body.decode()
        except UnicodeDecodeError:
            return {}
        return dict(parse_qsl(text, keep_blank_values=True))

    def cookie(self, name: str) -> str | None:
        raw = self.header("cookie")
        if not raw:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None else None

    @property
    def is_htmx(self) -> bool:
        """Whether htmx sent this (it then wants the part of the page it swaps)."""
        return self.header("hx-request") == "true"

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


@dataclass
class Page:
    """An answer: status, body and headers (the page headers are added on the way out).
    `stream`, when set, is sent after `body` chunk by chunk (a download too large to
    build in memory)."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None


def redirect(location: str, headers: list[tuple[bytes, bytes]] | None = None) -> Page:
    """A 303 to `location`: after a form's POST, the browser GETs it."""
    return Page(303, b"", [(b"location", location.encode("latin-1")), *(headers or [])])


def headers_of(page: Page) -> list[tuple[bytes, bytes]]:
    """The page's headers after the page headers it does not set itself."""
    own = {name for name, _ in page.headers}
    return [*(h for h in PAGE_HEADERS if h[0] not in own), *page.headers]
