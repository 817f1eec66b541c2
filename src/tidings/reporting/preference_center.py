"""A person's hosted subscription preferences page, reached by a signed token.

The token (`links.preferences_token`, kind `p`) names the workspace and the
person's cio_id, signed with the workspace's tracking secret: it cannot be
guessed or edited, and it never expires (the link sits in old mail). It is
the page's only credential, and also what makes the form's POST safe from
cross-site forgery: a forger would need the token itself. A person who is
gone since is a 404 like a bad token.

`token_for` answers `GET /v1/subscription_center/{id}/token`; the page is
`/t/p/{token}` (`api/tracking.py`). Saving writes the person's
`cio_subscription_preferences` (`subscriptions/preferences.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tidings.people import read, store
from tidings.people.identifiers import Identifier
from tidings.people.store import Person
from tidings.reporting import links
from tidings.subscriptions import center, preferences, topics


def token_for(
    conn: Connection, workspace_id: int, raw: str, base_url: str, now: int
) -> dict[str, Any]:
    """`{"token", "url"}` for the person with id `raw`: the token of their page and the
    page's address under `base_url` (makes the workspace secret on first use)."""
    person = read.lookup(conn, workspace_id, raw, "id")
    key = links.secret(conn, workspace_id, now)
    token = links.preferences_token(key, workspace_id, person.cio_id)
    return {"token": token, "url": links.preferences_url(base_url, token)}


def url_for(person: Person, base_url: str, key: bytes) -> str:
    """The person's page, for `{% manage_subscription_preferences_url %}`."""
    token = links.preferences_token(key, person.workspace_id, person.cio_id)
    return links.preferences_url(base_url, token)


def person_of(conn: Connection, token: str) -> Person:
    link = links.verify(conn, token, "p")
    person = store.find(conn, link.workspace_id, Identifier("cio_id", link.delivery_id))
    if person is None:
        raise links.invalid_link()
    return person


def page(conn: Connection, token: str) -> center.State:
    """What the page shows; a 404 `ApiError` for a bad token."""
    return center.state(conn, person_of(conn, token))


def save(
    conn: Connection, token: str, chosen: set[int], unsubscribed: bool, now: int
) -> center.State:
    """Keep the person in the topics ticked (`chosen`), take them out of the rest the
    workspace declares, and set their global `unsubscribed`; what the page shows next."""
    person = person_of(conn, token)
    choices = {t.key: t.key in chosen for t in topics.topics(conn, person.workspace_id)}
    preferences.choose(conn, person, choices, now, unsubscribed=unsubscribed)
    return center.state(conn, person)
