"""Dynamic segments: a condition whose members are kept in `segment_members`.

Use cases (all take `conn` and never commit; the caller's transaction makes a
membership change and its activity rows durable together):

- `create_segment` / `update_segment`: `POST /v1/segments` with `conditions`
  (our extension; without it the segment is manual) and `PUT /v1/segments/{id}`.
  A new condition leaves the segment `build_queued`; the caller enqueues a build.
- `build_step`: the full computation, one chunk of people per transaction
  (the segment worker's); `build_segment` all of it in one. For each chunk,
  one SQL query (compile.where_clause) finds who enters and one who leaves.
- `refresh_people`: after some people's data changed, re-evaluate only them
  against every finished dynamic segment of their workspace.
- `refresh_time_windows`: conditions with relative time windows change with the
  clock alone; the people whose rows crossed a window's edge are re-evaluated
  (`segments/windows.py`), and a segment whose window cannot be followed so is
  queued for a build again (`build_step`'s chunks), with those referring to it.

Every entry and exit appends an activity to `events` (type `segment_enter` /
`segment_exit`, name = the segment id, data `{"segment_id", "segment_name"}`,
timestamp `now`), which the condition language never reads (it only looks at
event, page and screen activities). Manual segments are never touched here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, func, insert, literal, not_, select, update

from tidings.activity import stream
from tidings.db.schema import events, people, segment_members, segments
from tidings.errors import bad_request
from tidings.jobs.lease import skip_locked
from tidings.segments import compile, service, windows
from tidings.segments.conditions import (
    And,
    Attribute,
    Condition,
    Event,
    InSegment,
    Not,
    Or,
    parse,
)

CHUNK = 5000  # people per statement (an IN list)
BUILD_CHUNK = 5000  # people per transaction of a build (`build_step`)
BUILDING = ("build_queued", "build")  # a dynamic segment's states until its build ends
CONDITIONS_PATH = "segment.conditions"


@dataclass(frozen=True)
class Changes:
    """How many people entered and left a segment in one build or refresh."""

    entered: int = 0
    exited: int = 0

    def __add__(self, other: Changes) -> Changes:
        return Changes(self.entered + other.entered, self.exited + other.exited)


def create_segment(conn: Connection, workspace_id: int, body: Any, now: int) -> dict[str, Any]:
    """`POST /v1/segments`: a manual segment, or with `conditions` a dynamic one.

    A dynamic segment starts `build_queued` with progress 0 and no members;
    the caller enqueues `build_segment` in the same transaction.
    """
    fields = service.parse_spec(body)
    if "conditions" not in fields:
        return service.create_manual(conn, workspace_id, body, now)
    fields["conditions"] = _condition_text(fields["conditions"])
    result = conn.execute(
        insert(segments).values(
            workspace_id=workspace_id,
            type="dynamic",
            state="build_queued",
            progress=0,
            created_at=now,
            updated_at=now,
            **fields,
        )
    )
    (segment_id,) = result.inserted_primary_key
    return service.get(conn, workspace_id, segment_id)


def update_segment(
    conn: Connection, workspace_id: int, segment_id: int, body: Any, now: int
) -> dict[str, Any]:
    """`PUT /v1/segments/{id}` (our extension): change name, description, tags, conditions.

    Only the given fields change. A different condition sets the segment back
    to `build_queued` (members stay until the build replaces them); the same
    condition, however written, changes nothing. Manual segments take no
    conditions, and a segment cannot refer to itself.
    """
    row = service.row_of(conn, workspace_id, segment_id)
    fields = service.parse_spec(body, partial=True)
    if "conditions" in fields:
        if row.type != "dynamic":
            raise bad_request(
                f"{CONDITIONS_PATH}: a manual segment has no conditions", CONDITIONS_PATH
            )
        text = _condition_text(fields.pop("conditions"), segment_id)
        if msgspec.json.decode(text) != msgspec.json.decode(row.conditions):
            fields.update(conditions=text, state="build_queued", progress=0)
    if fields:
        conn.execute(
            update(segments).where(segments.c.id == segment_id).values(updated_at=now, **fields)
        )
    return service.get(conn, workspace_id, segment_id)


def _condition_text(raw: Any, segment_id: int | None = None) -> str:
    """Validated condition JSON as stored; a 400 naming `segment.conditions...` otherwise."""
    condition = parse(raw, CONDITIONS_PATH)
    if segment_id is not None and segment_id in referenced_segments(condition):
        raise bad_request(f"{CONDITIONS_PATH}: a segment cannot refer to itself", CONDITIONS_PATH)
    return msgspec.json.encode(raw).decode()


def has_time_window(condition: Condition) -> bool:
    """True when the condition's answer can change with the clock alone.

    That is any `within_last`: on an attribute, on an event, or on an event's
    data key. Absolute dates (`before`, `after`, `between`) never move.
    """
    if isinstance(condition, And | Or):
        return any(has_time_window(item) for item in condition.items)
    if isinstance(condition, Not):
        return has_time_window(condition.item)
    if isinstance(condition, Attribute):
        return condition.test.operator == "within_last"
    if isinstance(condition, Event):
        return condition.within_last is not None or any(
            has_time_window(test) for test in condition.where
        )
    return False


def referenced_segments(condition: Condition) -> set[int]:
    """The ids of the segments the condition asks about (`{"segment": {"id": ...}}`)."""
    if isinstance(condition, And | Or):
        return set().union(*(referenced_segments(item) for item in condition.items))
    if isinstance(condition, Not):
        return referenced_segments(condition.item)
    if isinstance(condition, InSegment):
        return {condition.id}
    return set()


def referring_to(conn: Connection, workspace_id: int, segment_id: int) -> list[dict[str, Any]]:
    """The workspace's other data-driven segments whose conditions ask about membership
    of segment `segment_id` (`{"segment": {"id": ...}}`), as `{id, name}` by id."""
    return [
        {"id": row.id, "name": row.name}
        for row in _dynamic_rows(conn, workspace_id, finished_only=False)
        if row.id != segment_id and segment_id in referenced_segments(_condition(row))
    ]


def build_segment(conn: Connection, workspace_id: int, segment_id: int, now: int) -> Changes:
    """Compute a dynamic segment's members from scratch, all in the caller's transaction.

    What `build_step` does a chunk at a time, over the whole workspace at once:
    for callers that need the segment current when they commit (tests, small
    workspaces). Only the differences are written, so
    running a build twice changes nothing the second time. Ends `finished`
    with `built_at = now`. A segment that is gone or manual is left alone (a
    queued build may outlive its segment).
    """
    row = _dynamic(conn, workspace_id, segment_id)
    if row is None:
        return Changes()
    changes = _build_range(conn, row, None, None, now)
    _finished(conn, segment_id, now)
    return changes


@dataclass(frozen=True)
class Step:
    """What one `build_step` did: the changes of its chunk, and whether the build ended."""

    changes: Changes
    finished: bool


def build_step(
    conn: Connection, workspace_id: int, segment_id: int, now: int, chunk: int | None = None
) -> Step | None:
    """Build the next chunk of `chunk` people (`BUILD_CHUNK`) of a queued or running build.

    The segment worker calls this in a transaction of its own per chunk, so no
    transaction spans a whole workspace. The chunk is the people after
    `build_cursor` in key order (from the first person when the segment is
    `build_queued`: a new build, or a changed condition that restarts one);
    their entries and exits are applied with their activities, and the cursor
    moves on, in this one transaction: a build that stops resumes after the
    last chunk committed, and nobody enters or leaves twice. The last chunk
    has no upper bound (people created meanwhile are in it) and ends the
    build `finished`. `built_at` is the time of the first chunk: a
    time-window refresh then looks at everything that crossed a window
    since the earliest evaluation.

    A person changed in a chunk already built is re-evaluated after the build:
    `dirty.take` leaves the marks of a workspace with a build running until
    it finishes. A segment whose condition refers to another that is still
    building (and comes first in `_ordered`: a cycle does not wait on itself)
    waits for it, so its chunks read that segment's new members. None when
    the segment is not building (finished, gone, manual), waits so, or, on
    PostgreSQL, another worker is building a chunk of it (its row is locked:
    skipped, not waited for).
    """
    query = select(segments).where(
        segments.c.workspace_id == workspace_id,
        segments.c.id == segment_id,
        segments.c.type == "dynamic",
        segments.c.state.in_(BUILDING),
    )
    row = conn.execute(skip_locked(query)).first()
    if row is None or _waits(conn, row):
        return None
    fresh = row.state == "build_queued"
    after = None if fresh else row.build_cursor
    started = now if fresh or row.built_at is None else row.built_at
    upto = _chunk_end(conn, workspace_id, after, chunk or BUILD_CHUNK)
    changes = _build_range(conn, row, after, upto, now)
    if upto is None:
        _finished(conn, segment_id, started)
        return Step(changes, finished=True)
    conn.execute(
        update(segments)
        .where(segments.c.id == segment_id)
        .values(
            state="build",
            build_cursor=upto,
            built_at=started,
            progress=_percent(conn, workspace_id, upto),
        )
    )
    return Step(changes, finished=False)


def _waits(conn: Connection, row: Any) -> bool:
    """Whether a segment `row`'s condition refers to is building and comes before it."""
    refs = referenced_segments(_condition(row))
    if not refs:
        return False
    order = [other.id for other in _ordered(_dynamic_rows(conn, row.workspace_id, False))]
    first = set(order[: order.index(row.id)]) & refs
    if not first:
        return False
    query = select(segments.c.id).where(segments.c.id.in_(first), segments.c.state.in_(BUILDING))
    return conn.execute(query.limit(1)).first() is not None


