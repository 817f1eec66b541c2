"""A person's timeline: everything that happened to one person, newest first, in one list.

It merges two stores:

- the activity log (`events`): events, page and screen views, attribute
  changes (`attribute_change`, data `{"attributes": {name: {from, to}}}`),
  segment entries and exits (`segment_enter` / `segment_exit`, written by
  `segments/membership.py`), form submissions and the rest, each with its
  decoded `data`;
- the person's messages (`deliveries`, drafts left out as `/v1/messages`
  leaves them out), with their channel, state, the metrics they reached
  (`reporting.messages.first_times`) and the names of their transactional
  message and of their campaign, broadcast or newsletter.

Order: `(time, kind, id)` descending, where an activity's time is its
`timestamp` and a message's its `created_at`; at equal times messages come
before activities (kind 1 before kind 0), and ids break the remaining ties.
The order is total, so the list is keyset-paged on that triple without gaps
or duplicates, whatever arrives while someone pages: each store is read with
the same bound, `limit + 1` rows each, and the two are merged in Python.

Cost: a person's activities are read through the person index
`(person_id, name, timestamp)` and sorted (no second person-keyed index on
`events`: each costs ingest a random page write per event, docs/benchmarks.md),
so a page costs in proportion to that person's activity count, as
`GET /v1/customers/{id}/activities` does; messages through
`(person_id, created_at)` (migration 0017), in order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, Select, and_, func, or_, select

from tidings.db.schema import campaigns, deliveries, events, transactional_messages
from tidings.errors import bad_request
from tidings.numbers import is_digits
from tidings.reporting.messages import first_times

ACTIVITY, MESSAGE = 0, 1  # the kind's place at equal times: messages first (descending)
# Metrics in the order a message goes through them: at equal times, the later one shows.
PROGRESS = ("sent", "delivered", "opened", "clicked", "converted")


@dataclass(frozen=True)
class After:
    """Where a page starts: after the entry with this time, kind and id."""

    at: int
    kind: int
    id: str


def timeline(
    conn: Connection, workspace_id: int, person_pk: int, limit: int, after: After | None = None
) -> dict[str, Any]:
    """`{"entries": [...], "next": cursor or ""}`: one page of the person's timeline.

    An entry is `{"kind", "id", "timestamp", "name", "data"}`; `kind` is the
    activity's type or `"message"`, and a message adds `channel`, `status`,
    `template` and `campaign` (names, or None).
    """
    rows = _activities(conn, workspace_id, person_pk, limit, after)
    rows += _messages(conn, workspace_id, person_pk, limit, after)
    rows.sort(key=lambda row: (row[0], row[1], row[2]), reverse=True)
    page = rows[:limit]
    following = _encode(page[-1][:3]) if len(rows) > limit else ""
    metrics = first_times(conn, workspace_id, [r[2] for r in page if r[1] == MESSAGE])
    return {"entries": [_entry(row, metrics) for row in page], "next": following}


def _activities(
    conn: Connection, workspace_id: int, person_pk: int, limit: int, after: After | None
) -> list[tuple[Any, ...]]:
    c = events.c
    query = select(c.timestamp, c.id, c.type, c.name, c.data).where(
        c.workspace_id == workspace_id, c.person_id == person_pk
    )
    query = _bounded(query, c.timestamp, c.id, ACTIVITY, after)
    query = query.order_by(c.timestamp.desc(), c.id.desc()).limit(limit + 1)
    return [(r.timestamp, ACTIVITY, r.id, r) for r in conn.execute(query)]


def _messages(
    conn: Connection, workspace_id: int, person_pk: int, limit: int, after: After | None
) -> list[tuple[Any, ...]]:
    c = deliveries.c
    parent = func.coalesce(c.campaign_id, c.broadcast_id, c.newsletter_id)
    query = (
        select(
            c.created_at,
            c.id,
            c.channel,
            c.state,
            c.recipient,
            c.subject,
            c.failure_message,
            c.transactional_message_id,
            c.campaign_id,
            c.broadcast_id,
            c.newsletter_id,
            c.action_id,
            transactional_messages.c.name.label("template"),
            campaigns.c.name.label("campaign"),
        )
        .select_from(
            deliveries.outerjoin(
                transactional_messages,
                transactional_messages.c.id == c.transactional_message_id,
            ).outerjoin(campaigns, campaigns.c.id == parent)
        )
        .where(c.workspace_id == workspace_id, c.person_id == person_pk, c.state != "draft")
    )
    query = _bounded(query, c.created_at, c.id, MESSAGE, after)
    query = query.order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)
    return [(r.created_at, MESSAGE, r.id, r) for r in conn.execute(query)]


def _bounded(query: Select, at: Any, id_: Any, kind: int, after: After | None) -> Select:  # type: ignore[type-arg]
    """Rows of this kind strictly after `after` in the timeline's descending order."""
    if after is None:
        return query
    if kind < after.kind:  # this kind comes later at the cursor's own time
        return query.where(at <= after.at)
    if kind > after.kind:
        return query.where(at < after.at)
    last = int(after.id) if kind == ACTIVITY else after.id
    return query.where(or_(at < after.at, and_(at == after.at, id_ < last)))


def _entry(row: Sequence[Any], metrics: dict[str, dict[str, int]]) -> dict[str, Any]:
    at, kind, _, r = row
    if kind == ACTIVITY:
        data = msgspec.json.decode(r.data)
        return {"kind": r.type, "id": str(r.id), "timestamp": at, "name": r.name, "data": data}
    reached = metrics.get(r.id, {})
    return {
        "kind": "message",
        "id": r.id,
        "timestamp": at,
        "name": r.subject or r.template or r.campaign or r.channel,
        "channel": r.channel,
        "status": status(r.state, reached),
        "template": r.template,
        "campaign": r.campaign,
        "data": {
            "recipient": r.recipient,
            "subject": r.subject,
            "state": r.state,
            "metrics": reached,
            "failure_message": r.failure_message,
            "transactional_message_id": r.transactional_message_id,
            "campaign_id": r.campaign_id,
            "broadcast_id": r.broadcast_id,
            "newsletter_id": r.newsletter_id,
            "action_id": r.action_id,
        },
    }


def status(state: str, reached: dict[str, int]) -> str:
    """What became of a message: the last metric it reached (at equal times, the one
    further along `PROGRESS`, and a failure such as `bounced` before any of them),
    else its delivery state (`queued`, `sent`, `failed`, `suppressed`...)."""
    if not reached:
        return state
    return max(reached, key=lambda m: (reached[m], PROGRESS.index(m) if m in PROGRESS else 9))


def _encode(key: Sequence[Any]) -> str:
    text = f"t1:{key[0]}:{key[1]}:{key[2]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> After:
    """The position a `next` cursor names; anything this module did not make is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, at, kind, id_ = raw.split(":", 3)
        valid_id = kind == str(MESSAGE) or _is_int(id_)
        if prefix != "t1" or not _is_int(at) or kind not in ("0", "1") or not valid_id:
            raise ValueError(raw)
        return After(int(at), int(kind), id_)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request("start is not a cursor this server issued", "start") from None


def _is_int(text: str) -> bool:
    """An integer a BIGINT column holds (at most 18 digits, so no overflow)."""
    digits = text.removeprefix("-")
    return is_digits(digits) and len(digits) <= 18
