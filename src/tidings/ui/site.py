"""The web UI as an ASGI application: routes, who may call them, and the checks in between.

Every request passes the same gate before its handler runs (`Site._gate`):

1. an API key (`Authorization`) is refused: keys authenticate only the APIs;
2. the session cookie is looked up (hashed) with the user's role in the
   session's workspace, read again on every request, so a role taken away
   takes effect at once;
3. a route that is not public needs a live session (pages redirect to the
   login, with the page to come back to);
4. an unsafe request (POST, PUT, PATCH, DELETE) must pass the origin check
   and, with a session, carry the session's CSRF token (`ui/security.py`);
5. the route's `needs` must be granted by the role (`users/roles.py`): a
   viewer's POST is a 403 whatever the page offered.

Handlers are `async def handler(ui, request) -> Page`: thin, like the API's,
reading through `ui.read` and writing through `ui.write` (the same
group-commit writer), with no SQL of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote

from tidings.clock import Clock
from tidings.config import Settings
from tidings.errors import ApiError
from tidings.ui import render, security
from tidings.ui.http import MAX_FORM, Page, UiRequest, headers_of, redirect
from tidings.users import roles, sessions

log = logging.getLogger("tidings")

Needs = Literal["public", "signed_in", "read", "edit_content", "manage"]
Call = Callable[..., Awaitable[Any]]
Handler = Callable[["Ui", UiRequest], Awaitable[Page]]

# What a browser is told when the HTTP layer refused its request (`Site.refused`).
_REFUSALS = {
    400: "Your browser sent a request this server could not read.",
    408: "Your browser took too long to send the request.",
    429: "The server is busy.",
    431: "Your browser sent headers too large for this server (too many cookies, say).",
}

STALE_TOKEN = (
    "Refused: the form's security token is missing or stale. Reload the page and try again."
)

# The navigation: only pages that exist, each shown to the roles that may open it.
NAV: tuple[tuple[str, str, roles.Capability], ...] = (
    ("Dashboard", "/", "read"),
    ("People", "/people", "read"),
    ("Activity", "/activity", "read"),
    ("Deliveries", "/deliveries", "read"),
    ("Templates", "/templates", "read"),
    ("Segments", "/segments", "read"),
    ("Campaigns", "/campaigns", "read"),
    ("Broadcasts", "/broadcasts", "read"),
    ("Newsletters", "/newsletters", "read"),
    ("Users", "/users", "manage"),
    ("Audit log", "/audit", "manage"),
    ("Jobs", "/jobs", "read"),
    ("Suppressions", "/suppressions", "read"),
    ("Settings", "/settings", "read"),
)


@dataclass(frozen=True)
class UiRoute:
    """One UI operation. `needs`: "public" (no session), "signed_in" (any session,
    whatever the role: logout, switching workspace), or the capability the role
    must grant in the session's workspace. `reads_only`: a POST that changes nothing
    (a preview of a draft too large for a URL), which "read" may then open; it still
    passes the CSRF checks of every unsafe request."""

    method: str
    path: str
    handler: Handler
    needs: Needs
    reads_only: bool = False

    def __post_init__(self) -> None:
        if self.method in security.UNSAFE and self.needs == "read" and not self.reads_only:
            raise ValueError(f"{self.method} {self.path}: a change needs more than read")


@dataclass(frozen=True)
class Ui:
    """What a UI handler may use: reads, writes, the time, the templates, and the
    API's key cache to drop after a key rotation."""

    settings: Settings
    clock: Clock
    read: Call
    write: Call
    templates: render.Templates
    # Drops the API's cached key lookups of a workspace (`api.auth.Authenticator.forget`),
    # after its keys were rotated.
    forget_keys: Callable[[int], None] = lambda workspace_id: None

    def now(self) -> int:
        return int(self.clock.now())

    def page(self, request: UiRequest, template: str, status: int = 200, **values: Any) -> Page:
        """A rendered page, with what the layout shows (navigation, user, workspaces)."""
        return Page(status, self.templates.render(template, _layout(request) | values))

    def origins(self) -> list[str]:
        """Origins this server is reached at besides a request's Host: the public URL."""
        return [self.settings.public_url] if self.settings.public_url else []


def _layout(request: UiRequest) -> dict[str, Any]:
    session = request.session
    grants = request.grants
    role = session.role if session else None
    return {
        "session": session,
        "grants": grants,
        "workspace": next(
            (g for g in grants if session and g.workspace_id == session.workspace_id), None
        ),
        "nav": [(label, href) for label, href, needs in NAV if roles.may(role, needs)],
        "path": request.path,
    }


