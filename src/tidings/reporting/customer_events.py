"""Reporting webhooks' `customer_*` events: a person subscribed, unsubscribed, or
changed their subscription preferences.

A subscriber of the activity stream (`activity/stream.py`): every attribute
change is published there with its `attribute_change` row, whoever made it
(the unsubscribe link, Track identify, Pipelines, the App API, an import, the
UI), so this one place sees them all, in the transaction that made them.

- `unsubscribed` becoming true (`true`, `"TRUE"`, `1`, `"1"`) posts
  `customer_unsubscribed`; becoming anything else after being true posts
  `customer_subscribed` (a person first seen with `unsubscribed: false` was
  never unsubscribed: nothing);
- any change of `cio_subscription_preferences` posts
  `customer_cio_subscription_preferences_changed`, with the new preferences
  as `content` for webhooks that want content.

The body is the reference's `customer_event_common`: `event_id`,
`object_type` `customer` (the change is not traced back to the message that
caused it, which the reference allows: "or we can't determine which
message"), `metric`, `timestamp` (the change's) and `data` with
`customer_id`, `email_address` and `identifiers`. Cheap when nothing
changes those attributes: rows are screened as text before anything is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection

from tidings.activity.stream import Activity
from tidings.attributes import is_truthy_flag
from tidings.reporting import fanout

PREFERENCES = "cio_subscription_preferences"
_WATCHED = ('"unsubscribed"', f'"{PREFERENCES}"')


def on_activity(conn: Connection, activity: Activity) -> None:
    """Queue the `customer_*` posts the activity's attribute changes call for."""
    found = [(row, metric) for row in activity.rows for metric in _metrics(row)]
    if not found:
        return
    hooks = fanout.enabled_webhooks(conn, activity.workspace_id)
    for row, (metric, content) in found:
        wanting = [h for h in hooks if fanout.subscribed(h, "customer", metric)]
        if not wanting:
            continue
        body = event(conn, row[1], metric, int(row[5]))
        now = int(row[6]) if activity.now is None else activity.now
        for hook in wanting:
            data = dict(body["data"])
            if hook.with_content and content is not None:
                data["content"] = content
            fanout.enqueue(conn, activity.workspace_id, hook.id, {**body, "data": data}, now)


def event(conn: Connection, person_pk: int | None, metric: str, timestamp: int) -> dict[str, Any]:
    """A `customer_*` event's body (content, when wanted, is added per webhook)."""
    person = fanout.person_data(conn, person_pk)
    data = {**person, "email_address": person["identifiers"]["email"]}
    return {
        "event_id": fanout.event_id(),
        "object_type": "customer",
        "metric": metric,
        "timestamp": timestamp,
        "data": data,
    }


def _metrics(row: Sequence[Any]) -> Iterator[tuple[str, str | None]]:
    """(metric, content) for each `customer_*` event an activity row calls for."""
    if row[3] != "attribute_change" or row[1] is None:
        return
    text = row[7] if isinstance(row[7], str) else ""
    if not any(watched in text for watched in _WATCHED):
        return
    changes = msgspec.json.decode(text).get("attributes")
    if not isinstance(changes, dict):
        return
    flag = changes.get("unsubscribed")
    if isinstance(flag, dict):
        before, after = is_truthy_flag(flag.get("from")), is_truthy_flag(flag.get("to"))
        if before != after:
            yield ("unsubscribed" if after else "subscribed"), None
    preferences = changes.get(PREFERENCES)
    if isinstance(preferences, dict):
        to = preferences.get("to")
        yield "cio_subscription_preferences_changed", to if isinstance(to, str) else None
