"""A newsletter's A/B test with a sample and a winner (a Tidings extension).

Customer.io tests a newsletter's variations on a sample of its audience and
may send the winner, picked by a metric after a test period, to the rest
(CAMPAIGNS.md 5.2); its API has no field for it. Here a newsletter's
definition may hold `ab_test`:

    {"sample_percent": 1..100, "winner_metric": "opened" | "clicked" | "converted",
     "test_period_hours": 1..720, "send_winner": bool}

When the newsletter is sent, the fan-out (`fanout.py`) starts a journey for
each person in the sample (`in_sample`: a stable hash of the newsletter and
the person, so about `sample_percent` of the audience, the same people if a
chunk is applied again) and records everyone else in `newsletter_holdbacks`
in the same chunk transaction; the people sampled are split among the test
groups as every newsletter's are (`newsletter_contents.choose`). The send
stores `ab_result: {"state": "testing", "ends_at"}` on the newsletter and
enqueues a `JOB_KIND` job due at `ends_at`.

That job (`decide`) picks the winner in one transaction: each group's rate
is the deliveries that reached `winner_metric` over those `sent`, read from
the tables the reports read (`metrics.totals_of`); the highest rate wins,
and a tie, or no group with a message sent, goes to the group whose default
content has the lowest id. It stores `ab_result: {"state": "decided",
"winner", ...}` and, with `send_winner`, a second trigger of the newsletter
whose audience is the held-back people (`{"form": "held_back"}`, walked by
the fan-out in checkpointed chunks like any audience; each journey carries
the winner's `test_group`). A crash before that commit runs the job again;
after it, the result says `decided` and a second run does nothing, and the
fan-out's own checkpoints start each held-back person once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, func, insert, select

from tidings.campaigns import broadcasts, metrics, store
from tidings.campaigns import newsletter_contents as contents
from tidings.campaigns import newsletter_requests as asks
from tidings.db.schema import broadcast_triggers, campaigns, newsletter_holdbacks
from tidings.jobs.queue import Claimed, enqueue
from tidings.jobs.runner import JobContext, Permanent

JOB_KIND = "newsletter_ab_winner"
METRICS = asks.AB_METRICS
_H = newsletter_holdbacks.c


# --- the sample ------------------------------------------------------------------------


def in_sample(newsletter_id: int, person_pk: int, percent: int) -> bool:
    """Whether the person is in the newsletter's sample: a stable hash (seeded by the
    newsletter) under `percent` of 100."""
    digest = hashlib.sha256(f"newsletter-sample:{newsletter_id}:{person_pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def sample_of(newsletter_id: int, definition: dict[str, Any]) -> dict[str, Any] | None:
    """What the send's fan-out audience carries to sample (None without a test)."""
    test = definition.get("ab_test")
    if not test:
        return None
    return {"newsletter_id": newsletter_id, "percent": test["sample_percent"]}


def begin(
    conn: Connection, workspace_id: int, newsletter_id: int, definition: dict[str, Any], now: int
) -> dict[str, Any]:
    """At the send: the definition with `ab_result` testing, and the winner's job due at
    the end of the test period (in the send's transaction)."""
    test = definition.get("ab_test")
    if not test:
        return definition
    ends_at = now + test["test_period_hours"] * 3600
    enqueue(conn, workspace_id, JOB_KIND, {"newsletter_id": newsletter_id}, now, run_at=ends_at)
    return {**definition, "ab_result": {"state": "testing", "ends_at": ends_at}}


def hold_back(conn: Connection, newsletter_id: int, pks: list[int], now: int) -> None:
    """Record people left out of the sample (each once: a chunk applies once)."""
    if pks:
        rows = [{"newsletter_id": newsletter_id, "person_id": pk, "held_at": now} for pk in pks]
        conn.execute(insert(newsletter_holdbacks), rows)


def held_after(conn: Connection, newsletter_id: int, after: int, limit: int) -> list[int]:
    """The next `limit` held-back people (key > `after`), by key."""
    query = select(_H.person_id).where(_H.newsletter_id == newsletter_id, _H.person_id > after)
    return list(conn.execute(query.order_by(_H.person_id).limit(limit)).scalars())


# --- the winner --------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    """One variation's numbers: messages sent and those that reached the metric."""

    group: int
    content_id: int  # its default content's
    content_ids: tuple[int, ...]
    sent: int
    reached: int

    @property
    def rate(self) -> float | None:
        return self.reached / self.sent if self.sent else None


def results(
    conn: Connection, workspace_id: int, newsletter_id: int, metric: str
) -> list[GroupResult]:
    """Each test group's numbers for `metric`, from the deliveries' metrics."""
    return [
        GroupResult(group, default, ids, totals["sent"], totals[metric])
        for group, default, ids, totals in _group_totals(conn, workspace_id, newsletter_id)
    ]


def _group_totals(
    conn: Connection, workspace_id: int, newsletter_id: int
) -> list[tuple[int, int, tuple[int, ...], dict[str, int]]]:
    """Per test group: its default content's id, its content ids and their totals."""
    rows = contents.rows_of(conn, contents.message_action(conn, newsletter_id).id)
    found = []
    for group in contents.groups_of(rows):
        ids = tuple(row.id for row in rows if row.test_group == group)
        default = next(row.id for row in rows if row.test_group == group and row.language == "")
        totals = metrics.totals_of(conn, workspace_id, newsletter_id, list(ids))
        found.append((group, default, ids, totals))
    return found


