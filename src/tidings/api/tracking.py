"""Tracked links (no credentials: the signed token is the authority).

    GET  /t/o/{token}   the open pixel: a 1x1 GIF; records `opened`
    GET  /t/c/{token}   a click: 302 to the URL signed into the token; records `clicked`
    GET  /t/u/{token}   the unsubscribe page, with a confirm button
    POST /t/u/{token}   unsubscribe; RFC 8058 one-click (`List-Unsubscribe=One-Click`)
    GET  /t/v/{token}   view in browser: the email's HTML as sent (404 once not kept)
    GET  /t/p/{token}   a person's subscription preferences page
    POST /t/p/{token}   save the page's form (`topic=<id>` per ticked topic, `unsubscribed=1`)

The unsubscribe of a message in a subscription topic leaves that topic only
(`links.unsubscribe`); of any other message, everything.

A token that does not verify is a 404 (`tidings.reporting.links`).
"""

from __future__ import annotations

import html
from urllib.parse import parse_qsl, quote

from tidings.api.context import Context
from tidings.api.http import Request, Response
from tidings.api.routing import Route
from tidings.errors import ApiError
from tidings.numbers import is_digits
from tidings.reporting import links, preference_center
from tidings.subscriptions.center import State
from tidings.subscriptions.topics import Topic

NO_STORE = (b"cache-control", b"no-store, max-age=0")
HTML = (b"content-type", b"text/html; charset=utf-8")
# The viewed email is the workspace's HTML on this server's origin: no scripts,
# forms or same-origin access (a unique origin), and no token in a Referer.
VIEWED = [
    (b"content-security-policy", b"sandbox allow-popups allow-popups-to-escape-sandbox"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]
# The preferences page: never framed (no clickjacking of its form), no token in a Referer.
GUARDED = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none';"
        b" form-action 'self'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
MAX_TOPICS_CHOSEN = 1_000
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
        topic = await ctx.read(links.unsubscribe_topic, request.params["token"])
    except ApiError:
        return _page("This link is not valid.", 404)
    what = "these emails" if topic is None else f"“{html.escape(topic.name)}”"
    return _page(
        f"Unsubscribe from {what}?"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
        200,
    )


async def unsubscribe(ctx: Context, request: Request) -> Response:
    try:
        topic = await ctx.write(links.unsubscribe, request.params["token"], ctx.now())
    except ApiError as exc:
        return _page(html.escape(exc.message).capitalize() + ".", exc.status)
    if topic is not None:
        return _page(f"You are unsubscribed from “{html.escape(topic.name)}”.", 200)
    return _page("You are unsubscribed.", 200)


async def preferences_page(ctx: Context, request: Request) -> Response:
    try:
        state = await ctx.read(preference_center.page, request.params["token"])
    except ApiError:
        return _page("This link is not valid.", 404, "Subscription preferences")
    return _preferences(state, "")


async def save_preferences(ctx: Context, request: Request) -> Response:
    try:
        chosen, unsubscribed = _choices(request.body)
        state = await ctx.write(
            preference_center.save, request.params["token"], chosen, unsubscribed, ctx.now()
        )
    except ApiError as exc:
        return _page(
            html.escape(exc.message).capitalize() + ".", exc.status, "Subscription preferences"
        )
    return _preferences(state, "<p>Your preferences are saved.</p>")


def _choices(body: bytes) -> tuple[set[int], bool]:
    """The form's ticked topics and global unsubscribe; a 400 for anything else."""
    chosen: set[int] = set()
    unsubscribed = False
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if name == "topic" and is_digits(value) and len(value) <= 9:
            chosen.add(int(value))
        elif name == "unsubscribed" and value == "1":
            unsubscribed = True
        else:
            raise ApiError(400, "the form is not valid", code="bad_request")
        if len(chosen) > MAX_TOPICS_CHOSEN:
            raise ApiError(400, "the form is not valid", code="bad_request")
    return chosen, unsubscribed


def _topic_row(topic: Topic, on: bool) -> str:
    checked = " checked" if on else ""
    return (
        f'<p><label><input type="checkbox" name="topic" value="{int(topic.key)}"{checked}>'
        f" <b>{html.escape(topic.name)}</b></label><br>{html.escape(topic.description)}</p>"
    )


def _preferences(state: State, notice: str) -> Response:
    """The page: one checkbox per topic, and one to unsubscribe from everything."""
    rows = "".join(_topic_row(topic, on) for topic, on in state.topics)
    everything = " checked" if state.unsubscribed else ""
    body = (
        f'{notice}<h1>Subscription preferences</h1><form method="post">{rows}'
        '<p><label><input type="checkbox" name="unsubscribed" value="1"'
        f"{everything}> Unsubscribe from all messages</label></p>"
        '<button type="submit">Save</button></form>'
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>Subscription preferences</title></head><body>{body}</body></html>"
    )
    return Response(200, page.encode(), [HTML, NO_STORE, *GUARDED])


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
    Route("GET", "/t/p/{token}", preferences_page, "track", "none", query=None),
    Route("POST", "/t/p/{token}", save_preferences, "track", "none", query=None),
)
