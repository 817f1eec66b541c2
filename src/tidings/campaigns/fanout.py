"""The `broadcast_fanout` job: a trigger's audience turned into journeys, chunk by chunk.

Payload: `{"trigger_id"}`. The job walks the audience from the trigger's
`position` (a filter: the last person key done; `ids`, `emails`,
`per_user_data`: entries done; a data file: the last line done) in chunks of
`audiences.CHUNK`. Each chunk is read first (no write lock held while a
filter is evaluated or a file streams in), then applied in ONE write
transaction (`apply_chunk`): its journeys (entry key `t<trigger_id>`, due
now, context `{"trigger": data merged with the person's own data}`), its
errors, `recipients_count` and the new `position`, on the condition that
`position` is still where the chunk started. A newsletter sent "in each person's
time zone" (`audience["at_local"]`, `send_times.py`) starts each journey
due at that person's time instead of now. A newsletter's A/B test
(`audience["sample"]`, `newsletter_ab.py`) starts the people in its sample
and records the others as held back, in the same chunk; its winner's send
walks those (`held_back`), each journey naming the winning `test_group`. So a crash anywhere resumes
after the last committed chunk: nobody is skipped, and nobody is started
twice (a chunk applies once; the journey key would make a second start a
no-op anyway). The lease is renewed between chunks.

Validation comes first, as Customer.io does: `ids`, `emails` and
`per_user_data` naming someone the workspace does not have, without the
matching `*_ignore_missing`, fail the trigger before anyone is started
(every missing name is listed at `/errors`). A data file is read once, as
it streams: its bad lines and missing people are per-line errors
(`line N: ...`), and the lines that name someone are sent. A data file
that cannot be downloaded fails the trigger with the reason; a transient
failure (timeout, 5xx) is retried from the checkpoint.

States: `queued` (stored), `running` (validated; fanning out), `done` or
`failed`, with `processed_at`. Broadcasts never create people.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from sqlalchemy import Connection, insert, select, update

from tidings.campaigns import audiences, journeys, newsletter_ab, send_times
from tidings.campaigns.audiences import Chunk
from tidings.campaigns.broadcasts import JOB_KIND
from tidings.db.schema import broadcast_trigger_errors, broadcast_triggers, people
from tidings.fetch import Allowlist, FetchFailed, FetchRefused, open_url
from tidings.jobs.queue import Claimed
from tidings.jobs.runner import JobContext, LeaseLost, Permanent

__all__ = ["JOB_KIND", "FanoutJob", "apply_chunk"]

log = logging.getLogger("tidings.campaigns")

MAX_FILE = 10 * 1024**3  # bytes (BEHAVIOUR.md 2.9)
FILE_TIMEOUT = 3600.0  # seconds for connecting, each read, and the whole download

_decode = msgspec.json.decode


class FanoutJob:
    """The handler registered for `broadcasts.JOB_KIND`."""

    def __init__(self, allow: Allowlist, timeout: float = FILE_TIMEOUT) -> None:
        self._allow = allow
        self._timeout = timeout

    def run(self, ctx: JobContext, job: Claimed) -> None:
        trigger_id = _trigger_id(job)
        row = ctx.read(_load, trigger_id)
        if row is None or row.state in ("done", "failed"):
            return
        audience = _decode(row.audience)
        if row.state == "queued":
            errors = self._validate(ctx, row.workspace_id, audience)
            if errors:
                ctx.write(fail, trigger_id, _missing(len(errors)), errors, ctx.now())
                return
            ctx.write(begin, trigger_id)
        if audience["form"] == "data_file_url":
            if not self._walk_file(ctx, trigger_id, row.workspace_id, audience, row.position):
                return
        elif audience["form"] in ("ids", "emails", "per_user_data"):
            self._walk_list(ctx, trigger_id, row.workspace_id, audience, row.position)
        elif audience["form"] == "held_back":
            self._walk_held(ctx, trigger_id, audience["newsletter_id"], row.position)
        else:
            self._walk_filter(ctx, trigger_id, row.workspace_id, audience, row.position)
        ctx.write(finish, trigger_id, ctx.now())

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        trigger_id = job.payload.get("trigger_id")
        if isinstance(trigger_id, int):
            fail(conn, trigger_id, error, [error], now)

    # -- validation --

    def _validate(self, ctx: JobContext, workspace_id: int, audience: dict[str, Any]) -> list[str]:
        """Every name of a list audience nobody has (unless ignored), read in chunks."""
        form = audience["form"]
        if form not in ("ids", "emails", "per_user_data"):
            return []
        ignore = audiences.ignored(audience)
        if all(ignore.values()):
            return []
        errors: list[str] = []
        for start in range(0, len(audience[form]), audiences.CHUNK):
            named = audiences.named_entries(audience, start, start + audiences.CHUNK)
            _, missing = ctx.read(audiences.resolve, workspace_id, named, ignore)
            errors.extend(missing)
            ctx.heartbeat()
        return errors

    # -- the walks --

    def _walk_filter(
        self, ctx: JobContext, trigger_id: int, workspace_id: int, audience: dict[str, Any], at: int
    ) -> None:
        condition = audience["recipients"]
        while pks := ctx.read(audiences.people_after, workspace_id, condition, at, ctx.now()):
            at = _apply(ctx, trigger_id, at, Chunk(pks[-1], [(pk, None) for pk in pks]))

    def _walk_held(self, ctx: JobContext, trigger_id: int, newsletter_id: int, at: int) -> None:
        """The people an A/B test held back (`newsletter_ab.py`), by key."""
        while pks := ctx.read(newsletter_ab.held_after, newsletter_id, at, audiences.CHUNK):
            at = _apply(ctx, trigger_id, at, Chunk(pks[-1], [(pk, None) for pk in pks]))

    def _walk_list(
        self, ctx: JobContext, trigger_id: int, workspace_id: int, audience: dict[str, Any], at: int
    ) -> None:
        ignore = audiences.ignored(audience)
        total = len(audience[audience["form"]])
        while at < total:
            named = audiences.named_entries(audience, at, at + audiences.CHUNK)
            starts, errors = ctx.read(audiences.resolve, workspace_id, named, ignore)
            at = _apply(ctx, trigger_id, at, Chunk(at + len(named), starts, errors))

    def _walk_file(
        self, ctx: JobContext, trigger_id: int, workspace_id: int, audience: dict[str, Any], at: int
    ) -> bool:
        """Stream the file from its start, skipping the lines done; False when the
        download failed for good (the trigger is failed with the reason)."""
        ignore = audiences.ignored(audience)
        url = audience["data_file_url"]
        try:
            with open_url(url, allow=self._allow, max_bytes=MAX_FILE, timeout=self._timeout) as got:
                for last, named, line_errors in audiences.file_chunks(got.iter_bytes(), at):
                    starts, errors = ctx.read(audiences.resolve, workspace_id, named, ignore)
                    chunk = Chunk(last, starts, sorted([*line_errors, *errors], key=_line_number))
                    at = _apply(ctx, trigger_id, at, chunk)
        except FetchRefused as exc:
            return self._download_failed(ctx, trigger_id, str(exc))
        except FetchFailed as exc:
            if not exc.permanent:
                raise
            return self._download_failed(ctx, trigger_id, str(exc))
        return True

    def _download_failed(self, ctx: JobContext, trigger_id: int, reason: str) -> bool:
        message = f"failed to download data file: {reason}"
        ctx.write(fail, trigger_id, message, [message], ctx.now())
        return False


def _apply(ctx: JobContext, trigger_id: int, at: int, chunk: Chunk) -> int:
    if not ctx.write(apply_chunk, trigger_id, at, chunk, ctx.now()):
        raise LeaseLost(f"broadcast trigger {trigger_id} moved past {at} meanwhile")
    ctx.heartbeat()
    return chunk.position


def _line_number(error: str) -> int:
    return int(error.split(":", 1)[0].removeprefix("line "))


def _missing(count: int) -> str:
    return f"{count} of the people named were not found; nobody was sent the broadcast"


def _trigger_id(job: Claimed) -> int:
    trigger_id = job.payload.get("trigger_id")
    if not isinstance(trigger_id, int):
        raise Permanent(f"{JOB_KIND} job {job.id} has no trigger_id")
    return trigger_id


# --- reads and writes (use cases of their own transactions) ----------------------------------

_T = broadcast_triggers.c


def _load(conn: Connection, trigger_id: int) -> Any:
    columns = (_T.workspace_id, _T.state, _T.audience, _T.position)
    return conn.execute(select(*columns).where(_T.id == trigger_id)).first()


def begin(conn: Connection, trigger_id: int) -> None:
    """Validated: the fan-out starts (a no-op when it had started already)."""
    conn.execute(
        update(broadcast_triggers)
        .where(_T.id == trigger_id, _T.state == "queued")
        .values(state="running")
    )


def apply_chunk(conn: Connection, trigger_id: int, at: int, chunk: Chunk, now: int) -> bool:
    """Start the chunk's journeys, record its errors and move `position` from `at` to
    the chunk's; False (nothing written) when `position` is no longer `at`."""
    query = select(
        _T.workspace_id,
        _T.campaign_id,
        _T.audience,
        _T.data,
        _T.recipients_count,
        _T.errors_count,
    )
    row = conn.execute(
        query.where(_T.id == trigger_id, _T.state == "running", _T.position == at).with_for_update()
    ).first()
    if row is None:
        return False
    started = _start_journeys(conn, row, trigger_id, chunk, now)
    _add_errors(conn, trigger_id, row.errors_count, chunk.errors)
    conn.execute(
        update(broadcast_triggers)
        .where(_T.id == trigger_id)
        .values(
            position=chunk.position,
            recipients_count=row.recipients_count + started,
            errors_count=row.errors_count + len(chunk.errors),
        )
    )
    return True