def winner(found: list[GroupResult]) -> GroupResult:
    """The highest rate; a tie, or no data, goes to the lowest content id."""
    return min(found, key=lambda g: (-(g.rate if g.rate is not None else -1.0), g.content_id))


def decide(conn: Connection, newsletter_id: int, now: int) -> bool:
    """Pick the winner of a test whose period is over and, with `send_winner`, store
    its send to the held-back people; whether it did (False when decided already)."""
    row = conn.execute(
        select(campaigns).where(campaigns.c.id == newsletter_id).with_for_update()
    ).first()
    if row is None:
        return False
    definition = store.definition_of(row)
    test, result = definition.get("ab_test"), definition.get("ab_result") or {}
    if not test or result.get("state") != "testing" or now < result["ends_at"]:
        return False
    best = winner(results(conn, row.workspace_id, newsletter_id, test["winner_metric"]))
    trigger_id = None
    if test["send_winner"]:
        audience = {"form": "held_back", "newsletter_id": newsletter_id, "test_group": best.group}
        trigger_id = broadcasts.fan_out(conn, row.workspace_id, newsletter_id, audience, {}, now)
    definition["ab_result"] = {
        **result,
        "state": "decided",
        "decided_at": now,
        "winner": best.group,
        "winner_content_id": best.content_id,
        "winner_trigger_id": trigger_id,
    }
    store.update_row(conn, newsletter_id, now, definition=_text(definition))
    return True


def _text(definition: dict[str, Any]) -> str:
    return msgspec.json.encode(definition).decode()


class WinnerJob:
    """The handler registered for `JOB_KIND`: payload `{"newsletter_id"}`."""

    def run(self, ctx: JobContext, job: Claimed) -> None:
        newsletter_id = job.payload.get("newsletter_id")
        if not isinstance(newsletter_id, int):
            raise Permanent(f"{JOB_KIND} job {job.id} has no newsletter_id")
        ctx.write(decide, newsletter_id, ctx.now())

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        return None


# --- views -------------------------------------------------------------------------------


def shown(conn: Connection, row: Any, definition: dict[str, Any]) -> dict[str, Any] | None:
    """The newsletter's `ab_test` as shown: the settings, `state` (`draft` until sent,
    `testing`, `decided`), `test_ends_at`, the winner (`winner_test_group_id`,
    `winner_content_id`), `held_back` (people) and the winner's send (`winner_send`:
    its trigger's `state` and `recipients_count`, null without `send_winner`)."""
    test = definition.get("ab_test")
    if not test:
        return None
    result = definition.get("ab_result") or {}
    held = conn.execute(
        select(func.count()).select_from(newsletter_holdbacks).where(_H.newsletter_id == row.id)
    ).scalar()
    return {
        **test,
        "state": result.get("state", "draft"),
        "test_ends_at": result.get("ends_at"),
        "winner_test_group_id": result.get("winner"),
        "winner_content_id": result.get("winner_content_id"),
        "held_back": int(held or 0),
        "winner_send": _winner_send(conn, result.get("winner_trigger_id")),
    }


def _winner_send(conn: Connection, trigger_id: int | None) -> dict[str, Any] | None:
    if trigger_id is None:
        return None
    c = broadcast_triggers.c
    found = conn.execute(
        select(c.state, c.recipients_count, c.processed_at).where(c.id == trigger_id)
    ).one()
    return {
        "state": found.state,
        "recipients_count": found.recipients_count,
        "processed_at": found.processed_at,
    }


def group_numbers(
    conn: Connection, workspace_id: int, newsletter_id: int, definition: dict[str, Any]
) -> dict[int, dict[str, Any]]:
    """Per test group: `metrics` (`sent`, each winner metric and its rate) and `winner`
    (once decided, whether that group won; null before)."""
    result = definition.get("ab_result") or {}
    decided = result.get("state") == "decided"
    numbers: dict[int, dict[str, Any]] = {}
    for group, _, _, totals in _group_totals(conn, workspace_id, newsletter_id):
        shown: dict[str, Any] = {"sent": totals["sent"]}
        for metric in METRICS:
            shown[metric] = totals[metric]
            shown[f"{metric}_rate"] = totals[metric] / totals["sent"] if totals["sent"] else None
        won = result.get("winner") == group if decided else None
        numbers[group] = {"metrics": shown, "winner": won}
    return numbers


def test_groups(conn: Connection, workspace_id: int, newsletter_id: int) -> dict[str, Any]:
    """`{"test_groups": [{id, name, content_ids, metrics, winner}]}`: none until one is
    made, then the newsletter's own content (group 0, "Variant A") and each group made,
    with its numbers (`group_numbers`)."""
    row = store.row_of(conn, workspace_id, newsletter_id, "newsletter")
    rows = contents.rows_of(conn, contents.message_action(conn, newsletter_id).id)
    groups = contents.groups_of(rows)
    if len(groups) < 2:
        return {"test_groups": []}
    numbers = group_numbers(conn, workspace_id, newsletter_id, store.definition_of(row))
    return {
        "test_groups": [
            {
                "id": group,
                "name": f"Variant {chr(65 + n)}",
                "content_ids": [found.id for found in rows if found.test_group == group],
                **numbers[group],
            }
            for n, group in enumerate(groups)
        ]
    }
