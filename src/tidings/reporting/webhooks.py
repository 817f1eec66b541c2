"""Reporting webhooks: their configuration (`/v1/reporting_webhooks`).

A webhook names an endpoint and the events it wants, in Customer.io's names
`<object type>_<metric>` (`email_sent`, `sms_delivered`, `push_clicked`...,
the list below, from the reporting-webhooks reference). A bare metric name
(`sent`, `opened`...) is accepted too and stands for that metric on every
channel, as customerio-node's documentation of `events` suggests.

Each webhook gets a signing key when it is created: 32 random bytes as 64
hex characters, shown in the webhook object as `signing_key` (Customer.io
shows it on the webhook's settings page). It never changes; to rotate it,
create a new webhook and delete the old one.

The endpoint is a user-supplied URL: it is checked when saved (absolute
http(s), a host, and `check_endpoint`: every address its host resolves to
now must pass the fetch guard) and again, address by address, by the poster
before every post (`tidings.fetch.post`), so a private or loopback target is
refused unless the operator's fetch allowlist permits it.

Each post records when it was last attempted and its error; `attempts`
shows a webhook's latest ones, so a failing endpoint is visible through the
API and not only in the poster's log.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings import numbers
from tidings.db.schema import reporting_webhooks, webhook_posts
from tidings.errors import bad_request, not_found
from tidings.fetch import Allowlist, FetchFailed, FetchRefused, parse_url, resolve

_METRICS_BY_TYPE = {
    "customer": "subscribed unsubscribed cio_subscription_preferences_changed",
    "email": "drafted attempted sent delivered opened clicked converted unsubscribed bounced"
    " dropped spammed failed undeliverable",
    "push": "drafted attempted sent delivered opened clicked converted bounced dropped failed"
    " undeliverable",
    "sms": "drafted attempted sent delivered clicked converted bounced failed undeliverable"
    " replied",
    "whatsapp": "drafted attempted sent delivered opened clicked converted bounced dropped failed"
    " undeliverable replied",
    "slack": "drafted attempted sent clicked failed undeliverable",
    "webhook": "drafted attempted sent clicked failed undeliverable",
    "in_app": "drafted attempted sent opened clicked converted failed undeliverable",
}
EVENTS = frozenset(f"{t}_{m}" for t, ms in _METRICS_BY_TYPE.items() for m in ms.split())
BARE_METRICS = frozenset(m for ms in _METRICS_BY_TYPE.values() for m in ms.split())
MAX_NAME = 190
MAX_ENDPOINT = 2048
RECENT_ATTEMPTS = 10

_encode = msgspec.json.Encoder().encode


def parse(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """The columns a create (all required ones) or an update (any subset) sets."""
    values: dict[str, Any] = {}
    if "endpoint" in body or not partial:
        values["endpoint"] = _endpoint(body.get("endpoint"))
    if "events" in body or not partial:
        values["events"] = _encode(_events(body.get("events"))).decode()
    if "name" in body or not partial:
        values["name"] = _name(body.get("name", ""))
    for flag in ("full_resolution", "with_content", "disabled"):
        if flag in body or not partial:
            value = body.get(flag, flag == "full_resolution")
            if not isinstance(value, bool):
                raise bad_request(f"{flag} must be a boolean", flag)
            values[flag] = int(value)
    return values


def _endpoint(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("endpoint is required", "endpoint")
    if len(value) > MAX_ENDPOINT:
        raise bad_request(f"endpoint cannot be longer than {MAX_ENDPOINT} characters", "endpoint")
    try:
        parse_url(value.strip())
    except FetchFailed as exc:
        raise bad_request(f"endpoint: {exc}", "endpoint") from exc
    return value.strip()


def check_endpoint(endpoint: str, allow: Allowlist) -> None:
    """Refuse an endpoint the poster's address guard would refuse (blocking: it resolves
    the host). A host that does not resolve now is let through: the poster retries it,
    and its error shows in the webhook's attempts."""
    url = parse_url(endpoint)
    try:
        resolve(url.host, url.port or (443 if url.scheme == "https" else 80), allow)
    except FetchRefused as exc:
        raise bad_request(
            f"endpoint: {exc}. To let webhooks reach it, start the server with "
            "--fetch-allow (TIDINGS_FETCH_ALLOW) naming its address or host",
            "endpoint",
        ) from exc
    except FetchFailed:
        return


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise bad_request("events must be an array of event names", "events")
    unknown = [e for e in value if e not in EVENTS and e not in BARE_METRICS]
    if unknown:
        raise bad_request(f"unknown event {unknown[0]!r}, e.g. email_sent", "events")
    return list(dict.fromkeys(value))


