"""`GET /openapi.json`: the operations this server serves.

Operations the seed document (`openapi/seed.json`, converted unchanged from
the project's seed YAML) describes keep its description; every other served
route gets a short generated entry, so the document is exactly the router.
Each operation lists the query parameters its route accepts (any other is a
400); the tracked-link routes, which accept any, list none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import tidings
from tidings.api.routing import Endpoint

SEED = Path(__file__).resolve().parent.parent / "openapi" / "seed.json"
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "track": [{"basicAuth": []}],
    "app": [{"bearerAuth": []}],
    "cdp": [{"basicAuth": []}, {"bearerAuth": []}],
    "none": [],
}
_TAGS = {
    "track": "Track API",
    "track_v2": "Track API",
    "app": "App API",
    "newsletter": "App API",
    "cdp": "Pipelines API",
    "ops": "Operations",
}


@cache
def _seed() -> dict[str, Any]:
    seed: dict[str, Any] = json.loads(SEED.read_text())
    return seed


def document(routes: Iterable[Endpoint]) -> dict[str, Any]:
    seed = _seed()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        method = route.method.lower()
        operation = seed["paths"].get(route.name, {}).get(method)
        if operation is None:
            operation = _generated(route)
        paths.setdefault(route.name, {})[method] = _with_query(operation, route)
    return {
        "openapi": "3.0.1",
        "info": {
            "title": "Tidings",
            "version": tidings.__version__,
            "description": "The Customer.io APIs as served by this Tidings server.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": seed["components"],
    }


def _generated(route: Endpoint) -> dict[str, Any]:
    params = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in route.parts
        if part.startswith("{")
    ]
    operation: dict[str, Any] = {
        "tags": [_TAGS.get(route.surface, route.surface)],
        "summary": f"{route.method} {route.name}",
        "security": _SECURITY.get(route.auth, []),
        "responses": {"200": {"description": "OK"}},
    }
    if params:
        operation["parameters"] = params
    return operation


def _with_query(operation: dict[str, Any], route: Endpoint) -> dict[str, Any]:
    """`operation` (not changed) with the route's query parameters added to its own."""
    if not route.query:
        return operation
    listed = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
    query = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in sorted(route.query - listed)
    ]
    return {**operation, "parameters": [*operation.get("parameters", []), *query]}
