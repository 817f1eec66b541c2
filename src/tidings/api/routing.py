"""Route tables as data, and the router that matches them on the raw path.

Each surface module (`api/track_v1.py`, `api/app_api.py`, ...) declares its
operations in a `ROUTES` tuple of `Route` records; `Router` takes the tables
in order. Among routes with as many segments as the request path, the first
declared whose literal segments match wins; another method of a matched path
is a 405 (`path_known`).

Customer.io clients percent-encode identifiers, so `/` inside an id arrives as
`%2F`. Routing therefore splits the *raw* path on literal `/` and only then
decodes each segment (never turning `+` into a space). Frameworks that decode
before routing would send `u%2F1` to the wrong handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

from tidings.api.http import Request, Response, refuse_nul
from tidings.errors import ApiError

if TYPE_CHECKING:
    from tidings.api.context import Context
    from tidings.config import Settings

# The error format a route answers in (`api.errors`).
Surface = Literal["track", "track_v2", "app", "newsletter", "cdp", "ops"]
# The credentials a route takes (`api.auth`); "none": the route checks its own, if any.
Auth = Literal["track", "app", "cdp", "none"]
Handler = Callable[["Context", Request], Awaitable[Response]]
# A body limit in bytes, or one computed from the settings (a configured upload size).
BodyLimit = int | Callable[["Settings"], int]

# A route's credentials unless it names others: its surface's own.
SURFACE_AUTH: dict[Surface, Auth] = {
    "track": "track",
    "track_v2": "track",
    "app": "app",
    "newsletter": "app",  # App API routes answering errors in the newsletters' form
    "cdp": "cdp",
    "ops": "none",
}


@dataclass(frozen=True)
class Route:
    """One operation as its surface module declares it.

    `path` is the pattern (`{name}` segments are parameters) and the route's name
    in metrics and the OpenAPI document. `query` names every query parameter the
    handler reads: any other is refused (`check_query`), so a misspelt filter
    cannot silently match everything; None accepts any (links opened in
    browsers). `max_body` raises (or lowers) the body limit for this route alone.
    """

    method: str
    path: str
    handler: Handler
    surface: Surface
    auth: Auth | None = None  # None: the surface's own (`SURFACE_AUTH`)
    query: Collection[str] | None = ()
    max_body: BodyLimit | None = None  # bytes; None: the server's default limit


@dataclass(frozen=True)
class Endpoint:
    """A `Route` ready to serve: its credentials and query resolved, its path split."""

    method: str
    name: str
    handler: Handler
    surface: Surface
    auth: Auth
    max_body: BodyLimit | None
    query: frozenset[str] | None
    parts: tuple[str, ...]
    # Positions of the literal segments and of the `{param}` placeholders.
    literals: tuple[tuple[int, str], ...]
    placeholders: tuple[tuple[int, str], ...]

    @classmethod
    def of(cls, route: Route) -> Endpoint:
        parts = tuple(route.path.split("/")[1:])
        return cls(
            method=route.method,
            name=route.path,
            handler=route.handler,
            surface=route.surface,
            auth=route.auth or SURFACE_AUTH[route.surface],
            max_body=route.max_body,
            query=None if route.query is None else frozenset(route.query),
            parts=parts,
            literals=tuple((i, p) for i, p in enumerate(parts) if not p.startswith("{")),
            placeholders=tuple((i, p[1:-1]) for i, p in enumerate(parts) if p.startswith("{")),
        )


class Router:
    """Routes by literal segments and `{param}` placeholders on the raw path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.endpoints = tuple(Endpoint.of(route) for route in routes)
        self._by_length: dict[int, list[Endpoint]] = {}
        for endpoint in self.endpoints:
            self._by_length.setdefault(len(endpoint.parts), []).append(endpoint)

    def match(
        self, method: str, segments: list[str]
    ) -> tuple[Endpoint | None, dict[str, str], bool]:
        """(endpoint, decoded params, path_known); path_known without one means 405.

        Literal segments are compared first; only the route that matches has its
        placeholders decoded (a bad escape there is a 400).
        """
        path_known = False
        for endpoint in self._by_length.get(len(segments), ()):
            if not _fits(endpoint, segments):
                continue
            path_known = True
            if endpoint.method == method:
                return endpoint, _bind(endpoint, segments), True
        return None, {}, path_known


def check_query(endpoint: Endpoint, request: Request) -> None:
    """A 400 naming the query parameters `endpoint` does not read, and those it does."""
    if endpoint.query is None or not request.query_string:
        return
    unknown = sorted(set(request.query) - endpoint.query)
    if not unknown:
        return
    accepted = ", ".join(sorted(endpoint.query)) or "none"
    plural = "s" if len(unknown) > 1 else ""
    message = (
        f"unsupported query parameter{plural}: {', '.join(unknown)}"
        f" ({endpoint.method} {endpoint.name} accepts: {accepted})"
    )
    raise ApiError(400, message, code="invalid_request", field=unknown[0])


def _fits(endpoint: Endpoint, segments: list[str]) -> bool:
    for index, text in endpoint.literals:
        if segments[index] != text:
            return False
    return all(segments[index] for index, _ in endpoint.placeholders)


def _bind(endpoint: Endpoint, segments: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for index, name in endpoint.placeholders:
        value = unquote(segments[index], errors="strict")
        refuse_nul(value)
        params[name] = value
    return params