def _name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise bad_request(f"name must be a string of at most {MAX_NAME} characters", "name")
    return value


def parse_id(raw: str) -> int:
    return numbers.path_id(raw, "reporting webhook")


def create(conn: Connection, workspace_id: int, values: dict[str, Any], now: int) -> dict[str, Any]:
    webhook_id = conn.execute(
        insert(reporting_webhooks).values(
            workspace_id=workspace_id,
            signing_key=secrets.token_hex(32),
            created_at=now,
            updated_at=now,
            **values,
        )
    ).inserted_primary_key[0]
    return get(conn, workspace_id, int(webhook_id))


def change(
    conn: Connection, workspace_id: int, webhook_id: int, values: dict[str, Any], now: int
) -> dict[str, Any]:
    changed = conn.execute(
        update(reporting_webhooks)
        .where(_one(workspace_id, webhook_id))
        .values(updated_at=now, **values)
    ).rowcount
    if changed != 1:
        raise not_found("reporting webhook not found")
    return get(conn, workspace_id, webhook_id)


def remove(conn: Connection, workspace_id: int, webhook_id: int) -> None:
    """Delete the webhook and the posts it still had queued."""
    conn.execute(
        delete(webhook_posts).where(
            webhook_posts.c.workspace_id == workspace_id, webhook_posts.c.webhook_id == webhook_id
        )
    )
    if conn.execute(delete(reporting_webhooks).where(_one(workspace_id, webhook_id))).rowcount != 1:
        raise not_found("reporting webhook not found")


def get(conn: Connection, workspace_id: int, webhook_id: int) -> dict[str, Any]:
    row = conn.execute(select(reporting_webhooks).where(_one(workspace_id, webhook_id))).first()
    if row is None:
        raise not_found("reporting webhook not found")
    return show(row)


def get_with_attempts(conn: Connection, workspace_id: int, webhook_id: int) -> dict[str, Any]:
    """The webhook with its latest attempts, newest first, and the outcome of the last:
    `last_attempt_at` and `last_error` (null once an attempt succeeded)."""
    shown = get(conn, workspace_id, webhook_id)
    recent = attempts(conn, webhook_id)
    shown["last_attempt_at"] = recent[0]["attempted_at"] if recent else None
    shown["last_error"] = recent[0]["error"] if recent else None
    shown["recent_attempts"] = recent
    return shown


def attempts(
    conn: Connection, webhook_id: int, limit: int = RECENT_ATTEMPTS
) -> list[dict[str, Any]]:
    """The webhook's posts last attempted most recently: each with its state (queued:
    to be retried, or being attempted; sent; failed), how many attempts it took so
    far, and the error of its latest attempt."""
    rows = conn.execute(
        select(
            webhook_posts.c.id,
            webhook_posts.c.state,
            webhook_posts.c.attempts,
            webhook_posts.c.last_attempt_at,
            webhook_posts.c.last_error,
        )
        .where(
            webhook_posts.c.webhook_id == webhook_id, webhook_posts.c.last_attempt_at.is_not(None)
        )
        .order_by(webhook_posts.c.last_attempt_at.desc(), webhook_posts.c.id.desc())
        .limit(limit)
    )
    return [
        {
            "post_id": row.id,
            "state": row.state,
            "attempts": row.attempts,
            "attempted_at": row.last_attempt_at,
            "error": row.last_error,
        }
        for row in rows
    ]


def list_all(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(reporting_webhooks)
        .where(reporting_webhooks.c.workspace_id == workspace_id)
        .order_by(reporting_webhooks.c.id)
    )
    return [show(row) for row in rows]


def show(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "endpoint": row.endpoint,
        "events": msgspec.json.decode(row.events),
        "disabled": bool(row.disabled),
        "full_resolution": bool(row.full_resolution),
        "with_content": bool(row.with_content),
        "signing_key": row.signing_key,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _one(workspace_id: int, webhook_id: int) -> Any:
    return (reporting_webhooks.c.workspace_id == workspace_id) & (
        reporting_webhooks.c.id == webhook_id
    )
