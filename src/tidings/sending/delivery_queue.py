"""Deliveries as a send queue (`jobs.lease`): claim due ones with a lease, record one
terminal state.

A delivery is claimable when it is `queued` and due (`due_at`, on the
caller's clock), or `sending` with a lease that ran out (its worker died
mid-send; the lease is on the database's clock). Claiming sets
`state='sending'`, bumps `attempts` and moves `due_at` to the lease's end
with `lease_until`, so one index (state, due_at) finds both kinds. On
PostgreSQL several workers claim at once with `FOR UPDATE SKIP LOCKED`; on
SQLite one writer serialises the claims.

Every outcome is recorded only while the claim that produced it still holds
(same `attempts`, still `sending`): a worker whose lease expired cannot
overwrite what a newer claim recorded, so each delivery ends in exactly one
terminal state (sent, failed or suppressed), recorded with its metric in the
same transaction; a retry records `attempted` the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from sqlalchemy import Connection, Select, select

from tidings.db import counters, raw
from tidings.db.schema import deliveries
from tidings.jobs.lease import Leases, RetryPolicy
from tidings.reporting import totals
from tidings.reporting.metrics import Recorded, record_metric, record_metrics
from tidings.sending import rates

TERMINAL = frozenset({"sent", "failed", "suppressed"})
LEASES = Leases(deliveries, held_state="sending", lease_columns=("due_at", "lease_until"))
# Deliveries `sent_many` finishes per UPDATE (a dozen parameters each).
FINISHED_PER_UPDATE = 500


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds until its lease ends."""

    id: str
    workspace_id: int
    person_id: int | None
    channel: str
    recipient: str
    payload: str | None
    options: dict[str, Any]
    attempt: int
    expires_at: int | None
    source: str = "transactional"
    campaign_id: int | None = None  # or broadcast, newsletter: whose send rate limit applies
    slot: rates.Slot | None = None  # when a rate limit lets it go (`rates.Pacer`)
    composed: bool = False  # its payload was composed at claim time (`deliverer`), not stored
    # The (scope, id) pairs its metrics count in (`reporting/totals.scopes`), read with
    # the claim; None: not known, `record_metric` reads them.
    parents: list[tuple[str, int]] | None = None

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


_CLAIM_COLUMNS = (
    deliveries.c.id,
    deliveries.c.workspace_id,
    deliveries.c.person_id,
    deliveries.c.channel,
    deliveries.c.recipient,
    deliveries.c.payload,
    deliveries.c.options,
    deliveries.c.attempts,
    deliveries.c.expires_at,
    deliveries.c.source,
    deliveries.c.campaign_id,
    deliveries.c.broadcast_id,
    deliveries.c.newsletter_id,
    deliveries.c.action_id,
    deliveries.c.content_id,
)


def due(conn: Connection, now: int) -> bool:
    """Whether `claim` would find a delivery: a cheap look from a reading
    connection, so that an idle worker's poll takes no write transaction."""
    return any(conn.execute(query).first() is not None for query in _due(now, 1))


def _due(now: int, limit: int) -> tuple[Select[tuple[int]], Select[tuple[int]]]:
    """The deliveries whose lease ran out, then those queued and due, oldest due first.

    Two queries, each an ordered range of the (state, due_at) index that stops
    after `limit` rows. As one query with an OR, SQLite gathered every due row
    of both states and sorted them for each claim: a broadcast queues its whole
    audience at once, so every claim of 128 sorted up to 100,000 rows.
    """
    c = deliveries.c
    return (
        select(c.id).where(c.state == "sending", LEASES.expired()).order_by(c.due_at).limit(limit),
        select(c.id).where(c.state == "queued", c.due_at <= now).order_by(c.due_at).limit(limit),
    )