def _start_journeys(conn: Connection, row: Any, trigger_id: int, chunk: Chunk, now: int) -> int:
    """How many of the chunk's people (still there) were started; a person named twice
    (or again after a crash) starts once."""
    pks = [pk for pk, _ in chunk.people]
    alive = (
        set(
            conn.execute(
                select(people.c.id).where(
                    people.c.workspace_id == row.workspace_id, people.c.id.in_(pks)
                )
            ).scalars()
        )
        if pks
        else set()
    )
    data = _decode(row.data)
    audience = _decode(row.audience)
    at_local = audience.get("at_local")
    due = send_times.due_times(conn, at_local, row.workspace_id, pks) if at_local else {}
    sample = audience.get("sample")
    key = f"t{trigger_id}"
    started = 0
    held: list[int] = []
    for pk, own in chunk.people:
        if pk not in alive:
            continue  # deleted since the chunk was read
        if sample and not newsletter_ab.in_sample(sample["newsletter_id"], pk, sample["percent"]):
            held.append(pk)
            continue
        context: dict[str, Any] = {"trigger": {**data, **own} if own else data}
        if audience.get("test_group") is not None:
            context["test_group"] = audience["test_group"]
        if journeys.start(
            conn,
            row.workspace_id,
            row.campaign_id,
            pk,
            key,
            now,
            context=context,
            trigger_id=trigger_id,
            due_at=due.get(pk),
        ):
            started += 1
    if sample:
        newsletter_ab.hold_back(conn, sample["newsletter_id"], held, now)
    return started


def _add_errors(conn: Connection, trigger_id: int, before: int, errors: list[str]) -> None:
    if errors:
        conn.execute(
            insert(broadcast_trigger_errors),
            [
                {"trigger_id": trigger_id, "seq": before + n + 1, "message": text}
                for n, text in enumerate(errors)
            ],
        )


def finish(conn: Connection, trigger_id: int, now: int) -> None:
    conn.execute(
        update(broadcast_triggers)
        .where(_T.id == trigger_id, _T.state == "running")
        .values(state="done", processed_at=now)
    )


def fail(conn: Connection, trigger_id: int, reason: str, errors: list[str], now: int) -> None:
    """The trigger failed for `reason`; `errors` are added to those it has (unless it
    ended already)."""
    row = conn.execute(
        select(_T.errors_count).where(_T.id == trigger_id, _T.state.in_(("queued", "running")))
    ).first()
    if row is None:
        return
    _add_errors(conn, trigger_id, row.errors_count, errors)
    conn.execute(
        update(broadcast_triggers)
        .where(_T.id == trigger_id)
        .values(
            state="failed",
            error=reason,
            errors_count=row.errors_count + len(errors),
            processed_at=now,
        )
    )