def _chunk_end(conn: Connection, workspace_id: int, after: int | None, size: int) -> int | None:
    """The key of the last person of the chunk after `after`; None: the chunk is the rest."""
    query = select(people.c.id).where(people.c.workspace_id == workspace_id)
    if after is not None:
        query = query.where(people.c.id > after)
    query = query.order_by(people.c.id).offset(size - 1).limit(1)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def _build_range(
    conn: Connection, row: Any, after: int | None, upto: int | None, now: int
) -> Changes:
    """Apply the entries and exits of the people with keys in `(after, upto]` (None:
    no bound).

    Entrants (matching people who are not members) and leavers (members who no
    longer match) are each found by one SQL query over the range. The whole
    workspace is read in sets (`compile.where_clause`'s `sets`: one pass over
    each condition's index range); a chunk with a bound by per-person probes,
    whose cost follows the chunk's size, where a set would be read whole for
    every chunk. On PostgreSQL the queries need current planner statistics:
    right after a bulk load, before autovacuum has analyzed the tables, the
    planner may choose quadratic nested loops.
    """
    whole = after is None and upto is None
    clause = compile.where_clause(_condition(row), row.workspace_id, now, sets=whole)
    in_range = [people.c.id > after] if after is not None else []
    if upto is not None:
        in_range.append(people.c.id <= upto)
    is_member = (
        select(segment_members.c.person_id)
        .where(segment_members.c.segment_id == row.id)
        .where(segment_members.c.person_id == people.c.id)
        .exists()
    )
    entering = select(people.c.id).where(
        people.c.workspace_id == row.workspace_id, *in_range, clause, not_(is_member)
    )
    held = segment_members.alias("held")  # the condition may read segment_members too
    leaving = (
        select(people.c.id)
        .join(held, held.c.person_id == people.c.id)
        .where(held.c.segment_id == row.id, *in_range, not_(clause))
    )
    entrants = list(conn.execute(entering.order_by(people.c.id)).scalars())
    leavers = list(conn.execute(leaving.order_by(people.c.id)).scalars())
    return _apply(conn, row, entrants, leavers, now)


