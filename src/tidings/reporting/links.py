"""Tracked links: the open pixel, click redirects, the unsubscribe and view-in-browser links.

Every link carries a token `<workspace>.<claims>.<signature>`: the claims
(what the link does: kind, delivery, and for a click the link's number and
target URL) are JSON in base64url, and the signature is an HMAC-SHA256 of
`<workspace>.<claims>` with the workspace's `tracking` secret
(`workspace_secrets`, 32 random bytes made on first use), cut to 128 bits.
So a token cannot be guessed, forged or edited: a click only ever redirects
to the URL that was signed into it (never an open redirect), and an open
token cannot be replayed as an unsubscribe. Tokens do not expire: mail is
read years later, and the links must still work.

The view-in-browser link (`view_url`, `{{ view_in_browser_url }}`) shows the
email's HTML as it was sent, read from the delivery's stored message: it
works for as long as the message is kept (not after it was sent when the
send set `disable_message_retention`).

`prepare_email` is what the delivery path calls before sending an email:
links rewritten and the pixel appended when the send is tracked, and the
one-click unsubscribe URL (RFC 8058) for the `List-Unsubscribe` header always.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html as htmlmod
import re
import secrets
from dataclasses import dataclass

import msgspec
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from tidings.db import raw
from tidings.db.schema import deliveries, delivery_metrics, workspace_secrets
from tidings.errors import ApiError
from tidings.numbers import is_digits
from tidings.providers import base as outbound
from tidings.reporting import metrics
from tidings.subscriptions import topics
from tidings.subscriptions.topics import Topic

SECRET_NAME = "tracking"
SIGNATURE_BYTES = 16
# open, click, unsubscribe, view in browser, a person's subscription preferences page
KINDS = frozenset({"o", "c", "u", "v", "p"})
# 1x1 transparent GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# <a ... href="..."> and <area ... href='...'>: the attribute's value in group 3.
# Neither part may cross a `<` or `>`: an unclosed `<a` then costs one short scan,
# not a scan to the end of the body (quadratic on `<a <a <a ...`).
_LINK = re.compile(
    r"(<(?:a|area)\b[^<>]*?\bhref\s*=\s*)([\"'])([^\"'<>]*?)\2", re.IGNORECASE | re.DOTALL
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """What a verified token says."""

    workspace_id: int
    kind: str  # o | c | u | v | p
    delivery_id: str  # for `p`, the person's cio_id
    link_id: int = 0
    url: str = ""


def invalid_link() -> ApiError:
    return ApiError(404, "this link is not valid", code="not_found")


# --- secrets and tokens ----------------------------------------------------------


def secret(conn: Connection, workspace_id: int, now: int) -> bytes:
    """The workspace's tracking secret, made on first use (race-safe: insert or keep)."""
    found = read_secret(conn, workspace_id)
    if found is not None:
        return found
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(workspace_secrets)
        .values(
            workspace_id=workspace_id,
            name=SECRET_NAME,
            value=secrets.token_urlsafe(32),
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    made = read_secret(conn, workspace_id)
    assert made is not None
    return made


_READ_SECRET = "SELECT value FROM workspace_secrets WHERE workspace_id = {0} AND name = {1}"


def read_secret(conn: Connection, workspace_id: int) -> bytes | None:
    """The secret if made (on the driver: every send and every tracked link reads it)."""
    found = raw.select_in(conn, _READ_SECRET, [workspace_id, SECRET_NAME], [])
    return str(found[0][0]).encode() if found else None


def sign(key: bytes, link: Link) -> str:
    claims = [link.kind, link.delivery_id] + ([link.link_id, link.url] if link.kind == "c" else [])
    signed = f"{link.workspace_id}.{_b64(msgspec.json.encode(claims))}"
    return f"{signed}.{_b64(_mac(key, signed))}"


def verify(conn: Connection, token: str, kind: str) -> Link:
    """The link a token stands for; 404 `ApiError` unless it is genuine and of `kind`."""
    parts = token.split(".")
    if len(parts) != 3 or not is_digits(parts[0]) or len(parts[0]) > 9:
        raise invalid_link()
    workspace_id = int(parts[0])
    key = read_secret(conn, workspace_id)
    expected = _mac(key, f"{parts[0]}.{parts[1]}") if key is not None else b""
    if key is None or not hmac.compare_digest(_b64(expected).encode(), parts[2].encode()):
        raise invalid_link()
    claims = msgspec.json.decode(_unb64(parts[1]))
    if claims[0] != kind:
        raise invalid_link()
    if kind == "c":
        return Link(workspace_id, kind, claims[1], int(claims[2]), claims[3])
    return Link(workspace_id, kind, claims[1])


def _mac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- preparing an email --------------------------------------------------------


def unsubscribe_url(
    conn: Connection,
    workspace_id: int,
    delivery_id: str,
    base_url: str,
    now: int = 0,
    *,
    key: bytes | None = None,
) -> str:
    """The delivery's unsubscribe link: GET shows a confirm page, POST is RFC 8058 one-click.

    `key` is the workspace's secret when the caller has already read it.
    """
    key = key or secret(conn, workspace_id, now)
    return f"{base_url.rstrip('/')}/t/u/{sign(key, Link(workspace_id, 'u', delivery_id))}"


def view_url(workspace_id: int, delivery_id: str, base_url: str, key: bytes) -> str:
    """The delivery's view-in-browser page (`view_in_browser_url`)."""
    return f"{base_url.rstrip('/')}/t/v/{sign(key, Link(workspace_id, 'v', delivery_id))}"


def prepare_email(
    conn: Connection,
    workspace_id: int,
    delivery_id: str,
    html: str | None,
    base_url: str,
    tracked: bool,
    now: int = 0,
    *,
    key: bytes | None = None,
) -> tuple[str | None, str]:
    """(HTML to send, one-click unsubscribe URL) for a delivery.

    When `tracked`, every http(s) link is rewritten to a click redirect
    (numbered in document order, which is the `link_id` webhooks report) and
    an open pixel is appended before `</body>`. Links to `mailto:`, `tel:`,
    `#anchors` and this server's own `/t/` links (the unsubscribe link) are
    left alone. Pure apart from reading, or making once, the workspace secret
    (not even that when `key` is given).
    """
    base = base_url.rstrip("/")
    key = key or secret(conn, workspace_id, now)
    unsubscribe = unsubscribe_url(conn, workspace_id, delivery_id, base, now, key=key)
    if html is None or not tracked:
        return html, unsubscribe
    counter = iter(range(1, 1_000_000))

    def rewrite(match: re.Match[str]) -> str:
        url = htmlmod.unescape(match.group(3)).strip()
        if not _trackable(url, base):
            return match.group(0)
        link = Link(workspace_id, "c", delivery_id, next(counter), url)
        tracked_url = htmlmod.escape(f"{base}/t/c/{sign(key, link)}", quote=True)
        return f"{match.group(1)}{match.group(2)}{tracked_url}{match.group(2)}"

    rewritten = _LINK.sub(rewrite, html)
    pixel_url = f"{base}/t/o/{sign(key, Link(workspace_id, 'o', delivery_id))}"
    pixel = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
    ends = list(_BODY_END.finditer(rewritten))
    if not ends:
        return rewritten + pixel, unsubscribe
    at = ends[-1].start()
    return rewritten[:at] + pixel + rewritten[at:], unsubscribe


def _trackable(url: str, base: str) -> bool:
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")):
        return False  # mailto:, tel:, #anchor, relative, Liquid left-overs...
    return not url.startswith(base + "/t/")


# --- following a link -----------------------------------------------------------


def record_open(conn: Connection, token: str, now: int) -> None:
    link = verify(conn, token, "o")
    metrics.record_metric(conn, link.workspace_id, link.delivery_id, "opened", now, {}, now=now)


def record_click(conn: Connection, token: str, now: int) -> str:
    """Record the click and answer where to redirect: the URL signed into the token.

    A click proves an open: when none was recorded yet, a `synthetic` one is.
    """
    link = verify(conn, token, "c")
    if not _has_metric(conn, link.workspace_id, link.delivery_id, "opened"):
        metrics.record_metric(
            conn, link.workspace_id, link.delivery_id, "opened", now, {"synthetic": True}, now=now
        )
    extra = {"href": link.url, "link_id": link.link_id}
    metrics.record_metric(conn, link.workspace_id, link.delivery_id, "clicked", now, extra, now=now)
    return link.url


def unsubscribe_topic(conn: Connection, token: str) -> Topic | None:
    """The subscription topic an unsubscribe link's message is in (None: not in one,
    and the link unsubscribes from everything); a 404 `ApiError` for a bad token."""
    return _topic_of(conn, verify(conn, token, "u"))


def _topic_of(conn: Connection, link: Link) -> Topic | None:
    topic_id = metrics.topic_of(conn, link.delivery_id)
    if topic_id is None:
        return None
    return topics.topic(conn, link.workspace_id, topic_id) or Topic(topic_id, f"topic {topic_id}")


def unsubscribe(conn: Connection, token: str, now: int) -> Topic | None:
    """Unsubscribe the delivery's person, attributed to the delivery: from the message's
    subscription topic only when it is in one (the topic it left is returned), else
    from everything (`unsubscribed`)."""
    link = verify(conn, token, "u")
    topic = _topic_of(conn, link)
    if topic is None:
        metrics.unsubscribe(conn, link.delivery_id, True, now)
    else:
        metrics.unsubscribe_topic(conn, link.delivery_id, topic.key, now)
    return topic


# --- the subscription preferences page ------------------------------------------------


def preferences_token(key: bytes, workspace_id: int, cio_id: str) -> str:
    """The token of a person's preferences page (`reporting/preference_center.py`)."""
    return sign(key, Link(workspace_id, "p", cio_id))


def preferences_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/t/p/{token}"


def sent_html(conn: Connection, token: str) -> str:
    """The HTML of the email a view-in-browser token names, as it was sent (its text,
    escaped, when it had no HTML); 404 `ApiError` when the message is not kept."""
    link = verify(conn, token, "v")
    payload = conn.execute(
        select(deliveries.c.payload).where(
            deliveries.c.workspace_id == link.workspace_id, deliveries.c.id == link.delivery_id
        )
    ).scalar()
    message = outbound.decode(payload) if payload else None
    if not isinstance(message, outbound.Email):
        raise ApiError(404, "this message is no longer available", code="not_found")
    if message.html is not None:
        return message.html
    return f"<pre>{htmlmod.escape(message.text or '')}</pre>"


def _has_metric(conn: Connection, workspace_id: int, delivery_id: str, metric: str) -> bool:
    query = select(delivery_metrics.c.id).where(
        delivery_metrics.c.workspace_id == workspace_id,
        delivery_metrics.c.delivery_id == delivery_id,
        delivery_metrics.c.metric == metric,
    )
    return conn.execute(query.limit(1)).first() is not None
