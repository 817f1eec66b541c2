"""Tracked links (no credentials: the signed token is the authority).

    GET  /t/o/{token}   the open pixel: a 1x1 GIF; records `opened`
    GET  /t/c/{token}   a click: 302 to the URL signed into the token; records `clicked`
    GET  /t/u/{token}   the unsubscribe page, with a confirm button
    POST /t/u/{token}   unsubscribe; RFC 8058 one-click (`List-Unsubscribe=One-Click`)
    GET  /t/v/{token}   view in browser: the email's HTML as sent (404 once not kept)

A token that does not verify is a 404 (`tidings.reporting.links`).
"""

from __future__ import annotations

import html
from urllib.parse import quote

from tidings.api.context import Context
from tidings.api.http import Request, Response
from tidings.api.routing import Route
from tidings.errors import ApiError
from tidings.reporting import links

NO_STORE = (b"cache-control", b"no-store, max-age=0")
HTML = (b"content-type", b"text/html; charset=utf-8")
# The viewed email is the workspace's HTML on this server's origin: no scripts,
# forms or same-origin access (a unique origin), and no token in a Referer.
VIEWED = [
    (b"content-security-policy", b"sandbox allow-popups allow-popups-to-escape-sandbox"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]
# Everything printable in ASCII stays as it is; the rest is percent-encoded.
_URL_SAFE = "".join(chr(c) for c in range(33, 127) if chr(c) not in '"<>\\^`{|}')


async def opened(ctx: Context, request: Request) -> Response:
    await ctx.write(links.record_open, request.params["token"], ctx.now())
    return Response(200, links.PIXEL, [(b"content-type", b"image/gif"), NO_STORE])


async def clicked(ctx: Context, request: Request) -> Response:
    url = await ctx.write(links.record_click, request.params["token"], ctx.now())
    location = quote(url, safe=_URL_SAFE).encode("ascii")
    return Response(302, b"", [(b"location", location), NO_STORE])


async def unsubscribe_page(ctx: Context, request: Request) -> Response:
    try:
        await ctx.read(links.check_unsubscribe, request.params["token"])
    except ApiError:
        return _page("This link is not valid.", 404)
    return _page(
        "Unsubscribe from these emails?"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
        200,
    )


async def unsubscribe(ctx: Context, request: Request) -> Response:
    try:
        await ctx.write(links.unsubscribe, request.params["token"], ctx.now())
    except ApiError as exc:
        return _page(html.escape(exc.message).capitalize() + ".", exc.status)
    return _page("You are unsubscribed.", 200)


async def viewed(ctx: Context, request: Request) -> Response:
    try:
        page = await ctx.read(links.sent_html, request.params["token"])
    except ApiError as exc:
        return _page(html.escape(exc.message).capitalize() + ".", exc.status, "Email")
    return Response(200, page.encode(), [HTML, NO_STORE, *VIEWED])


def _page(body: str, status: int, title: str = "Unsubscribe") -> Response:
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{title}</title></head><body><p>{body}</p></body></html>"
    )
    return Response(status, page.encode(), [HTML, NO_STORE])


# Links opened in browsers and mail clients: parameters added on the way
# (utm_*, a scanner's own) are no business of these routes (query=None).
ROUTES = (
    Route("GET", "/t/o/{token}", opened, "track", "none", query=None),
    Route("GET", "/t/c/{token}", clicked, "track", "none", query=None),
    Route("GET", "/t/u/{token}", unsubscribe_page, "track", "none", query=None),
    Route("POST", "/t/u/{token}", unsubscribe, "track", "none", query=None),
    Route("GET", "/t/v/{token}", viewed, "track", "none", query=None),
)