class Site:
    """The UI's routes behind the gate; mounted beside the APIs by `create_app`."""

    def __init__(self, ui: Ui, routes: tuple[UiRoute, ...]) -> None:
        self.ui = ui
        self.routes = routes
        self.static = render.static_files()
        self._firsts = {route.path.split("/")[1] for route in routes} | {"static"}

    def owns(self, path: str) -> bool:
        return path == "/" or path.split("/")[1] in self._firsts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = UiRequest(scope)
        page = await self._answer(request, receive)
        headers = headers_of(page)
        await send({"type": "http.response.start", "status": page.status, "headers": headers})
        if page.stream is not None and request.method != "HEAD":
            await send({"type": "http.response.body", "body": page.body, "more_body": True})
            async for chunk in page.stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"" if page.stream else page.body})

    async def _answer(self, request: UiRequest, receive: Any) -> Page:
        try:
            if request.path.startswith("/static/"):
                return self._static(request)
            route = self._match(request)
            request.body = await _read_body(receive)
            await self._gate(route, request)
            return await route.handler(self.ui, request)
        except Refusal as refusal:
            return refusal.page
        except ApiError as exc:
            return self.error(request, exc.status, exc.message, exc.headers)
        except Exception:
            log.exception("unhandled error in the web UI")
            return self.error(request, 500, "Something went wrong on the server.")

    def _match(self, request: UiRequest) -> UiRoute:
        known = False
        for route in self.routes:
            params = _fit(route.path, request.path)
            if params is None:
                continue
            known = True
            if request.method in (route.method, "HEAD" if route.method == "GET" else ""):
                request.params = params
                return route
        if known:
            raise ApiError(405, "This page does not take that method.")
        raise ApiError(404, "There is no page here.")

    async def _gate(self, route: UiRoute, request: UiRequest) -> None:
        if request.header("authorization"):
            raise self.refuse(request, 401, "The web UI takes no API keys: sign in instead.")
        await self._find_session(request)
        if route.needs != "public" and request.session is None:
            raise Refusal(self._to_login(request))
        if request.method in security.UNSAFE:
            self._check_csrf(request, route.needs == "public")
        needs = route.needs
        if needs == "public" or needs == "signed_in":
            return
        assert request.session is not None
        if not roles.may(request.session.role, needs):
            raise self.refuse(request, 403, "Your role in this workspace does not allow this.")

    async def _find_session(self, request: UiRequest) -> None:
        raw = request.cookie(security.COOKIE)
        if not raw:
            return
        id_hash = sessions.hash_id(raw)
        found = await self.ui.read(sessions.signed_in, id_hash, self.ui.now())
        if found is None:
            return
        request.session, request.grants = found
        if self.ui.now() - request.session.seen_at >= sessions.TOUCH_EVERY:
            await self.ui.write(sessions.touch, id_hash, self.ui.now())

    def _check_csrf(self, request: UiRequest, public: bool) -> None:
        reason = security.origin_refusal(request.header, request.scheme, self.ui.origins())
        if reason is not None:
            raise self.refuse(request, 403, f"Refused: {reason}.")
        if public or request.session is None:
            return  # the login form: a browser may hold no session, hence no token, yet
        sent = request.form.get(security.TOKEN_FIELD) or request.header(security.TOKEN_HEADER)
        if not security.token_matches(sent, request.session.csrf_token):
            raise self.refuse(request, 403, STALE_TOKEN)

    def _to_login(self, request: UiRequest) -> Page:
        if request.method in security.UNSAFE:
            return self.error(request, 401, "Sign in first.")
        target = request.path + (f"?{request.query_string}" if request.query_string else "")
        location = "/login"
        if target != "/":  # where a login lands anyway (`security.safe_next`)
            location += "?next=" + quote(target, safe="")
        if request.is_htmx:
            return Page(200, b"", [(b"hx-redirect", location.encode("latin-1"))])
        return redirect(location)

    def _static(self, request: UiRequest) -> Page:
        found = self.static.get(request.path.removeprefix("/static/"))
        if found is None or request.method not in ("GET", "HEAD"):
            return self.error(request, 404, "There is no such file.")
        body, content_type = found
        headers = [(b"content-type", content_type), (b"cache-control", b"public, max-age=3600")]
        return Page(200, body, headers)

    def refused(self, path: str, error: ApiError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """The error page answering a request to `path` that the HTTP layer refused
        before it got here (the server busy: 429; headers too large, too slow, not
        HTTP): the layout without a session, since none was looked up."""
        bare = UiRequest({"method": "GET", "path": path, "headers": []})
        page = self.error(
            bare, error.status, _REFUSALS.get(error.status, error.message), error.headers
        )
        return page.status, page.body, headers_of(page)

    def refuse(self, request: UiRequest, status: int, message: str) -> Refusal:
        return Refusal(self.error(request, status, message))

    def error(
        self, request: UiRequest, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Page:
        """The error page, with `headers` (a 429 always says when to come back:
        `Retry-After`, one second unless the refusal said otherwise)."""
        sent = {name.lower(): value for name, value in (headers or {}).items()}
        if status == 429:
            sent.setdefault("retry-after", "1")
        wait = sent.get("retry-after", "")
        values = {"status_code": status, "message": message, "retry_after": wait}
        try:
            page = self.ui.page(request, "error.html", status, **values)
        except Exception:  # the error page itself failed: still answer, in plain text
            log.exception("rendering the error page failed")
            plain = [(b"content-type", b"text/plain; charset=utf-8")]
            page = Page(status, f"{status}: {message}".encode(), plain)
        for name, value in sent.items():
            page.headers.append((name.encode(), value.encode("latin-1")))
        return page


class Refusal(Exception):
    """A request the gate answers itself, with this page."""

    def __init__(self, page: Page) -> None:
        super().__init__(page.status)
        self.page = page


def _fit(pattern: str, path: str) -> dict[str, str] | None:
    """The `{name}` parameters of `path` if it fits `pattern`, else None."""
    wanted, given = pattern.split("/"), path.split("/")
    if len(wanted) != len(given):
        return None
    params = {}
    for part, text in zip(wanted, given, strict=True):
        if part.startswith("{"):
            if not text:
                return None
            params[part[1:-1]] = unquote(text)
        elif part != text:
            return None
    return params


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "The browser left before sending the whole form.")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            raise ApiError(413, "The form is too large.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