def claim(
    conn: Connection, now: int, lease: int, limit: int, precise: float | None = None
) -> list[Claimed]:
    """Take up to `limit` due deliveries, leased for `lease` seconds: those whose lease ran
    out first, then the queued, oldest due first (`_due`).

    Campaign messages under a send rate limit get their slot (`rates.gate`, at
    `precise`, the caller's clock with its fraction); those whose slot is
    more than a third of the lease away go back to the queue, due then,
    without counting the attempt.
    """
    rows: list[Any] = []
    for due_now in _due(now, limit):
        if len(rows) < limit:
            rows += LEASES.claim(
                conn,
                due_now.limit(limit - len(rows)),
                lease,
                _CLAIM_COLUMNS,
                state="sending",
                updated_at=now,
            )
    claimed = [_claimed(row) for row in rows]
    rated = [rates.Rated(c.id, c.workspace_id, c.campaign_id) for c in claimed]
    slots, later = rates.gate(conn, rated, now if precise is None else precise, lease / 3)
    for item in claimed:
        if item.id in later:
            values = {"state": "queued", "due_at": later[item.id], "attempts": item.attempt - 1}
            LEASES.record(conn, item.id, item.attempt, **values)
    return [replace(item, slot=slots.get(item.id)) for item in claimed if item.id not in later]


def renew(conn: Connection, claims: list[Claimed], now: int, lease: int) -> int:
    """Extend the leases of the claims still held by `lease` seconds from now; how many were.

    The worker's heartbeat: while it works on its claims they stay its own,
    and when it dies they are claimable one short lease later. A claim that
    was lost (expired and claimed again) is not touched: its `attempts` moved on.
    (`now` is the caller's clock; leases are on the database's.)
    """
    return LEASES.renew(conn, [(c.id, c.attempt) for c in claims], lease)


def _claimed(row: Any) -> Claimed:
    return Claimed(
        id=row.id,
        workspace_id=row.workspace_id,
        person_id=row.person_id,
        channel=row.channel,
        recipient=row.recipient,
        payload=row.payload,
        options=msgspec.json.decode(row.options) if row.options else {},
        attempt=row.attempts,
        expires_at=row.expires_at,
        source=row.source,
        campaign_id=row.campaign_id or row.broadcast_id or row.newsletter_id,
        parents=totals.scopes({column: getattr(row, column) for column, _ in totals.PARENTS}),
    )


def _finish(conn: Connection, claimed: Claimed, now: int, **values: Any) -> bool:
    """Set the final state while the claim holds; whether it did."""
    values = _final(claimed, now, values)
    return bool(_finish_many(conn, tuple(sorted(values)), [(claimed, values)]))


def _final(claimed: Claimed, now: int, values: dict[str, Any]) -> dict[str, Any]:
    """The columns a final state sets: `values`, the lease ended, the payload dropped
    when the send asked not to retain it."""
    values = dict(values, lease_until=None, due_at=None, updated_at=now)
    if not claimed.option("retain", True):
        values["payload"] = None
    return values


def sent(conn: Connection, claimed: Claimed, now: int, provider_message_id: str | None) -> bool:
    """Sent: the reason of an earlier transient failure is cleared with the state; a
    payload composed at send time is kept as what was sent."""
    return sent_many(conn, [(claimed, now, provider_message_id)])[0]


