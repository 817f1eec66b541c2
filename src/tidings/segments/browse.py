"""Reads for browsing segments (the web UI): pages of segments, bounded member counts,
and a time-boxed count of the people a condition matches.

Every read here stays fast on a large store: segments are keyset-paged on
their id, a member count stops at a cap (`count` is then `cap` and `more` is
true, shown as "more than N"), and a live count of a condition walks the
workspace's people in chunks of their row id, checking its time budget
between chunks, so it answers "at least N" rather than scan a million people
while someone types. The condition is evaluated by `compile.where_clause`,
the same SQL that builds segments and answers the App API's search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from tidings import paging
from tidings.db.schema import people, segment_members, segments
from tidings.segments import service
from tidings.segments.compile import where_clause
from tidings.segments.conditions import Condition

COUNT_CHUNK = 10_000  # people per query of a live count
COUNT_BUDGET = 0.5  # seconds a live count may take before it answers "at least"


@dataclass(frozen=True)
class Bounded:
    """A count that stopped at a cap: `count` people, and whether there are more."""

    count: int
    more: bool


@dataclass(frozen=True)
class Matching:
    """A live count: `count` of the `checked` people matched; `complete` when every person
    of the workspace was checked (else the count is a lower bound)."""

    count: int
    checked: int
    complete: bool


def list_page(conn: Connection, workspace_id: int, page: paging.PageRequest) -> dict[str, Any]:
    """One page of the workspace's segments, oldest first, in the App API's segment shape."""
    query = select(segments).where(segments.c.workspace_id == workspace_id)
    if page.after is not None:
        query = query.where(segments.c.id > page.after[0])
    rows = conn.execute(query.order_by(segments.c.id).limit(page.limit + 1)).all()
    shown, cursor = paging.cut(rows, page.limit, lambda row: (row.id,))
    return {"segments": [service.segment_json(row) for row in shown], "next": cursor}


def member_count(conn: Connection, segment_id: int, cap: int) -> Bounded:
    """How many members the segment holds, reading at most `cap + 1` index entries."""
    held = (
        select(segment_members.c.person_id)
        .where(segment_members.c.segment_id == segment_id)
        .limit(cap + 1)
        .subquery()
    )
    found = conn.execute(select(func.count()).select_from(held)).scalar_one()
    return Bounded(min(found, cap), found > cap)


def member_counts(conn: Connection, segment_ids: list[int], cap: int) -> dict[int, Bounded]:
    """`member_count` of each segment (the caller has checked they are its workspace's)."""
    return {segment_id: member_count(conn, segment_id, cap) for segment_id in segment_ids}


def count_matching(
    conn: Connection,
    workspace_id: int,
    condition: Condition,
    now: int,
    budget: float = COUNT_BUDGET,
    chunk: int = COUNT_CHUNK,
) -> Matching:
    """How many of the workspace's people match `condition` at `now`, within `budget` seconds.

    The people are taken in chunks of `chunk` by row id; after each chunk the
    elapsed time is checked, and once it passes `budget` the count stops there
    (`complete` false). At least one chunk is always counted.
    """
    clause = where_clause(condition, workspace_id, now)
    started = time.monotonic()
    count = checked = 0
    after = 0
    while True:
        ids = (
            select(people.c.id)
            .where(people.c.workspace_id == workspace_id, people.c.id > after)
            .order_by(people.c.id)
            .limit(chunk)
            .subquery()
        )
        size, last = conn.execute(select(func.count(), func.max(ids.c.id))).one()
        if size == 0:
            return Matching(count, checked, True)
        in_chunk = (people.c.workspace_id == workspace_id, people.c.id > after, people.c.id <= last)
        count += conn.execute(
            select(func.count()).select_from(people).where(*in_chunk, clause)
        ).scalar_one()
        checked += size
        after = last
        if size < chunk:
            return Matching(count, checked, True)
        if time.monotonic() - started >= budget:
            return Matching(count, checked, False)
