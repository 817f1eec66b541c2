"""Running totals of campaign, broadcast and newsletter messages, for reports that must
not read every message.

`message_totals` holds, per parent (a campaign, broadcast or newsletter, one
of its actions, a newsletter's content) and name, how many of its messages
were `created` and how many reached each metric, each message counted once
per metric; and, per action, how many journey steps `reached` it. Each count
is added in the transaction that made the message, recorded the metric or
took the step, so the totals are exact whenever they are read
(`campaigns/metrics.totals`, the UI's campaign pages). Migration 0023 summed
what was there before.

Each statement adds to rows in one order (by scope, then id), so two
transactions touching the same rows wait rather than deadlock; a transaction
that counts many messages defers its counts to the end of a
`db.counters.deferred` block, which makes them all in that order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from tidings.db import counters, raw
from tidings.db.schema import message_totals

# The columns of `deliveries` that name a message's parents, and the scope each names.
PARENTS = (
    ("campaign_id", "campaign"),
    ("broadcast_id", "broadcast"),
    ("newsletter_id", "newsletter"),
    ("action_id", "action"),
    ("content_id", "content"),
)
# The metrics totalled: those `campaigns/metrics` reports, with `dropped` (shown as
# `suppressed`), but not `created`, counted when a message is made.
METRICS = frozenset(
    {
        "attempted", "bounced", "clicked", "converted", "deferred", "delivered", "drafted",
        "dropped", "failed", "human_clicked", "human_opened", "opened", "prefetch_clicked",
        "prefetch_opened", "sent", "spammed", "suppressed", "topic_unsubscribed",
        "undeliverable", "unsubscribed",
    }
)  # fmt: skip
_PARENTS_OF = (
    "SELECT campaign_id, broadcast_id, newsletter_id, action_id, content_id FROM deliveries"
    " WHERE id = {0} AND workspace_id = {0}"
)
_ADD = (
    "INSERT INTO message_totals (workspace_id, scope, scope_id, name, count)"
    " VALUES ({0}, {0}, {0}, {0}, {0}) ON CONFLICT (scope, scope_id, name)"
    " DO UPDATE SET count = message_totals.count + excluded.count"
)


def scopes(parents: dict[str, Any]) -> list[tuple[str, int]]:
    """The (scope, id) pairs a message with these `PARENTS` columns counts in: its
    campaign, broadcast or newsletter, and its action (a newsletter's: its content);
    none for a transactional message, whose `content_id` names a transactional
    content."""
    found = [(scope, parents[column]) for column, scope in PARENTS if parents[column] is not None]
    if parents["newsletter_id"] is None:
        found = [(scope, pk) for scope, pk in found if scope != "content"]
    return sorted(found)


def parents_of(conn: Connection, workspace_id: int, delivery_id: str) -> list[tuple[str, int]]:
    """The (scope, id) pairs the message `delivery_id` counts in; none for an unknown or
    transactional one."""
    rows = raw.execute(conn, _PARENTS_OF.format(raw.mark(conn)), (delivery_id, workspace_id))
    if not rows:
        return []
    return scopes(dict(zip((column for column, _ in PARENTS), rows[0], strict=True)))


def add(conn: Connection, workspace_id: int, name: str, counted: Iterable[tuple[str, int]]) -> None:
    """One more `name` in each (scope, id) of `counted` (now, or at the end of the
    caller's `db.counters.deferred`)."""
    for scope, scope_id in sorted(counted):
        counters.add(conn, _ADD, (workspace_id, scope, scope_id, name))


def of(conn: Connection, scope: str, scope_ids: Iterable[int]) -> dict[str, int]:
    """Each name's total over the parents `scope_ids` of `scope`."""
    ids = list(scope_ids)
    if not ids:
        return {}
    rows = conn.execute(
        select(message_totals.c.name, message_totals.c.count).where(
            message_totals.c.scope == scope, message_totals.c.scope_id.in_(ids)
        )
    )
    found: dict[str, int] = {}
    for name, count in rows:
        found[name] = found.get(name, 0) + int(count)
    return found


def reached(conn: Connection, action_ids: Iterable[int]) -> dict[int, int]:
    """How many journey steps reached each action."""
    ids = list(action_ids)
    rows = conn.execute(
        select(message_totals.c.scope_id, message_totals.c.count).where(
            message_totals.c.scope == "action",
            message_totals.c.scope_id.in_(ids),
            message_totals.c.name == "reached",
        )
    )
    return {int(pk): int(count) for pk, count in rows}