def _sent_values(claimed: Claimed, now: int, provider_message_id: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {"state": "sent", "failure_message": None, "sent_at": now}
    values["provider_message_id"] = provider_message_id
    if claimed.composed:
        values.update(payload=claimed.payload, recipient=claimed.recipient[:255])
    return _final(claimed, now, values)


def sent_many(conn: Connection, items: list[tuple[Claimed, int, str | None]]) -> list[bool]:
    """`sent` for many (claimed, now, provider message id): one UPDATE for the deliveries
    whose rows set the same columns (most often all of them), and their metrics
    recorded together (`record_metrics`); whether each claim held, in order."""
    shapes: dict[tuple[str, ...], list[int]] = {}
    rows = [_sent_values(*item) for item in items]
    for i, values in enumerate(rows):
        shapes.setdefault(tuple(sorted(values)), []).append(i)
    held: set[str] = set()
    for names, indexes in shapes.items():
        for start in range(0, len(indexes), FINISHED_PER_UPDATE):
            chunk = [(items[i][0], rows[i]) for i in indexes[start : start + FINISHED_PER_UPDATE]]
            held.update(_finish_many(conn, names, chunk))
    recorded = [
        Recorded(claimed.workspace_id, claimed.id, "sent", now, {}, claimed.parents)
        for claimed, now, _ in items
        if claimed.id in held
    ]
    if recorded:
        record_metrics(conn, recorded, max(now for _, now, _ in items))
    return [claimed.id in held for claimed, _, _ in items]


def _finish_many(
    conn: Connection, names: tuple[str, ...], chunk: list[tuple[Claimed, dict[str, Any]]]
) -> list[str]:
    """`_finish` for deliveries whose rows set the same columns, in one UPDATE on the
    driver; the ids whose claim held. A column NULL in every row is set to NULL in
    the statement (PostgreSQL would type a VALUES column of NULLs as text)."""
    nulls = [name for name in names if all(values[name] is None for _, values in chunk)]
    listed = [name for name in names if name not in nulls]
    rows, params = raw.values(
        conn, [(c.id, c.attempt, *(values[name] for name in listed)) for c, values in chunk]
    )
    sets = [f"{name} = v.column{n}" for n, name in enumerate(listed, 3)]
    sets += [f"{name} = NULL" for name in nulls]
    sql = (
        f"UPDATE deliveries SET {', '.join(sets)} FROM (VALUES {rows}) AS v"
        " WHERE deliveries.id = v.column1 AND deliveries.attempts = v.column2"
        f" AND deliveries.state = '{LEASES.held_state}' RETURNING id"
    )
    return [delivery_id for (delivery_id,) in raw.execute(conn, sql, params)]


def failed(conn: Connection, claimed: Claimed, now: int, reason: str) -> bool:
    if not _finish(conn, claimed, now, state="failed", failure_message=reason):
        return False
    record_metric(
        conn,
        claimed.workspace_id,
        claimed.id,
        "failed",
        now,
        {"reason": reason},
        now=now,
        parents=claimed.parents,
    )
    return True


def suppressed(conn: Connection, claimed: Claimed, now: int, reason: str) -> bool:
    if not _finish(conn, claimed, now, state="suppressed", failure_message=reason):
        return False
    record_metric(
        conn,
        claimed.workspace_id,
        claimed.id,
        "suppressed",
        now,
        {"reason": reason},
        now=now,
        parents=claimed.parents,
    )
    return True


# An outcome to record: (`sent`, `failed`, `suppressed` or `transient`, its claim, (now, ...)).
Recording = tuple[Callable[..., Any], Claimed, tuple[Any, ...]]


def record_many(conn: Connection, items: list[Recording]) -> list[Any]:
    """Record several outcomes in one transaction: `fn(conn, claimed, *args)` for each,
    each still fenced by its own claim; what each returned, in order.

    The deliveries are locked in id order first (PostgreSQL), as a heartbeat
    renewing them locks them, and their counts (`delivery_days`,
    `message_totals`) made together at the end, in key order (`db.counters`):
    workers recording or renewing overlapping batches then wait for each
    other, never deadlock.
    """
    results: list[Any] = [None] * len(items)
    in_order = sorted(range(len(items)), key=lambda i: items[i][1].id)
    sends = [i for i in in_order if items[i][0] is sent]
    LEASES.lock_in_order(conn, [(items[i][1].id, items[i][1].attempt) for i in in_order])
    with counters.deferred(conn):
        for i in in_order:
            fn, claimed, args = items[i]
            if fn is not sent:
                results[i] = fn(conn, claimed, *args)
        if sends:
            held = sent_many(conn, [(items[i][1], *items[i][2]) for i in sends])
            for i, ok in zip(sends, held, strict=True):
                results[i] = ok
    return results


def transient(conn: Connection, claimed: Claimed, now: int, reason: str, retry: RetryPolicy) -> str:
    """Retry later, or fail once `expires_at` has passed (or the policy's attempts are
    used up); the state recorded ('' if lost).

    A retry is Customer.io's `attempted` ("failed to send, but will be retried",
    CAMPAIGNS.md 7.2): each one records the metric with its reason, so reports
    count the message as attempted (once, in the period of its first retry) and
    reporting webhooks hear of it. Giving up records `failed` instead.
    """
    expired = claimed.expires_at is not None and now >= claimed.expires_at
    if expired or retry.exhausted(claimed.attempt):
        gave_up = f"gave up after {claimed.attempt} attempts: {reason}"
        return "failed" if failed(conn, claimed, now, gave_up) else ""
    due = now + retry.delay(claimed.attempt)
    if claimed.expires_at is not None:
        due = min(due, claimed.expires_at)
    values = {"state": "queued", "due_at": due, "failure_message": reason, "updated_at": now}
    if not LEASES.record(conn, claimed.id, claimed.attempt, **values):
        return ""
    record_metric(
        conn,
        claimed.workspace_id,
        claimed.id,
        "attempted",
        now,
        {"reason": reason},
        now=now,
        parents=claimed.parents,
    )
    return "queued"
