"""The web UI answers errors with its own HTML page, never the APIs' JSON: a 429 from a
limiter a UI route hits (here the writer's queue, full) and a request the HTTP layer
refused before the UI saw it (`Site.refused`) both carry `Retry-After`."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.clock import FixedClock
from tidings.config import Settings
from tidings.db.writer import Overloaded
from tidings.errors import ApiError
from tidings.ui.http import Page, UiRequest
from tidings.ui.render import Templates
from tidings.ui.site import Site, Ui, UiRoute


async def _overloaded(ui: Ui, request: UiRequest) -> Page:
    raise Overloaded()


async def _nothing(*args: Any) -> None:
    return None


def _site() -> Site:
    ui = Ui(Settings(database_url="sqlite://"), FixedClock(0), _nothing, _nothing, Templates())
    return Site(ui, (UiRoute("GET", "/login", _overloaded, "public"),))


def _get(site: Site, path: str) -> tuple[int, dict[str, str], str]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    asyncio.run(site(scope, receive, send))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, sent[1]["body"].decode()


def test_a_429_raised_in_a_ui_route_is_an_html_page_with_retry_after():
    status, headers, body = _get(_site(), "/login")
    assert status == 429
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["retry-after"] == "1"
    assert "<h1>Too many requests</h1>" in body and "too many pending writes" in body
    assert "Try again in 1 second." in body and '<a class="skip"' in body  # the layout


def test_a_refusal_before_the_ui_keeps_its_retry_after_and_gets_the_page_headers():
    error = ApiError(429, "server busy, retry shortly", headers={"Retry-After": "30"})
    status, body, headers = _site().refused("/people", error)
    named = dict(headers)
    assert status == 429 and named[b"retry-after"] == b"30"
    assert named[b"content-type"] == b"text/html; charset=utf-8"
    assert b"content-security-policy" in named and b"x-frame-options" in named
    assert b"The server is busy." in body and b"Try again in 30 seconds." in body


def test_other_statuses_get_the_page_without_retry_after():
    status, headers, body = _get(_site(), "/nowhere")
    assert status == 404 and "retry-after" not in headers
    assert "<h1>Not found</h1>" in body