def _finished(conn: Connection, segment_id: int, built_at: int) -> None:
    conn.execute(
        update(segments)
        .where(segments.c.id == segment_id)
        .values(state="finished", progress=None, built_at=built_at, build_cursor=None)
    )


def _percent(conn: Connection, workspace_id: int, upto: int) -> int:
    """How far through the workspace's person keys `upto` is, 0-99 (an estimate)."""
    keys = select(func.min(people.c.id), func.max(people.c.id)).where(
        people.c.workspace_id == workspace_id
    )
    low, high = conn.execute(keys).one()
    if low is None or high <= low:
        return 0
    return max(0, min(99, int((upto - low) * 100 // (high - low))))


def refresh_people(
    conn: Connection, workspace_id: int, person_pks: Iterable[int], now: int
) -> Changes:
    """Re-evaluate some people against every finished dynamic segment of the workspace.

    For after a write changed these people's attributes, events, devices,
    relationships or manual memberships. One query per segment and chunk of
    people; pks of people since deleted (or of another workspace) match
    nothing and hold no membership, so they are skipped. Segments still
    `build_queued` are left to their build. Segments are visited so that one
    a condition refers to comes first, so `{"segment": ...}` sees fresh members.
    """
    pks = _alive(conn, workspace_id, sorted(set(person_pks)))
    total = Changes()
    for row in _ordered(_dynamic_rows(conn, workspace_id, finished_only=True)):
        clause = compile.where_clause(_condition(row), workspace_id, now)
        for chunk in _chunks(pks):
            matching = set(
                conn.execute(select(people.c.id).where(people.c.id.in_(chunk), clause)).scalars()
            )
            held = set(
                conn.execute(
                    select(segment_members.c.person_id).where(
                        segment_members.c.segment_id == row.id,
                        segment_members.c.person_id.in_(chunk),
                    )
                ).scalars()
            )
            total += _apply(conn, row, sorted(matching - held), sorted(held - matching), now)
    return total


def _alive(conn: Connection, workspace_id: int, pks: Sequence[int]) -> list[int]:
    """The pks that are still people of this workspace, in order."""
    found: list[int] = []
    for chunk in _chunks(pks):
        query = select(people.c.id).where(
            people.c.workspace_id == workspace_id, people.c.id.in_(chunk)
        )
        found.extend(conn.execute(query.order_by(people.c.id)).scalars())
    return found


def refresh_time_windows(conn: Connection, workspace_id: int, now: int) -> list[int]:
    """Bring segments whose membership moves with the clock up to `now`.

    For each finished segment with a relative window, the people whose rows
    crossed a window edge since the segment was last brought up to date
    (`built_at`) are found (`windows.crossed`) and re-evaluated with
    `refresh_people`, which also updates the segments that refer to it. A
    window `crossed` cannot follow (on an event's data key) means a full
    build: the segment and those referring to it (at any remove) are set
    back to `build_queued`, and the segment worker builds them a chunk per
    transaction (`build_step`), each after those it refers to; meanwhile
    they keep their members, and `dirty.take` holds the workspace's marks.
    Such a segment is queued again only once it and all those are finished:
    the next window waits for a rebuild still going. Meant to run every few
    seconds; returns the ids of the segments brought up to date or queued.
    """
    everyone = _dynamic_rows(conn, workspace_id, finished_only=False)
    rows = _ordered([row for row in everyone if row.state == "finished"])
    windowed = [row for row in rows if has_time_window(_condition(row))]
    candidates: set[int] = set()
    unfollowed: list[int] = []
    for row in windowed:
        since = row.built_at if row.built_at is not None else now
        found = windows.crossed(conn, workspace_id, _condition(row), since, now)
        if found is None:
            unfollowed.append(row.id)
        else:
            candidates |= found
    queued = _queue_rebuilds(conn, everyone, unfollowed)
    refresh_people(conn, workspace_id, candidates, now)  # finished segments only
    followed = [row.id for row in windowed if row.id not in unfollowed]
    if followed:
        conn.execute(update(segments).where(segments.c.id.in_(followed)).values(built_at=now))
    return followed + queued


def _queue_rebuilds(conn: Connection, everyone: list[Any], unfollowed: list[int]) -> list[int]:
    """Set segments `unfollowed` and those referring to them back to `build_queued`,
    each group only if all of it is finished; the ids queued, in order."""
    referrers: dict[int, set[int]] = {}
    for row in everyone:
        for ref in referenced_segments(_condition(row)):
            referrers.setdefault(ref, set()).add(row.id)
    finished = {row.id for row in everyone if row.state == "finished"}
    queued: list[int] = []
    for segment_id in unfollowed:
        group = _closure(segment_id, referrers)
        if group <= finished:
            queued.extend(sorted(group - set(queued)))
    if queued:
        conn.execute(
            update(segments)
            .where(segments.c.id.in_(queued))
            .values(state="build_queued", progress=0, build_cursor=None)
        )
    return queued


def _closure(segment_id: int, referrers: dict[int, set[int]]) -> set[int]:
    """The segment and every segment that refers to it, directly or through others."""
    found = {segment_id}
    todo = [segment_id]
    while todo:
        for other in referrers.get(todo.pop(), set()) - found:
            found.add(other)
            todo.append(other)
    return found


def _dynamic(conn: Connection, workspace_id: int, segment_id: int) -> Any:
    return conn.execute(
        select(segments).where(
            segments.c.workspace_id == workspace_id,
            segments.c.id == segment_id,
            segments.c.type == "dynamic",
        )
    ).first()


def _dynamic_rows(conn: Connection, workspace_id: int, finished_only: bool) -> list[Any]:
    query = select(segments).where(
        segments.c.workspace_id == workspace_id, segments.c.type == "dynamic"
    )
    if finished_only:
        query = query.where(segments.c.state == "finished")
    return list(conn.execute(query.order_by(segments.c.id)))


def _condition(row: Any) -> Condition:
    return parse(msgspec.json.decode(row.conditions), CONDITIONS_PATH)


def _ordered(rows: list[Any]) -> list[Any]:
    """Segments so that those a condition refers to come before it (cycles: by id)."""
    by_id = {row.id: row for row in rows}
    done: dict[int, Any] = {}
    visiting: set[int] = set()

    def visit(row: Any) -> None:
        if row.id in done or row.id in visiting:
            return
        visiting.add(row.id)
        for ref in sorted(referenced_segments(_condition(row))):
            if ref in by_id:
                visit(by_id[ref])
        done[row.id] = row

    for row in rows:
        visit(row)
    return list(done.values())


def _apply(
    conn: Connection, row: Any, entrants: Sequence[int], leavers: Sequence[int], now: int
) -> Changes:
    """Insert entrants and delete leavers in chunks, each with its activity row.

    Each chunk is one INSERT ... SELECT (or DELETE) keyed by an IN list of
    `CHUNK` pks: a few statements per 5,000 people, within both stores'
    parameter limits, rather than one row per parameter set.
    """
    for chunk in _chunks(entrants):
        rows = select(literal(row.id), people.c.id, literal(row.workspace_id), literal(now))
        columns = ["segment_id", "person_id", "workspace_id", "added_at"]
        conn.execute(
            insert(segment_members).from_select(columns, rows.where(people.c.id.in_(chunk)))
        )
        _activities(conn, row, chunk, "segment_enter", now)
    for chunk in _chunks(leavers):
        conn.execute(
            delete(segment_members).where(
                segment_members.c.segment_id == row.id, segment_members.c.person_id.in_(chunk)
            )
        )
        _activities(conn, row, chunk, "segment_exit", now)
    return Changes(len(entrants), len(leavers))


def _activities(conn: Connection, row: Any, pks: Sequence[int], kind: str, now: int) -> None:
    """Each person's entry or exit in their activity log, published on the stream
    (campaigns triggered by the segment listen there)."""
    data = msgspec.json.encode({"segment_id": row.id, "segment_name": row.name}).decode()
    values = [row.workspace_id, kind, str(row.id), now, now, data]
    rows = select(people.c.id, *(literal(v) for v in values)).where(people.c.id.in_(pks))
    columns = ["person_id", "workspace_id", "type", "name", "timestamp", "received_at", "data"]
    conn.execute(insert(events).from_select(columns, rows))
    appended = [(row.workspace_id, pk, None, kind, str(row.id), now, now, data) for pk in pks]
    stream.publish(conn, row.workspace_id, pks, now, appended)


def _chunks(items: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
