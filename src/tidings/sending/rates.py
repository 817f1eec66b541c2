"""Send rate limits on campaign messages, held in every window: at most N in any `per`.

A limit is N messages per `per` seconds, for a workspace's campaigns and
broadcasts together (`workspace_limits`) or for one campaign (its
definition's `send_rate`); transactional messages are exempt (CAMPAIGNS.md
3.9).

Messages under a limit are spaced by its interval `I = per / N`, so no
window of length `per`, wherever it starts, holds more than N of them. (A
burst allowance, as the generic cell rate algorithm has, lets up to 2N into
one window that straddles the burst; a bucket per second lets 2N through
across a second's edge.) Two halves keep the spacing:

- `gate`, in the transaction that claims a batch (`delivery_queue.claim`),
  reserves each message's slot: the limit's row (`send_rates`, locked `FOR
  UPDATE`, so concurrent workers take turns) holds the earliest time its
  next message may go, `next_at`; a message gets `slot = max(next_at, now)`
  and moves `next_at` to `slot + I`. A message whose slot is further away
  than the worker's horizon goes back to the queue, due then, without
  counting an attempt or taking the slot.
- `Pacer`, in the delivery worker, starts each send at its slot or later,
  and at least `I` after the previous start of the same limit, so lateness
  of one send (a busy event loop) never bunches the next up against it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tidings.db.schema import campaigns, send_rates, workspace_limits


@dataclass(frozen=True)
class Limit:
    key: str  # "w<workspace id>" or "c<campaign id>"
    messages: int
    per: int  # seconds

    @property
    def interval(self) -> float:
        return self.per * 1000 / self.messages


@dataclass(frozen=True)
class Rated:
    """What `gate` needs of a claimed delivery."""

    id: str
    workspace_id: int
    campaign_id: int | None  # or broadcast: the parent whose limit applies


@dataclass(frozen=True)
class Slot:
    """When a claimed message may go, and the limits it is paced by."""

    at: float  # the clock's seconds
    limits: tuple[Limit, ...]


def gate(
    conn: Connection, items: Sequence[Rated], now: float, horizon: float
) -> tuple[dict[str, Slot], dict[str, int]]:
    """(slots of the rated deliveries taken now, the second each of the others may go
    at: those whose slot is more than `horizon` seconds away).

    Deliveries without a campaign, and campaigns without limits (in workspaces
    without one), pass without a write or a slot.
    """
    rated = [item for item in items if item.campaign_id is not None]
    if not rated:
        return {}, {}
    limits = _limits(conn, rated)
    if not any(limits.values()):
        return {}, {}
    keys = sorted({limit.key for found in limits.values() for limit in found})
    next_at = _next_at(conn, keys, now * 1000)
    slots: dict[str, Slot] = {}
    later: dict[str, int] = {}
    for item in rated:
        found = limits[item.id]
        if not found:
            continue
        slot = max([now * 1000, *(next_at[limit.key] for limit in found)])
        if slot - now * 1000 > horizon * 1000:
            later[item.id] = math.ceil(slot / 1000)
            continue
        for limit in found:
            next_at[limit.key] = slot + limit.interval
        slots[item.id] = Slot(slot / 1000, tuple(found))
    for key in keys:
        value = int(math.ceil(next_at[key]))
        conn.execute(update(send_rates).where(send_rates.c.key == key).values(tat=value))
    return slots, later


class Pacer:
    """Starts of one worker's rated sends: at their slot or later, and at least one
    interval after the previous start of each of their limits. Single event loop."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}  # limit key -> when its last send started
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, slot: Slot) -> None:
        locks = [self._locks.setdefault(limit.key, asyncio.Lock()) for limit in slot.limits]
        for lock in locks:  # slot.limits is in key order: no two waits lock in turn
            await lock.acquire()
        try:
            due = max(
                [slot.at]
                + [
                    self._last.get(limit.key, -math.inf) + limit.interval / 1000
                    for limit in slot.limits
                ]
            )
            # Until the clock reaches `due` (a timer may fire a little early: look
            # again), but no longer than the gap and a little more on the loop's own
            # clock, so a clock that only moves when told to (tests) cannot hold it.
            loop = asyncio.get_running_loop()
            give_up = loop.time() + max(0.0, due - self._clock.now()) + 0.05
            while (left := due - self._clock.now()) > 0 and loop.time() < give_up:
                await asyncio.sleep(min(left, give_up - loop.time()))
            started = max(due, self._clock.now())
            for limit in slot.limits:
                self._last[limit.key] = started
        finally:
            for lock in locks:
                lock.release()


def _limits(conn: Connection, items: Sequence[Rated]) -> dict[str, list[Limit]]:
    campaign_ids = sorted({item.campaign_id for item in items if item.campaign_id is not None})
    workspace_ids = sorted({item.workspace_id for item in items})
    by_campaign: dict[int, Limit] = {}
    for campaign_id, text in conn.execute(
        select(campaigns.c.id, campaigns.c.definition).where(campaigns.c.id.in_(campaign_ids))
    ):
        rate = msgspec.json.decode(text).get("send_rate")
        if rate:
            by_campaign[campaign_id] = Limit(f"c{campaign_id}", rate["messages"], rate["per"])
    by_workspace: dict[int, Limit] = {}
    for workspace_id, text in conn.execute(
        select(workspace_limits.c.workspace_id, workspace_limits.c.settings).where(
            workspace_limits.c.workspace_id.in_(workspace_ids)
        )
    ):
        rate = msgspec.json.decode(text).get("send_rate")
        if rate:
            by_workspace[workspace_id] = Limit(f"w{workspace_id}", rate["messages"], rate["per"])
    found: dict[str, list[Limit]] = {}
    for item in items:
        limits = [by_workspace.get(item.workspace_id), by_campaign.get(item.campaign_id or 0)]
        found[item.id] = sorted(
            (limit for limit in limits if limit is not None), key=lambda limit: limit.key
        )
    return found


def _next_at(conn: Connection, keys: list[str], now_ms: float) -> dict[str, float]:
    """Each limit's `next_at`, its row locked for this transaction (made when new): batches
    of other workers wait for it rather than skip it, as every one of them needs it."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    for key in keys:
        conn.execute(
            dialect.insert(send_rates).values(key=key, tat=int(now_ms)).on_conflict_do_nothing()
        )
    query = select(send_rates.c.key, send_rates.c.tat).where(send_rates.c.key.in_(keys))
    return {key: float(tat) for key, tat in conn.execute(query.with_for_update()).all()}
