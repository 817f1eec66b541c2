"""The UI's request checks and its cookie, pure: CSRF, the session cookie, where to go next.

CSRF has two locks, and an unsafe request (POST, PUT, PATCH, DELETE) must
open both:

- **origin**: a browser says where a request comes from. `Sec-Fetch-Site`
  must be `same-origin` when sent; else `Origin`, when sent, must be this
  server's own (the Host it was asked for, or the public URL). A request
  with neither header comes from no browser made since 2020, and only the
  token guards it;
- **token**: a random token per session (`ui_sessions.csrf_token`), sent in
  the form field `csrf_token` or, from htmx, the `X-CSRF-Token` header (set
  from the page's `<meta name="csrf-token">`), compared in constant time.

The login form is the one public unsafe route: a browser may post it with no
session (so no token) yet, and it has only the first lock.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COOKIE = "tidings_session"
TOKEN_FIELD = "csrf_token"
TOKEN_HEADER = "x-csrf-token"

Header = Callable[[str], str | None]


def origin_refusal(header: Header, scheme: str, allowed: Iterable[str]) -> str | None:
    """Why an unsafe request's origin is refused, or None when it is this server's.

    `header` reads a request header; `allowed` are the origins this server is
    reached at (`scheme://host[:port]`), besides the request's own Host."""
    fetch_site = header("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        return f"the request came from another site (Sec-Fetch-Site: {fetch_site[:40]})"
    origin = header("origin")
    if origin is None:
        return None
    host = header("host")
    own = {o.rstrip("/").lower() for o in allowed}
    if host:
        own.add(f"{scheme}://{host}".lower())
    if origin.lower() not in own:
        return f"the request came from another origin ({origin[:100]})"
    return None


def token_matches(sent: str | None, expected: str) -> bool:
    """Whether the CSRF token sent is the session's, in constant time."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def session_cookie(value: str, *, secure: bool, max_age: int) -> bytes:
    """The Set-Cookie value holding a session id: script cannot read it (HttpOnly),
    other sites' links and forms do not carry it on POSTs (SameSite=Lax), and over
    TLS it never travels in the clear (Secure)."""
    parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode()


def cleared_cookie(*, secure: bool) -> bytes:
    return session_cookie("", secure=secure, max_age=0)


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after login: a path on this server, never another site
    (`//host`, `/\\host` and absolute URLs are refused)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 0x20 for c in target):
        return default
    return target
